"""Training directories (docs/interfaces.md, "Training directory").

``<training_root>/<name>/`` holds ``weights.pt``, ``metadata.json``,
``loss.png`` and ``train.log``. It is assembled as ``<training_root>/.<name>.tmp``
and renamed, so a directory without a leading dot is complete. After the
exporter accepted it, ``exported.json`` (``{"version": <int>}``) is added; a
complete directory without it was not sent (yet).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deepclean.model_repository.training_metadata import TrainingMetadata

from .plots import plot_loss_curve

WEIGHTS = "weights.pt"
METADATA = "metadata.json"
LOSS_PLOT = "loss.png"
LOG = "train.log"
EXPORTED = "exported.json"
REQUIRED = (WEIGHTS, METADATA, LOSS_PLOT, LOG)


@dataclass(frozen=True)
class TrainingDirectory:
    """A complete training directory."""

    path: Path

    @property
    def metadata(self) -> dict:
        """``metadata.json`` as parsed JSON (what is sent on and copied into a version)."""
        with open(self.path / METADATA) as f:
            return json.load(f)

    @property
    def schema(self) -> TrainingMetadata:
        """``metadata.json`` read and checked as the typed schema (:class:`MetadataError` if it is not)."""
        return TrainingMetadata.from_json(self.metadata, self.path / METADATA)

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS

    @property
    def exported_version(self) -> int | None:
        try:
            with open(self.path / EXPORTED) as f:
                return int(json.load(f)["version"])
        except FileNotFoundError:
            return None

    def mark_exported(self, version: int) -> None:
        _write_json_atomically(self.path / EXPORTED, {"version": int(version)})


def directory_name(start: int, end: int, root: Path) -> str:
    """``<start>-<end>``, with ``-<n>`` appended when that name is taken."""
    name, n = f"{start}-{end}", 1
    while (root / name).exists() or (root / f".{name}.tmp").exists():
        n += 1
        name = f"{start}-{end}-{n}"
    return name


def temporary_path(root: Path, name: str) -> Path:
    return root / f".{name}.tmp"


def write_training_directory(
    root: Path,
    name: str,
    state_dict: dict,
    metadata: dict,
    history: list[dict],
    log_file: Path,
) -> TrainingDirectory:
    """Finish ``<root>/.<name>.tmp`` (which may already hold the log) and rename it to ``<root>/<name>``.

    ``log_file`` is copied in unless it already lives in the temporary directory.
    """
    tmp = temporary_path(root, name)
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        torch.save(state_dict, tmp / WEIGHTS)
        _write_json_atomically(tmp / METADATA, metadata)
        plot_loss_curve(history, tmp / LOSS_PLOT, title=f"DeepClean training {name}")
        if log_file.resolve() != (tmp / LOG).resolve():
            shutil.copyfile(log_file, tmp / LOG)
        for required in REQUIRED:
            if not (tmp / required).is_file():
                raise RuntimeError(f"training directory {tmp} lacks {required}")
        os.replace(tmp, root / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return TrainingDirectory(root / name)


def complete_directories(root: Path) -> list[TrainingDirectory]:
    """Every complete training directory under ``root``, oldest data span first."""
    found = []
    if not root.is_dir():
        return found
    for entry in root.iterdir():
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        if all((entry / required).is_file() for required in REQUIRED):
            try:
                metadata = TrainingDirectory(entry).schema
            except (OSError, ValueError):  # MetadataError is a ValueError, as is bad JSON
                continue
            if metadata.span is None:
                continue
            key = (metadata.span.end, metadata.created or "", entry.name)
            found.append((key, TrainingDirectory(entry)))
    return [directory for _, directory in sorted(found, key=lambda item: item[0])]


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Delete ``.<name>.tmp`` directories left by a crash; return what was removed."""
    removed = []
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def _write_json_atomically(path: Path, content: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(content, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def load_network(directory: TrainingDirectory):
    """The trained network (eval mode) and its scaler, rebuilt from the metadata as the exporter does."""
    from deepclean.architecture import DeepClean

    from .preprocessing import Scaler

    metadata = directory.schema
    network = DeepClean(**metadata.architecture.kwargs)
    network.load_state_dict(torch.load(directory.weights, map_location="cpu", weights_only=True))
    network.eval()
    scaler = metadata.scaler
    return network, Scaler(
        witness_mean=np.asarray(scaler.witness_mean),
        witness_std=np.asarray(scaler.witness_std),
        target_mean=float(scaler.target_mean),
        target_std=float(scaler.target_std),
    )
