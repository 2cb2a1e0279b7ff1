"""File names of GWF frames: ``<site>-<ifo>_<tag>-<gps>-<duration>.gwf``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_PATTERN = re.compile(
    r"^(?P<site>[A-Z]+)-(?P<ifo>[A-Z][0-9])_(?P<tag>[A-Za-z0-9_]+)-(?P<gps>[0-9]+)-(?P<duration>[0-9]+)\.gwf$"
)


class _NamesOfStream:
    """How the file names of one stream are spelled around their GPS: ``<site>-<ifo>_<tag>-`` GPS ``-<duration>.gwf``.

    For a class with the attributes ``site``, ``ifo``, ``tag`` and ``duration``.
    """

    site: str
    ifo: str
    tag: str
    duration: int

    @property
    def prefix(self) -> str:
        """What a name of the stream starts with, up to its GPS (``H-H1_llhoft-``)."""
        return f"{self.site}-{self.ifo}_{self.tag}-"

    @property
    def suffix(self) -> str:
        """What a name of the stream ends with after its GPS (``-1.gwf``)."""
        return f"-{self.duration}.gwf"


@dataclass(frozen=True, order=True)
class FrameName(_NamesOfStream):
    """The parts of a frame file name, e.g. ``H-H1_llhoft-1400000000-1.gwf``."""

    gps: int
    site: str
    ifo: str
    tag: str
    duration: int = 1

    @property
    def filename(self) -> str:
        return f"{self.prefix}{self.gps}{self.suffix}"

    def path(self, directory: str | Path) -> Path:
        return Path(directory) / self.filename

    @classmethod
    def parse(cls, name: str | Path) -> FrameName:
        """Parse a file name; raise ValueError if it is not a frame name."""
        match = _PATTERN.match(Path(name).name)
        if not match:
            raise ValueError(f"{Path(name).name!r} is not a frame file name <site>-<ifo>_<tag>-<gps>-<duration>.gwf")
        return cls(
            gps=int(match["gps"]),
            site=match["site"],
            ifo=match["ifo"],
            tag=match["tag"],
            duration=int(match["duration"]),
        )

    def matches(self, site: str, ifo: str, tag: str) -> bool:
        return (self.site, self.ifo, self.tag) == (site, ifo, tag)


def gps_in_name(name: str, prefix: str, suffix: str) -> tuple[int, bool] | None:
    """The GPS second in the file name of one stream, and whether the name is the canonical one.

    ``prefix`` and ``suffix`` surround the GPS (``H-H1_llhoft-`` and ``-1.gwf``); None when
    ``name`` is not a file of that stream. Only the canonical spelling (no leading zeros, so
    exactly :attr:`FrameName.filename`) is the file a reader opens: ``H-H1_llhoft-01400000000-1.gwf``
    gives GPS 1400000000 but is a second file for that second, not the frame.
    """
    if len(name) <= len(prefix) + len(suffix) or not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    text = name[len(prefix) : len(name) - len(suffix)]
    if not (text.isascii() and text.isdigit()):
        return None
    gps = int(text)
    return gps, text == str(gps)


@dataclass(frozen=True)
class StreamFiles(_NamesOfStream):
    """The files of one stream in one directory: ``<directory>/<site>-<ifo>_<tag>-<gps>-<duration>.gwf``.

    What a follower of the stream and the check of the frames it read both look at: one
    :meth:`listing` of the directory can serve both.
    """

    directory: Path
    site: str
    ifo: str
    tag: str
    duration: int = 1

    def describe(self) -> str:
        """The stream's files as a glob pattern, for messages."""
        return f"{self.directory}/{self.prefix}*{self.suffix}"

    def gps_in_name(self, name: str) -> tuple[int, bool] | None:
        """:func:`gps_in_name` for this stream's prefix and suffix."""
        return gps_in_name(name, self.prefix, self.suffix)

    def listing(self) -> list[os.DirEntry] | None:
        """Every entry of the directory, listed once (any file, of this stream or not); None if it does not exist."""
        try:
            with os.scandir(self.directory) as entries:
                return list(entries)
        except FileNotFoundError:
            return None


def list_frames(directory: str | Path, site: str, ifo: str, tag: str) -> list[FrameName]:
    """The frames of one stream in ``directory``, in GPS order (others ignored)."""
    names = []
    try:
        entries = list(Path(directory).iterdir())
    except FileNotFoundError:
        return []
    for entry in entries:
        try:
            name = FrameName.parse(entry.name)
        except ValueError:
            continue
        if name.matches(site, ifo, tag):
            names.append(name)
    return sorted(names)
