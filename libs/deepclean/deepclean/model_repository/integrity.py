"""Checksums of a version's files: written by the exporter, verified by every reader.

A version's ``metadata.json`` records the SHA-256 of each model file it holds
(:mod:`.export_record`)::

    "export": {"files": {"model.onnx": "<hex>", ...}, "training_sha256": "<hex>", ...}

The exporter verifies the files after writing them and before publishing; the
cleaner verifies them before loading a version, so a model file damaged on disk
is refused by name instead of being served. ``training_sha256`` identifies the
training run a version came from (its weights and metadata), which makes an
export of the same run twice return the existing version.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .export_record import recorded_files

_CHUNK = 1 << 20
_CACHED_FILES = 4096


class IntegrityError(ValueError):
    """A version's files do not match the checksums in its metadata."""


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of the file ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(directory: Path, names: Iterable[str]) -> dict[str, str]:
    """SHA-256 of each file ``names`` in ``directory``, by name."""
    return {name: sha256_of(directory / name) for name in sorted(names)}


def training_digest(files: Iterable[Path]) -> str:
    """One SHA-256 over the names and contents of a training run's files (in the given order)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        digest.update(sha256_of(path).encode())
    return digest.hexdigest()


def recorded_digests(metadata: Mapping[str, Any]) -> dict[str, str] | None:
    """The file checksums a version's metadata records, or ``None`` (a version exported before them)."""
    return recorded_files(metadata)


class DigestCache:
    """:func:`sha256_of`, remembered while a file keeps its identity.

    The identity is the file's device, inode, size, modification and change times: any write
    to the file, or a file put in its place, changes it (the change time cannot be set back),
    so a remembered digest is never that of other contents. For readers that check the same
    files again and again (a health probe, a version listing); a reader about to load a model
    hashes the file itself.
    """

    def __init__(self) -> None:
        self._digests: dict[str, tuple[tuple[int, ...], str]] = {}
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> str:
        """The hex SHA-256 of ``path`` (raises ``OSError`` as :func:`sha256_of`)."""
        status = os.stat(path)
        identity = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        key = os.fspath(path)
        with self._lock:
            known = self._digests.get(key)
        if known is not None and known[0] == identity:
            return known[1]
        digest = sha256_of(path)
        with self._lock:
            if len(self._digests) >= _CACHED_FILES:  # versions come and go: forget the lot now and then
                self._digests.clear()
            self._digests[key] = (identity, digest)
        return digest


def verify_files(directory: Path, metadata: Mapping[str, Any], digest_of: Callable[[Path], str] = sha256_of) -> None:
    """Check every file recorded in ``metadata`` against its checksum; raises :class:`IntegrityError`.

    A version without recorded checksums passes (nothing to compare with). ``digest_of``
    hashes one file (a :class:`DigestCache` for repeated checks).
    """
    recorded = recorded_digests(metadata)
    if recorded is None:
        return
    for name, expected in sorted(recorded.items()):
        path = directory / name
        try:
            actual = digest_of(path)
        except OSError as exc:
            raise IntegrityError(
                f"{name} of version {metadata.get('version')} cannot be read: {exc.strerror or exc}"
            ) from exc
        if actual != expected:
            raise IntegrityError(
                f"{name} of version {metadata.get('version')} is damaged: SHA-256 {actual[:12]}…, "
                f"the metadata records {expected[:12]}…"
            )
