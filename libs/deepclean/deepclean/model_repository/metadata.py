"""Training metadata files (``metadata.json``): reading, writing and checking them against a configuration.

The schema (its keys, types and checks) is :mod:`.training_metadata`. A model
version carries the same metadata plus ``"version"``, ``"source"`` (the training
directory it was exported from) and ``"export"``, so any reader can un-scale
the network's predictions and knows the witness channels in order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .training_metadata import MetadataError, TrainingMetadata

METADATA_FILENAME = "metadata.json"

__all__ = [
    "METADATA_FILENAME",
    "MetadataError",
    "check_matches_configuration",
    "check_metadata",
    "read_metadata",
    "read_training_metadata",
    "write_training_metadata",
]


def _load(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise MetadataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{path} is not valid JSON: {exc}") from exc


def read_metadata(path: Path) -> dict[str, Any]:
    """The JSON object of the metadata file ``path``, as read, once checked; raises :class:`MetadataError`."""
    content = _load(path)
    check_metadata(content, path)
    return content


def read_training_metadata(path: Path) -> TrainingMetadata:
    """The metadata file ``path`` as a :class:`TrainingMetadata`; raises :class:`MetadataError`."""
    return TrainingMetadata.from_json(_load(path), path)


def write_training_metadata(path: Path, metadata: TrainingMetadata) -> None:
    """Write ``metadata`` to ``path`` through a renamed temporary file (a reader never sees half of it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(metadata.to_json(), indent=2) + "\n")
    os.replace(tmp, path)


def check_metadata(metadata: Any, source: Path | str) -> TrainingMetadata:
    """Check that ``metadata`` (a parsed metadata.json) has every key a reader needs, with usable values.

    The checks are :class:`TrainingMetadata`'s; returns it.
    """
    return TrainingMetadata.from_json(metadata, source)


def check_matches_configuration(
    metadata: TrainingMetadata | Mapping[str, Any],
    witness_channels: Sequence[str],
    sample_rate: float,
    source: Path | str,
) -> None:
    """Check that ``metadata`` was trained on the configured channels (in order) and rate."""
    if not isinstance(metadata, TrainingMetadata):
        metadata = TrainingMetadata.from_json(metadata, source)
    trained = list(metadata.witness_channels)
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
    if metadata.sample_rate != sample_rate:
        raise MetadataError(f"{source}: 'sample_rate' is {metadata.sample_rate}, the configuration has {sample_rate}")
    num_witnesses = metadata.architecture.kwargs.get("num_witnesses")
    if num_witnesses != len(expected):
        raise MetadataError(
            f"{source}: 'architecture.kwargs.num_witnesses' is {num_witnesses!r}, "
            f"the configuration has {len(expected)} witness channels"
        )
