"""Model versions in a repository as the exporter leaves them, and their pins (docs/interfaces.md).

For tests and benchmarks that need a repository without running the exporter::

    model_dir = root / "deepclean"
    for version in (1, 2):
        publish_version(model_dir, version, metadata, lambda staged: write_random_network(staged, 4, seed=version))
    pin_versions(model_dir, production=1, canary=2)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..model_repository import (
    INPUT_NAME,
    METADATA_FILENAME,
    ONNX_FILENAME,
    OUTPUT_NAME,
    PINS_FILENAME,
    SOURCE_KEY,
    VERSION_KEY,
    Pins,
    write_pins,
)
from ..model_repository.staging import STAGING_PREFIX


def write_random_network(directory: Path, num_witnesses: int, seed: int, **architecture: Any) -> Path:
    """``directory/model.onnx``: a :class:`DeepClean` with random weights (torch seeded with ``seed``).

    ``architecture`` holds the other keyword arguments of the network. The
    batch and time axes are dynamic, as the exporter makes them.
    """
    import torch

    from ..architecture import DeepClean

    torch.manual_seed(seed)
    network = DeepClean(num_witnesses, **architecture).eval()
    path = directory / ONNX_FILENAME
    torch.onnx.export(
        network,
        (torch.randn(1, num_witnesses, 1024),),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch", 2: "time"}, OUTPUT_NAME: {0: "batch", 1: "time"}},
        dynamo=False,
    )
    return path


def publish_version(
    model_dir: Path,
    version: int,
    metadata: dict[str, Any],
    write_files: Callable[[Path], object],
    source: str = "test",
) -> Path:
    """Publish ``<model_dir>/<version>``: staged beside it and renamed into place complete.

    Parameters
    ----------
    model_dir
        The model's directory (created if missing).
    version
        The version number; it must not be published yet.
    metadata
        The training metadata; ``version`` and ``source`` are added as the exporter adds them.
    write_files
        Called with the staging directory to write the model files into it.
    source
        The training directory the version claims to come from.

    Returns
    -------
    Path
        The published version directory.
    """
    staging = model_dir / f"{STAGING_PREFIX}{version}"
    staging.mkdir(parents=True)
    write_files(staging)
    (staging / METADATA_FILENAME).write_text(json.dumps({**metadata, VERSION_KEY: version, SOURCE_KEY: source}))
    return staging.rename(model_dir / str(version))


def pin_versions(model_dir: Path, production: int | None, canary: int | None) -> Pins:
    """Replace the model's pins atomically; the history holds the production version only."""
    pins = Pins(production=production, canary=canary, history=(production,) if production else ())
    write_pins(model_dir / PINS_FILENAME, pins)
    return pins
