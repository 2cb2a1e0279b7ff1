"""Training metadata (``metadata.json``): reading and checking it.

The layout is the training-directory contract of docs/interfaces.md. A model
version carries the same metadata plus ``"version"`` and ``"source"`` (the
training directory it was exported from), so any reader can un-scale the
network's predictions and knows the witness channels in order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

METADATA_FILENAME = "metadata.json"

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "witness_channels": list,
    "sample_rate": (int, float),
    "strain_sample_rate": (int, float),
    "band": list,
    "filter": dict,
    "scaler": dict,
    "architecture": dict,
}


class MetadataError(ValueError):
    """A metadata.json is missing, unreadable, incomplete or does not match the configuration."""


def read_metadata(path: Path) -> dict[str, Any]:
    """Read and check the metadata file ``path``; raises :class:`MetadataError`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise MetadataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{path} is not valid JSON: {exc}") from exc
    check_metadata(metadata, path)
    return metadata


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_metadata(metadata: Any, source: Path | str) -> None:
    """Check that ``metadata`` has every key a reader needs, with usable values."""
    if not isinstance(metadata, dict):
        raise MetadataError(f"{source}: metadata must be a JSON object")
    for key, kind in _REQUIRED.items():
        if key not in metadata:
            raise MetadataError(f"{source}: missing key {key!r}")
        if not isinstance(metadata[key], kind) or isinstance(metadata[key], bool):
            raise MetadataError(f"{source}: key {key!r} has the wrong type ({type(metadata[key]).__name__})")
    channels = metadata["witness_channels"]
    if not channels or not all(isinstance(c, str) and c for c in channels):
        raise MetadataError(f"{source}: 'witness_channels' must be a non-empty list of channel names")
    for key in ("sample_rate", "strain_sample_rate"):
        if not _is_finite_number(metadata[key]) or metadata[key] <= 0:
            raise MetadataError(f"{source}: {key!r} must be a positive number, got {metadata[key]!r}")
    scaler = metadata["scaler"]
    for key in ("witness_mean", "witness_std"):
        values = scaler.get(key)
        if not isinstance(values, list) or len(values) != len(channels):
            raise MetadataError(f"{source}: 'scaler.{key}' must list one value per witness channel ({len(channels)})")
        if not all(_is_finite_number(v) for v in values):
            raise MetadataError(f"{source}: 'scaler.{key}' holds a non-finite or non-numeric value")
    if any(v <= 0 for v in scaler["witness_std"]):
        raise MetadataError(f"{source}: 'scaler.witness_std' must be positive")
    for key in ("target_mean", "target_std"):
        if not _is_finite_number(scaler.get(key)):
            raise MetadataError(f"{source}: 'scaler.{key}' must be a finite number")
    if scaler["target_std"] <= 0:
        raise MetadataError(f"{source}: 'scaler.target_std' must be positive")
    architecture = metadata["architecture"]
    if not isinstance(architecture.get("name"), str) or not isinstance(architecture.get("kwargs"), dict):
        raise MetadataError(f"{source}: 'architecture' needs a 'name' and a 'kwargs' object")


def check_matches_configuration(
    metadata: dict[str, Any], witness_channels: Sequence[str], sample_rate: float, source: Path | str
) -> None:
    """Check that ``metadata`` was trained on the configured channels (in order) and rate."""
    trained = list(metadata["witness_channels"])
    expected = list(witness_channels)
    if len(trained) != len(expected):
        raise MetadataError(
            f"{source}: trained on {len(trained)} witness channels, the configuration has {len(expected)}"
        )
    if trained != expected:
        first = next(i for i, (a, b) in enumerate(zip(trained, expected, strict=False)) if a != b)
        raise MetadataError(
            f"{source}: witness channel {first} is {trained[first]!r}, the configuration has {expected[first]!r}"
        )
    if metadata["sample_rate"] != sample_rate:
        raise MetadataError(
            f"{source}: 'sample_rate' is {metadata['sample_rate']}, the configuration has {sample_rate}"
        )
    num_witnesses = metadata["architecture"]["kwargs"].get("num_witnesses")
    if num_witnesses != len(expected):
        raise MetadataError(
            f"{source}: 'architecture.kwargs.num_witnesses' is {num_witnesses!r}, "
            f"the configuration has {len(expected)} witness channels"
        )
