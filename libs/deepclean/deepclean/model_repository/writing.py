"""Changes to a model's pins and Triton configuration (the exporter's side)."""

from __future__ import annotations

from collections.abc import Callable

from .atomic import write_atomically
from .model import Model
from .pins import Pins, read_pins, write_pins


def update_pins(model: Model, change: Callable[[Pins], Pins]) -> Pins:
    """Apply ``change`` to the current pins under the model lock and store the result."""
    with model.lock():
        pins = change(read_pins(model.pins_path))
        write_pins(model.pins_path, pins)
    return pins


def write_config(model: Model, text: str) -> None:
    """Replace the model's config.pbtxt with ``text`` atomically."""
    model.directory.mkdir(parents=True, exist_ok=True)
    write_atomically(model.config_path, text)
