"""Which cleaned second to read next, and which ones never came.

The cleaned frames are taken in GPS order. When the next second is absent
while a later one exists, the monitor waits ``frame_timeout`` seconds (wall
clock) for it before counting it missing and moving on; a frame that exists
but cannot be parsed yet (a writer not done) is retried the same way. With a
timeout of 0 nothing is waited for (a pass over frames already on disk).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deepclean.frames import FrameName, list_frames


@dataclass
class CleanedFrameStream:
    """The cleaned frames of one stream in ``directory``, taken in order from ``next_gps``."""

    directory: Path
    site: str
    ifo: str
    tag: str
    frame_timeout: float
    next_gps: int | None = None
    clock: Callable[[], float] = time.monotonic
    _waiting_since: float | None = field(default=None, repr=False)
    _listed: list[FrameName] = field(default_factory=list, repr=False)

    def available(self) -> list[FrameName]:
        """Frames on disk at or after ``next_gps``.

        The directory is listed again only when the last listing holds no frame
        at or after ``next_gps``, so reading a backlog does not list it once per frame.
        """
        if self.next_gps is not None:
            self._listed = [f for f in self._listed if f.gps >= self.next_gps]
        if not self._listed or self._listed[0].gps != self.next_gps:
            self._listed = list_frames(self.directory, self.site, self.ifo, self.tag)
            if self.next_gps is not None:
                self._listed = [f for f in self._listed if f.gps >= self.next_gps]
        return list(self._listed)

    def start_at(self, gps: int) -> None:
        self.next_gps = gps
        self._waiting_since = None

    def next_frame(self) -> tuple[FrameName | None, list[int]]:
        """The frame to read now (or None) and the seconds given up as missing before it."""
        frames = self.available()
        if not frames:
            return None, []
        if self.next_gps is None:
            self.next_gps = frames[0].gps
        if frames[0].gps == self.next_gps:
            self._waiting_since = None
            return frames[0], []
        if not self._waited_out():
            return None, []
        missing = list(range(self.next_gps, frames[0].gps))
        self.next_gps = frames[0].gps
        self._waiting_since = None
        return frames[0], missing

    def retry_later(self) -> bool:
        """The next frame could not be read: True once it has been waited for long enough."""
        return self._waited_out()

    def done(self, gps: int) -> None:
        """``gps`` has been handled (read, or given up)."""
        self.next_gps = gps + 1
        self._waiting_since = None

    def path(self, name: FrameName) -> Path:
        return name.path(self.directory)

    def _waited_out(self) -> bool:
        now = self.clock()
        if self._waiting_since is None:
            self._waiting_since = now
        return now - self._waiting_since >= self.frame_timeout
