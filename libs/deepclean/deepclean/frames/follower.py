"""Following live frame directories: one stream, or strain joined with witnesses.

A live directory receives one ``<site>-<ifo>_<tag>-<gps>-<duration>.gwf``
file per frame. :class:`FrameFollower` yields them in GPS order and never
stalls: every second of the stream comes out either as a :class:`Frame` or
inside a :class:`Gap` that says why it is missing::

    directory --(stat the expected file; scandir now and then)--> FrameFollower
        Frame(gps, data)            the frame, read and checked
        Gap(start, end, reason)     "dropped": no file within the timeout
                                    "corrupt": a file that never became readable
                                    "behind":  skipped to catch up with the live edge

    FrameFollower(strain) --+
                            +--> JoinedFollower (joined.py) --> FramePair(gps, strain, witness | None)
    witness directory ------+                                   Gap (the strain's own gaps)

    each stream's frames already read --> ConsumedFrames (consumed.py): a rewrite, or a
                                          second file for the same second, is reported
                                          once and never read

Waiting costs one ``os.stat`` per poll; the directory is listed only every
``scan_interval`` seconds (to notice lag, and to check the frames already read
for rewrites and duplicates, once more when the stream ends: one listing serves
both when both are due) and when a frame times out (to find the frames after a gap, so that a jump of hundreds of
seconds is one :class:`Gap`). Only a file named exactly as :class:`FrameName`
spells it is the frame: one with a zero-padded GPS is a duplicate, never read.
A file that fails to parse is read again once it has stopped changing for
``settle_time``. Timeouts use a monotonic clock; the clock and the sleep are
injectable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from .consumed import ConsumedFrames
from .items import Frame, Gap, StreamDeadError
from .naming import FrameName, StreamFiles
from .pending import Clock, PendingFrameFile

__all__ = ["FrameFollower"]

logger = logging.getLogger(__name__)

SKEWED_STAMP = 1.0
"""Seconds a frame may seem to have landed before the frame before it (their stamps read a moment apart)."""

Sleep = Callable[[float], None]


class FrameFollower:
    """Yield the frames of one stream in GPS order, with gap markers instead of stalls.

    Parameters
    ----------
    directory
        The live directory.
    site, ifo, tag, duration
        The stream: files ``<site>-<ifo>_<tag>-<gps>-<duration>.gwf``.
    channels
        Channels to read (all when None); a frame missing one is unreadable.
    start
        GPS second to start (resume) at; None starts at the newest frame present
        (the live edge), waiting for the first one if there is none.
    end
        GPS second to stop before (a replay or a one-shot span); None follows forever.
    timeout
        Seconds to wait for the next frame before it is declared a gap:
        "dropped" when no file came, "corrupt" when its file did not become
        readable within ``timeout`` of its appearance.
    settle_time
        Seconds a file that failed to parse must stay unchanged before it is read again.
    max_lag
        Seconds behind the newest frame present beyond which the follower jumps
        to it, yielding a "behind" gap for what it skips. None never jumps.
    max_consecutive_drops
        Timeouts in a row with no file of the stream arriving at all after
        which :class:`StreamDeadError` is raised. The follower stays usable:
        iterating it again waits for the same frame, with the count reset.
    poll_interval, scan_interval
        Seconds between checks for the expected file, and between directory listings.
    clock, sleep
        Monotonic clock and sleep (injectable for tests).
    stop
        When set, iteration ends at the next check.
    consumed
        Where the frames read are remembered and checked for rewrites and duplicates
        (default: a :class:`ConsumedFrames` of this stream that logs a warning for each).
    """

    def __init__(
        self,
        directory: str | Path,
        site: str,
        ifo: str,
        tag: str,
        *,
        duration: int = 1,
        channels: Sequence[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        timeout: float = 5.0,
        settle_time: float = 0.2,
        max_lag: float | None = None,
        max_consecutive_drops: int = 12,
        poll_interval: float = 0.02,
        scan_interval: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
        stop: threading.Event | None = None,
        consumed: ConsumedFrames | None = None,
    ) -> None:
        if timeout <= 0 or settle_time < 0 or poll_interval <= 0 or scan_interval < 0 or duration < 1:
            raise ValueError(
                "timeout, poll_interval and duration must be positive; settle_time, scan_interval not negative"
            )
        if max_consecutive_drops < 1:
            raise ValueError(f"max_consecutive_drops must be at least 1, got {max_consecutive_drops}")
        if max_lag is not None and max_lag < 0:
            raise ValueError(f"max_lag must not be negative, got {max_lag}")
        self.files = StreamFiles(Path(directory), site, ifo, tag, duration)
        self.directory = self.files.directory
        self.site, self.ifo, self.tag, self.duration = site, ifo, tag, duration
        self.channels = channels
        self.position = start
        self.end = end
        self.timeout, self.settle_time, self.max_lag = timeout, settle_time, max_lag
        self.max_consecutive_drops = max_consecutive_drops
        self.poll_interval, self.scan_interval = poll_interval, scan_interval
        self.clock = clock
        self.stop = stop
        self._sleep = sleep or (stop.wait if stop is not None else time.sleep)
        self._queue: deque[Frame | Gap] = deque()
        self._consecutive_drops = 0
        self._last_arrival: float | None = None  # frames arrive in order: an earlier stamp is a skewed clock
        self._last_scan = -float("inf")
        if consumed is None:
            consumed = ConsumedFrames(self.files, check_interval=scan_interval, clock=clock)
        self.consumed = consumed

    def __iter__(self) -> Iterator[Frame | Gap]:
        while (item := self.read_next()) is not None:
            yield item
        self.consumed.check()  # a rewrite just before the end is reported too

    def describe(self) -> str:
        return self.files.describe()

    def scan(self) -> list[int]:
        """GPS starts of the stream's files in the directory (canonical names only), sorted.

        The listing also serves :attr:`consumed`'s check of the frames already read, when that
        is due and it watches this directory, so that the directory is not listed twice.
        """
        self._last_scan = self.clock()
        listing = self.files.listing()
        if listing is None:
            return []
        if self.consumed.files.directory == self.files.directory:
            self.consumed.poll(listing)
        found = []
        for entry in listing:
            parsed = self.files.gps_in_name(entry.name)
            if parsed is not None and parsed[1]:
                found.append(parsed[0])
        return sorted(found)

    def read_next(self) -> Frame | Gap | None:
        """Block until the next frame or gap; None once ``stop`` is set or ``end`` is reached."""
        item = self._queue.popleft() if self._queue else self._wait_for_next()
        if item is None or self.end is None:
            return item
        first = item.gps if isinstance(item, Frame) else item.start
        if first >= self.end:
            return None
        if isinstance(item, Gap) and item.end > self.end:
            return replace(item, end=self.end)
        return item

    def _wait_for_next(self) -> Frame | Gap | None:
        position = self.position if self.position is not None else self._find_live_edge()
        if position is None or (self.end is not None and position >= self.end):
            return None
        self.position = position
        name = FrameName(position, self.site, self.ifo, self.tag, self.duration)
        pending = PendingFrameFile(name, self.directory, self.channels, self.settle_time, self.clock)
        waiting_since = self.clock()
        while not self.stopped():
            if self.max_lag is not None and self.clock() - self._last_scan >= self.scan_interval:
                gap = self._catch_up(self.scan(), position, self.max_lag)  # checks the frames read too, if due
                if gap is not None:
                    return gap
            self.consumed.poll()
            data = pending.poll()
            if data is not None:
                self._consecutive_drops = 0
                self.position = position + self.duration
                self.consumed.remember(name.gps, pending.path, pending.signature)
                arrival = pending.arrival()
                if self._last_arrival is not None and arrival < self._last_arrival - SKEWED_STAMP:
                    # Well before the frame before it: the writer's clock is off, so its stamp says nothing.
                    arrival = pending.first_seen
                self._last_arrival = arrival
                return Frame(name.gps, self.duration, pending.path, data, arrival)
            # A file that appeared late gets the full timeout to become readable.
            since = max(waiting_since, pending.first_seen) if pending.seen else waiting_since
            if self.clock() - since >= self.timeout and self._time_out(pending, position):
                return self._queue.popleft()
            self.idle()
        return None

    def stopped(self) -> bool:
        """True once the ``stop`` event is set."""
        return self.stop is not None and self.stop.is_set()

    def idle(self) -> None:
        """Wait one poll interval."""
        self._sleep(self.poll_interval)

    def _find_live_edge(self) -> int | None:
        """The newest frame present, waiting for one if needed; None once stopped."""
        waiting_since = self.clock()
        patience = self.timeout * self.max_consecutive_drops
        while not self.stopped():
            frames = self.scan()
            if frames:
                return frames[-1]
            if self.clock() - waiting_since >= patience:
                raise StreamDeadError(f"no frame of {self.describe()} appeared in {patience:g} s")
            self.idle()
        return None

    def _catch_up(self, frames: list[int], position: int, max_lag: float) -> Gap | None:
        """Jump to the newest frame if it is more than ``max_lag`` seconds ahead of ``position``."""
        if not frames or frames[-1] - position <= max_lag:
            return None
        gap = Gap(position, frames[-1], "behind", f"{frames[-1] - position} s behind the newest frame")
        self.position = frames[-1]
        return gap

    def _time_out(self, pending: PendingFrameFile, position: int) -> bool:
        """Queue the gaps for a frame that did not come in time, and for the missing frames after it.

        A frame whose file exists but never became readable is a "corrupt" gap of
        its own; the missing frames up to the next one present are one "dropped"
        gap. With nothing later present, only this frame is dropped, and enough
        such drops in a row mean the stream is dead. False (nothing queued) when
        the frame's file appeared after its last poll: it is read at the next one.
        """
        gaps = []
        start = position
        if pending.seen:
            gaps.append(
                Gap(start, start + self.duration, "corrupt", pending.error or f"{pending.path} never became readable")
            )
            start += self.duration
        later = [gps for gps in self.scan() if gps >= start]
        if later:
            self._consecutive_drops = 0
            if later[0] > start:
                gaps.append(
                    Gap(start, later[0], "dropped", f"no file within {self.timeout:g} s; next frame at GPS {later[0]}")
                )
            self.position = later[0]
        elif pending.seen:
            self.position = start
        else:
            self._consecutive_drops += 1
            if self._consecutive_drops >= self.max_consecutive_drops:
                drops, self._consecutive_drops = self._consecutive_drops, 0
                raise StreamDeadError(
                    f"{self.describe()}: nothing arrived for {drops} frames in a row "
                    f"(waiting for GPS {start}, {self.timeout:g} s each)"
                )
            gaps.append(Gap(start, start + self.duration, "dropped", f"no file within {self.timeout:g} s"))
            self.position = start + self.duration
        for gap in gaps:
            logger.warning("%s: GPS %d-%d %s (%s)", self.describe(), gap.start, gap.end, gap.reason, gap.detail)
        self._queue.extend(gaps)
        return bool(gaps)
