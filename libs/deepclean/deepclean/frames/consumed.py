"""Frames already read, watched for a rewrite or a second file of the same GPS second.

A follower reads each second once: what it yielded is what its consumer used,
and it is never read again. A writer that later rewrites that file (a new size,
modification time or inode), or a second file for the same second (a duplicate
name such as ``H-H1_llhoft-01400000000-1.gwf`` beside
``H-H1_llhoft-1400000000-1.gwf``), is therefore ignored, but not silently: it is
reported once per second, so that the consumer can log and count it::

    remember(gps, path, signature)    when a frame has been read
    poll() / check()                  list the directory, stat the files read
        -> [ReplacedFrame(gps, path, read, change)]   at most one per GPS second
    poll(listing) / check(listing)    the same with a listing just made by the follower

Only the last ``window`` seconds read are remembered, so memory stays bounded
and a file rewritten longer after it was read goes unnoticed. A file read and
then deleted (a live directory pruned of old frames) is not a change.

With ``report_passed``, a file that appears for a second the follower had
already passed without reading it (declared dropped, or before the first
second read: the feed went backwards) is reported once too, as ``"passed"``;
files already there at the first check (history) are not.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .naming import StreamFiles
from .pending import Clock, Signature, file_signature

__all__ = ["ConsumedFrames", "ReplacedFrame"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplacedFrame:
    """A file for a GPS second that was already read: the second was not read again.

    Attributes
    ----------
    gps
        The GPS second.
    path
        The file that changed or appeared.
    read
        The file the second was read from.
    change
        ``"rewritten"``: ``read`` changed after it was read (``path == read``);
        ``"duplicate"``: ``path`` is another file for the same second;
        ``"passed"``: ``path`` appeared after the stream had passed its second unread (``read`` is None).
    """

    gps: int
    path: Path
    read: Path | None
    change: Literal["rewritten", "duplicate", "passed"]

    def __str__(self) -> str:
        if self.change == "passed":
            return f"{self.path} arrived after the stream had passed GPS {self.gps}; not read"
        if self.change == "rewritten":
            return f"{self.path} was rewritten after it was read"
        return f"{self.path} is a second file for GPS {self.gps}, already read from {self.read.name}"


def _log_replaced(event: ReplacedFrame) -> None:
    logger.warning("GPS %d: %s; keeping the frame already read", event.gps, event)


class ConsumedFrames:
    """The frames of one stream read in the last ``window`` seconds, checked for rewrites and duplicates.

    Parameters
    ----------
    files
        The stream's files (those of its follower: :attr:`FrameFollower.files`).
    on_replaced
        Called once per GPS second found rewritten or duplicated (default: a warning is logged).
    window
        Seconds before the newest second read that are still remembered.
    check_interval
        Seconds between two checks by :meth:`poll`.
    report_passed
        Also report files for seconds passed unread (see the module docstring).
    clock
        Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        files: StreamFiles,
        *,
        on_replaced: Callable[[ReplacedFrame], None] | None = None,
        window: int = 300,
        check_interval: float = 1.0,
        report_passed: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        if window < 1 or check_interval < 0:
            raise ValueError(f"window must be positive and check_interval not negative, got {window}, {check_interval}")
        self.files = files
        self.on_replaced = on_replaced or _log_replaced
        self.window, self.check_interval, self.clock = window, check_interval, clock
        self._read: dict[int, tuple[Path, Signature]] = {}
        self._reported: set[int] = set()
        self._last_check = -float("inf")
        self.report_passed = report_passed
        self._listed: set[int] | None = None  # seconds seen in a listing (None: not listed yet)

    def __len__(self) -> int:
        """Seconds remembered (at most ``window + 1``)."""
        return len(self._read)

    def remember(self, gps: int, path: Path, signature: Signature | None) -> None:
        """Note that second ``gps`` was read from ``path`` as it was at ``signature``."""
        if signature is None:
            return
        self._read[gps] = (Path(path), signature)
        oldest = max(self._read) - self.window
        if min(self._read) < oldest:
            self._read = {g: read for g, read in self._read.items() if g >= oldest}
            self._reported = {g for g in self._reported if g >= oldest}
            if self._listed is not None:
                self._listed = {g for g in self._listed if g >= oldest}

    def poll(self, listing: Sequence[os.DirEntry] | None = None) -> list[ReplacedFrame]:
        """:meth:`check` if ``check_interval`` has passed since the last check, else nothing."""
        if self.clock() - self._last_check < self.check_interval:
            return []
        return self.check(listing)

    def check(self, listing: Sequence[os.DirEntry] | None = None) -> list[ReplacedFrame]:
        """Report (and return) each second read whose files changed since.

        ``listing`` is a :meth:`StreamFiles.listing` of the directory just made (by the follower,
        which lists it too); None: the directory is listed here.
        """
        self._last_check = self.clock()
        if not self._read:
            return []
        if listing is None:
            listing = self.files.listing()
            if listing is None:
                return []  # no directory (yet)
        found = []
        first_listing = self._listed is None
        listed = set() if first_listing else self._listed
        for entry in listing:
            event = self._compare(entry, listed, first_listing)
            if event is not None:
                self._reported.add(event.gps)
                found.append(event)
        self._listed = listed
        found.sort(key=lambda event: event.gps)
        for event in found:
            self.on_replaced(event)
        return found

    def _compare(self, entry: os.DirEntry, listed: set[int], first_listing: bool) -> ReplacedFrame | None:
        parsed = self.files.gps_in_name(entry.name)
        if parsed is None or parsed[0] in self._reported:
            return None
        gps = parsed[0]
        if gps not in self._read:
            return self._passed(gps, entry, listed, first_listing) if self.report_passed else None
        read, signature = self._read[gps]
        path = self.files.directory / entry.name
        if entry.name != read.name:
            return ReplacedFrame(gps, path, read, "duplicate")
        try:
            if file_signature(entry.stat()) == signature:
                return None
        except FileNotFoundError:
            return None  # deleted since it was listed: gone, not changed
        return ReplacedFrame(gps, path, read, "rewritten")

    def _passed(self, gps: int, entry: os.DirEntry, listed: set[int], first_listing: bool) -> ReplacedFrame | None:
        """A file for a second behind the newest read, never read and not there before: the feed went back."""
        newest = max(self._read)
        if gps < newest - self.window or gps in listed:
            return None
        listed.add(gps)  # also while ahead of the stream: a file listed before it was passed is not news
        if first_listing or gps >= newest:
            return None  # history (there before anything was read), or not passed yet
        return ReplacedFrame(gps, self.files.directory / entry.name, None, "passed")
