"""New versions: reserved in a temporary directory, renamed into place when complete.

A writer reserves the next version number by creating ``.staging-<version>``
under the model lock and holding a lock on that directory while it fills it.
Publishing (the rename to ``<version>``) and discarding take the model lock
too, so a reservation never lists the directory halfway through a rename
(seeing neither ``.staging-4`` nor ``4``, it would hand out 4 again). Two
writers, in threads or in processes, therefore get distinct versions. A
staging directory whose lock nobody holds belongs to a writer that crashed:
:func:`remove_abandoned` deletes it (the exporter calls it at start-up).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Self

from .locks import directory_is_abandoned, lock_directory
from .model import Model

STAGING_PREFIX = ".staging-"
PRUNED_PREFIX = ".pruned-"


class StagedVersion:
    """A reserved version being written in ``directory``; publish or discard it."""

    def __init__(self, model: Model, version: int, directory: Path, lock_fd: int) -> None:
        self.model = model
        self.version = version
        self.directory = directory
        self._lock_fd: int | None = lock_fd

    def publish(self) -> Path:
        """Sync the files and rename the directory to ``<model>/<version>``; returns it."""
        if self._lock_fd is None:
            raise RuntimeError(f"version {self.version} was already published or discarded")
        for path in self.directory.iterdir():
            if path.is_file():
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
        target = self.model.directory / str(self.version)
        with self.model.lock():
            os.rename(self.directory, target)  # fails rather than merge if target exists
        _fsync_directory(self.model.directory)
        self._release()
        return target

    def discard(self) -> None:
        """Remove the staging directory (nothing is published)."""
        if self._lock_fd is None:
            return
        with self.model.lock():
            shutil.rmtree(self.directory, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()  # a no-op once published


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _staged_versions(model: Model) -> list[int]:
    staged = []
    for entry in model.directory.iterdir():
        suffix = entry.name.removeprefix(STAGING_PREFIX)
        if entry.name.startswith(STAGING_PREFIX) and suffix.isdigit():
            staged.append(int(suffix))
    return staged


def reserve_version(model: Model) -> StagedVersion:
    """Reserve the next version number of ``model`` and its staging directory."""
    with model.lock():
        taken = model.versions() + _staged_versions(model)
        version = max(taken, default=0) + 1
        directory = model.directory / f"{STAGING_PREFIX}{version}"
        directory.mkdir()
        lock_fd = lock_directory(directory)
    return StagedVersion(model, version, directory, lock_fd)


def remove_abandoned(model: Model) -> list[Path]:
    """Delete staging and half-pruned directories left by a crashed writer; returns them."""
    if not model.directory.is_dir():
        return []
    removed = []
    with model.lock():
        for entry in sorted(model.directory.iterdir()):
            if not entry.is_dir():
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    entry.unlink(missing_ok=True)  # an atomic write that never got renamed
                    removed.append(entry)
                continue
            if entry.name.startswith(PRUNED_PREFIX) or (
                entry.name.startswith(STAGING_PREFIX) and directory_is_abandoned(entry)
            ):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed
