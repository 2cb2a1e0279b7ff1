"""Changes to a model's pins and Triton configuration (the exporter's side)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from .atomic import write_atomically
from .model import Model
from .pins import Pins, PinsError, read_pins, write_pins

LAST_GOOD_SUFFIX = ".last-good"
"""``pins.json.last-good``: a copy of the last pins written, from which a damaged pins.json is restored."""
DAMAGED_SUFFIX = ".damaged"

log = logging.getLogger(__name__)


def _last_good_path(model: Model) -> Path:
    return model.pins_path.with_name(model.pins_path.name + LAST_GOOD_SUFFIX)


def _store(model: Model, pins: Pins) -> None:
    write_pins(model.pins_path, pins)  # the commit point: once it is replaced, the change has happened
    try:
        write_pins(_last_good_path(model), pins)
    except OSError as exc:  # only the repair copy is stale: the change stands and must be reported as made
        log.error("pins changed, but their repair copy %s could not be updated: %s", _last_good_path(model), exc)


def last_good_is_stale(model: Model) -> bool:
    """Whether the repair copy differs from a readable pins.json (its last update failed)."""
    try:
        return read_pins(_last_good_path(model)) != read_pins(model.pins_path)
    except PinsError:
        return True


def update_pins(model: Model, change: Callable[[Pins], Pins]) -> Pins:
    """Apply ``change`` to the current pins under the model lock and store the result.

    ``change`` runs under the lock, so a check it makes (that a version exists)
    holds against pruning, which takes the same lock.
    """
    with model.lock():
        pins = change(read_pins(model.pins_path))
        _store(model, pins)
    return pins


def repair_pins(model: Model) -> str | None:
    """Make pins.json readable again if it is damaged; returns what was done (``None``: nothing to do).

    The damaged file is kept beside it (``pins.json.damaged``). The pins are
    restored from the copy of the last pins written; without one they are
    rebuilt from the versions on disk with no production model (which version
    was production cannot be known) and the newest version as the canary.
    """
    with model.lock():
        try:
            read_pins(model.pins_path)
            return None
        except PinsError as exc:
            damage = str(exc)
        os.replace(model.pins_path, model.pins_path.with_name(model.pins_path.name + DAMAGED_SUFFIX))
        try:
            pins = read_pins(_last_good_path(model))
            how = "restored from the last pins written"
        except PinsError:
            pins = Pins()
        if pins == Pins():
            latest = model.latest()
            pins = Pins(canary=latest, offered=latest)
            how = f"rebuilt from the versions on disk: no production model, canary {latest}"
        write_pins(model.pins_path, pins)
        write_pins(_last_good_path(model), pins)
    return f"{damage}; {how}"


def write_config(model: Model, text: str) -> None:
    """Replace the model's config.pbtxt with ``text`` atomically."""
    model.directory.mkdir(parents=True, exist_ok=True)
    write_atomically(model.config_path, text)
