"""Writing frames as a live detector would: history at once, then paced.

Stream time is GPS time. Frames before ``live_start`` (the history) are
written as fast as possible; from ``live_start`` on, the frame of GPS ``N`` is
written when the wall clock reaches ``t_live + (N - live_start) / speed``,
``t_live`` being the moment the stream went live. Deadlines are absolute, so
the pace does not drift however long writing takes. A late witness frame is
written at stream time ``N + delay``; a dropped frame is never written (the
truth frame of a second is written even when its strain frame is dropped).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .detector import SyntheticDetector
from .faults import FaultInjection
from .frame_writer import FrameLayout, write_strain, write_truth, write_witness
from .span import SyntheticSpan

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 100
"""A progress line is logged every this many frames."""

BEHIND_WARNING = 5.0
"""Wall-clock seconds behind schedule that are worth a warning (at most one per PROGRESS_EVERY frames)."""


@dataclass
class StreamReport:
    """What a run of :meth:`FrameStreamer.run` wrote.

    ``failed`` lists the (stream, GPS) of frames that could not be written
    (an OSError, logged); the stream goes on without them.
    """

    first_gps: int
    next_gps: int = 0
    strain_frames: int = 0
    witness_frames: int = 0
    truth_frames: int = 0
    dropped_strain: list[int] = field(default_factory=list)
    dropped_witness: list[int] = field(default_factory=list)
    late_witness: list[int] = field(default_factory=list)
    failed: list[tuple[str, int]] = field(default_factory=list)
    stopped: bool = False


class FrameStreamer:
    """Write the frames of a :class:`SyntheticDetector` into a :class:`FrameLayout`.

    Parameters
    ----------
    detector
        The data source.
    layout
        Directories and names; a layout without ``truth_dir`` writes no truth.
    faults
        Dropped and late frames to inject.
    speed
        Stream seconds per wall-clock second once live.
    stop
        Set it (e.g. from a signal handler) to stop after the current frame.
    clock
        Monotonic clock in seconds (replaceable in tests).
    retention
        Keep only the frames of the last ``retention`` GPS seconds on disk
        (checked every :data:`PROGRESS_EVERY` frames; None keeps everything),
        like a detector's rolling low-latency directory.
    """

    def __init__(
        self,
        detector: SyntheticDetector,
        layout: FrameLayout,
        faults: FaultInjection | None = None,
        speed: float = 1.0,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        retention: int | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        if retention is not None and retention < 1:
            raise ValueError(f"retention must be at least 1 s, got {retention}")
        self.retention = retention
        self.detector = detector
        self.layout = layout
        self.faults = faults or FaultInjection.none()
        self.speed = speed
        self.stop = stop or threading.Event()
        self.clock = clock
        self._live_wall: float | None = None
        self._live_start = 0
        self._next_behind_warning = 0.0

    def run(self, start: int, history: int = 0, duration: int | None = None) -> StreamReport:
        """Write frames from GPS ``start``: ``history`` seconds at once, then paced, for
        ``duration`` seconds in all (None: until stopped). Late frames still pending
        at the end are written before returning."""
        end = None if duration is None else start + duration
        self._live_start = start + history
        self._live_wall = None
        report = StreamReport(first_gps=start, next_gps=start)
        pending: list[tuple[float, int]] = []  # (stream time due, gps) of late witness frames
        gps = start
        while not self.stop.is_set():
            frame_due = gps if end is None or gps < end else None
            late_due = pending[0][0] if pending else None
            if frame_due is None and late_due is None:
                break
            if late_due is not None and (frame_due is None or late_due <= frame_due):
                if not self._wait_until(late_due):
                    break
                self._write_late(heapq.heappop(pending)[1], report)
                continue
            if frame_due is None or not self._wait_until(frame_due):
                break
            self._write_second(gps, report, pending)
            gps += 1
            report.next_gps = gps
            if (gps - start) % PROGRESS_EVERY == 0:
                self._apply_retention(gps)
                logger.info(
                    "up to GPS %d: %d strain, %d witness frames written",
                    gps,
                    report.strain_frames,
                    report.witness_frames,
                )
        report.stopped = self.stop.is_set()
        while pending:  # lose nothing on the way out
            self._write_late(heapq.heappop(pending)[1], report)
        return report

    def _wait_until(self, stream_time: float) -> bool:
        """Wait for the slot of ``stream_time``; False if stopped meanwhile."""
        if stream_time < self._live_start:
            return not self.stop.is_set()
        if self._live_wall is None:
            self._live_wall = self.clock()
            logger.info("live from GPS %d at %g x real time", self._live_start, self.speed)
        deadline = self._live_wall + (stream_time - self._live_start) / self.speed
        remaining = deadline - self.clock()
        if remaining > 0:
            return not self.stop.wait(remaining)
        if -remaining > BEHIND_WARNING and stream_time >= self._next_behind_warning:
            logger.warning("GPS %d: %.1f s behind the %g x real-time schedule", stream_time, -remaining, self.speed)
            self._next_behind_warning = stream_time + PROGRESS_EVERY
        return not self.stop.is_set()

    def _write_second(self, gps: int, report: StreamReport, pending: list[tuple[float, int]]) -> None:
        second = self.detector.generate(gps, 1)
        if self.faults.drops_strain(gps):
            report.dropped_strain.append(gps)
            logger.info("GPS %d: strain frame dropped (injected)", gps)
        elif self._write("strain", write_strain, second, report):
            report.strain_frames += 1
        if self.layout.truth_dir is not None and self._write("truth", write_truth, second, report):
            report.truth_frames += 1
        if self.faults.drops_witness(gps):
            report.dropped_witness.append(gps)
            logger.info("GPS %d: witness frame dropped (injected)", gps)
            return
        delay = self.faults.witness_delay(gps)
        if delay > 0:
            heapq.heappush(pending, (gps + delay, gps))
            report.late_witness.append(gps)
            logger.info("GPS %d: witness frame delayed by %g s (injected)", gps, delay)
            return
        if self._write("witness", write_witness, second, report):
            report.witness_frames += 1

    def _write(
        self,
        stream: str,
        writer: Callable[[SyntheticSpan, FrameLayout], Path],
        second: SyntheticSpan,
        report: StreamReport,
    ) -> bool:
        """Write one frame; a failure is logged and recorded, and the stream goes on."""
        try:
            writer(second, self.layout)
        except OSError as exc:
            logger.error("GPS %d: cannot write the %s frame: %s", second.start, stream, exc)
            report.failed.append((stream, second.start))
            return False
        return True

    def _apply_retention(self, next_gps: int) -> None:
        if self.retention is None:
            return
        try:
            removed = self.layout.remove_before(next_gps - self.retention)
        except OSError as exc:
            logger.warning("cannot remove frames older than GPS %d: %s", next_gps - self.retention, exc)
            return
        if removed:
            logger.debug("removed %d frames older than GPS %d", removed, next_gps - self.retention)

    def _write_late(self, gps: int, report: StreamReport) -> None:
        if self._write("witness", write_witness, self.detector.generate(gps, 1), report):
            report.witness_frames += 1
