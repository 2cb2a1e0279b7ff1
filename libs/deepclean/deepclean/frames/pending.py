"""An expected frame file that may not exist yet, or may be caught mid-write.

:meth:`PendingFrameFile.poll` reads the file as soon as it exists. If it does
not parse (truncated, being written by a writer that does not rename, corrupt)
the file is read again once it has changed and then stayed unchanged for
``settle_time`` seconds; a file that fails, settled, is tried once more (in case
the failure raced with the writer) and then only after it changes again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .io import FrameData, FrameError, read_frame
from .naming import FrameName

__all__ = ["Clock", "PendingFrameFile", "Signature", "file_signature"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

Signature = tuple[int, int, int]
"""What identifies one version of a file: size, modification time (ns) and inode."""


def file_signature(stat: os.stat_result) -> Signature:
    """The :data:`Signature` of a file from its ``os.stat`` result."""
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


class PendingFrameFile:
    """An expected frame file: read when it exists, read again when a failed file settles."""

    def __init__(
        self, name: FrameName, directory: Path, channels: Sequence[str] | None, settle_time: float, clock: Clock
    ):
        self.name = name
        self.path = name.path(directory)
        self.channels = list(channels) if channels is not None else None
        self.settle_time = settle_time
        self.clock = clock
        self.seen = False  # the file existed at some point
        self.first_seen = 0.0  # when it was first seen, on the clock
        self.error = ""  # why the last read failed
        self.mtime = 0.0  # of the file when it was read
        self.absent_at: float | None = None  # the last poll that found no file, on the clock
        self._signature: Signature | None = None
        self._stable_since = 0.0
        self._failed_signature: Signature | None = None
        self._failed_at = 0.0
        self._retried_unchanged = False

    def poll(self) -> FrameData | None:
        """The frame's data if the file can be read now, else None."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            if not self.seen:
                self.absent_at = self.clock()
            return None
        now = self.clock()
        if not self.seen:
            self.seen, self.first_seen = True, now
        signature = file_signature(stat)
        if signature != self._signature:
            self._signature, self._stable_since = signature, now
        if self._failed_signature is not None:
            settled = now - self._stable_since >= self.settle_time
            if signature != self._failed_signature:
                if not settled:
                    return None  # still being written
            elif self._retried_unchanged or now - self._failed_at < self.settle_time:
                return None  # the same bytes failed already; wait for a change
            else:
                self._retried_unchanged = True  # one more try, in case the failure was a race
        self.mtime = stat.st_mtime
        try:
            data = read_frame(self.path, self.channels)
        except FileNotFoundError:
            return None
        except FrameError as exc:
            if signature != self._failed_signature:
                self._retried_unchanged = False
            self._failed_signature, self._failed_at, self.error = signature, now, str(exc)
            logger.debug("%s: unreadable, will retry once it settles: %s", self.path, exc)
            return None
        if data.t0 != self.name.gps or data.duration != self.name.duration:
            self._failed_signature, self._failed_at, self._retried_unchanged = signature, now, True
            self.error = f"frame {self.path} holds GPS {data.t0:.0f}+{data.duration:g} s, not what its name says"
            return None
        return data

    @property
    def signature(self) -> Signature | None:
        """The file's signature at the last poll: after a successful one, that of the file read."""
        return self._signature

    def arrival(self) -> float:
        """When the file landed, on the monotonic clock.

        From its modification time, but never before the last poll that found no
        file nor after the first that found it: a writer whose clock is off
        (a file server an hour behind) must not make a frame look long arrived.
        """
        estimate = self.clock() - max(0.0, time.time() - self.mtime)
        if self.absent_at is not None:
            estimate = max(estimate, self.absent_at)
        return min(estimate, self.first_seen) if self.seen else estimate
