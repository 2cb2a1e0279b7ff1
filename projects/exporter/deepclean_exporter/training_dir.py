"""A training directory, located safely under the training root and checked before use."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from deepclean.model_repository import (
    METADATA_FILENAME,
    MetadataError,
    check_matches_configuration,
    read_training_metadata,
    training_digest,
)

from .errors import BadRequest, NotFound, Rejected

WEIGHTS_FILENAME = "weights.pt"
ARCHITECTURES = ("DeepClean",)


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """A checked training directory: its resolved path, metadata and weights.

    ``metadata`` is the JSON object of its checked
    :class:`~deepclean.model_repository.TrainingMetadata`, keys the schema does
    not know (``"training"``) included: what the version's metadata starts from.
    """

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
        is_dir = resolved.is_dir()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops, names too long
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise BadRequest(f"training_dir {_shown(requested)} is not a usable path: {reason}") from None
    if resolved == root or not resolved.is_relative_to(root):
        raise BadRequest(f"training_dir {_shown(requested)} is not inside the training root")
    if not is_dir:
        raise NotFound(f"training_dir {_shown(requested)} does not exist")
    relative = resolved.relative_to(root)
    if any(part.startswith(".") for part in relative.parts):
        raise Rejected(f"training_dir {requested!r} is hidden or still being written (leading dot)")
    return resolved


def _shown(requested: str, limit: int = 200) -> str:
    """``requested`` quoted for an error message, shortened so an abusive request is not echoed whole."""
    return repr(requested if len(requested) <= limit else requested[:limit] + "…")


def training_files(directory: Path) -> tuple[Path, Path]:
    """The metadata and weights files of ``directory``; raises :class:`Rejected` for a link leading out of it.

    The directory itself was located under the training root; a file linked
    from elsewhere would export something nobody put under the root.
    """
    files = (directory / METADATA_FILENAME, directory / WEIGHTS_FILENAME)
    for path in files:
        if not path.resolve().is_relative_to(directory.resolve()):
            raise Rejected(f"{path.name} in {directory.name!r} is a link to a file outside the training directory")
    return files


def training_digest_of(directory: Path) -> str:
    """The identity of a training run: one SHA-256 over its metadata and weights."""
    files = training_files(directory)
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise Rejected(f"{directory.name!r} is incomplete: {' and '.join(missing)} is missing")
    return training_digest(files)


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
    metadata_path, weights_path = training_files(directory)
    try:
        metadata = read_training_metadata(metadata_path)
        check_matches_configuration(metadata, witness_channels, sample_rate, metadata_path)
    except MetadataError as exc:
        raise Rejected(str(exc)) from exc
    name = metadata.architecture.name
    if name not in ARCHITECTURES:
        raise Rejected(f"{directory / METADATA_FILENAME}: unknown architecture {name!r} (known: {ARCHITECTURES})")
    state_dict = _load_weights(weights_path)
    return TrainingRun(directory=directory, metadata=metadata.to_json(), state_dict=state_dict)
