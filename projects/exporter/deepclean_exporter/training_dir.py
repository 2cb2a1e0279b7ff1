"""A training directory, located safely under the training root and checked before use."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from deepclean.model_repository import METADATA_FILENAME, MetadataError, check_matches_configuration, read_metadata

from .errors import BadRequest, NotFound, Rejected

WEIGHTS_FILENAME = "weights.pt"
ARCHITECTURES = ("DeepClean",)


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """A checked training directory: its resolved path, metadata and weights."""

    directory: Path
    metadata: dict[str, Any]
    state_dict: dict[str, torch.Tensor]


def locate(training_root: Path, requested: str) -> Path:
    """The real path of ``requested`` (absolute, or relative to the root) if it lies under the root.

    Symbolic links are resolved first, so neither ``..`` nor a link can lead
    outside ``training_root``.
    """
    root = training_root.resolve()
    candidate = Path(requested)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops
        raise BadRequest(f"training_dir {requested!r} is not a usable path: {exc}") from exc
    if resolved == root or not resolved.is_relative_to(root):
        raise BadRequest(f"training_dir {requested!r} is not inside the training root {root}")
    if not resolved.is_dir():
        raise NotFound(f"training_dir {requested!r} does not exist")
    relative = resolved.relative_to(root)
    if any(part.startswith(".") for part in relative.parts):
        raise Rejected(f"training_dir {requested!r} is hidden or still being written (leading dot)")
    return resolved


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise Rejected(f"{path} is missing")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise Rejected(f"{path} is not a readable torch state_dict: {exc}") from exc
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise Rejected(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise Rejected(f"{path}: weight {name!r} holds NaN or infinite values")
    return state_dict


def load_training(directory: Path, witness_channels: tuple[str, ...], sample_rate: float) -> TrainingRun:
    """Read and check the metadata and weights of ``directory``; raises :class:`Rejected`."""
    try:
        metadata = read_metadata(directory / METADATA_FILENAME)
        check_matches_configuration(metadata, witness_channels, sample_rate, directory / METADATA_FILENAME)
    except MetadataError as exc:
        raise Rejected(str(exc)) from exc
    name = metadata["architecture"]["name"]
    if name not in ARCHITECTURES:
        raise Rejected(f"{directory / METADATA_FILENAME}: unknown architecture {name!r} (known: {ARCHITECTURES})")
    state_dict = _load_weights(directory / WEIGHTS_FILENAME)
    return TrainingRun(directory=directory, metadata=metadata, state_dict=state_dict)
