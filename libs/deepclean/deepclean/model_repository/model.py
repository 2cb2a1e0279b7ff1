"""One model in the repository: its versions, their metadata and its pins (the reading side)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .locks import exclusive_lock
from .metadata import METADATA_FILENAME, read_metadata
from .pins import PINS_FILENAME, Pins, read_pins
from .platform import Platform
from .triton_config import CONFIG_FILENAME

LOCK_FILENAME = ".lock"


class VersionNotFoundError(LookupError):
    """The requested version is not published in the repository."""


class Model:
    """The directory ``<repository>/<name>`` of one model.

    A version is published when its integer-named directory exists: it is
    renamed into place complete, so a reader never sees half a version.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"Model({str(self.directory)!r})"

    @property
    def name(self) -> str:
        """The model's name (Triton's model name)."""
        return self.directory.name

    @property
    def config_path(self) -> Path:
        """Path of config.pbtxt."""
        return self.directory / CONFIG_FILENAME

    @property
    def pins_path(self) -> Path:
        """Path of pins.json."""
        return self.directory / PINS_FILENAME

    def versions(self) -> list[int]:
        """Published versions, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            if entry.name.isdigit() and entry.name == str(int(entry.name)) and entry.is_dir():
                found.append(int(entry.name))
        return sorted(found)

    def latest(self) -> int | None:
        """The newest published version, or ``None``."""
        versions = self.versions()
        return versions[-1] if versions else None

    def version_dir(self, version: int) -> Path:
        """The directory of ``version``; raises :class:`VersionNotFoundError` if unpublished."""
        directory = self.directory / str(version)
        if not directory.is_dir():
            raise VersionNotFoundError(f"model {self.name!r} has no version {version} in {self.directory}")
        return directory

    def metadata(self, version: int) -> dict[str, Any]:
        """The metadata of ``version`` (training metadata plus ``version`` and ``source``)."""
        return read_metadata(self.version_dir(version) / METADATA_FILENAME)

    def model_file(self, version: int, platform: Platform | str = Platform.ONNX) -> Path:
        """The file of ``version`` that ``platform`` loads (the ONNX model by default)."""
        return self.version_dir(version) / Platform(platform).model_filename

    def pins(self) -> Pins:
        """The production and canary pins (nothing pinned when pins.json is absent)."""
        return read_pins(self.pins_path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise short changes (reservations, pins, config, pruning) across processes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.directory / LOCK_FILENAME):
            yield
