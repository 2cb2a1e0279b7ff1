"""When to train: the span of a one-shot run and the continuous retraining schedule.

Continuous mode retrains once ``retrain_cadence`` seconds of new
analysis-ready data have arrived since the end of the newest training span,
on the last ``train_duration`` seconds. While waiting it polls the strain
directory every ``poll_interval`` seconds, reading only the state vector of
frames it has not seen yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from deepclean.frames import FrameError, read_frame

from .checks import DataCheckError
from .dataset import FrameSource, is_analysis_ready

log = logging.getLogger(__name__)


def latest_common_end(source: FrameSource) -> int | None:
    """GPS end of the newest second present in both the strain and the witness directory."""
    strain = {(f.gps, f.duration) for f in source.strain_frames()}
    common = [gps + duration for gps, duration in strain & {(f.gps, f.duration) for f in source.witness_frames()}]
    return max(common) if common else None


def default_span(source: FrameSource, train_duration: int) -> tuple[int, int]:
    """The last ``train_duration`` seconds that have both strain and witness frames."""
    end = latest_common_end(source)
    if end is None:
        raise DataCheckError(f"no frame pairs in {source.strain_dir} and {source.witness_dir}")
    return end - train_duration, end


@dataclass
class ReadyCounter:
    """Counts analysis-ready seconds after a GPS time, caching each frame's verdict."""

    source: FrameSource
    _ready: dict[int, int] = field(default_factory=dict)  # gps -> ready seconds in that frame

    def ready_seconds(self, after: int, end: int) -> int:
        for name in self.source.strain_frames():
            if after <= name.gps < end and name.gps not in self._ready:
                try:
                    state = read_frame(name.path(self.source.strain_dir), [self.source.state_channel])
                except (FrameError, FileNotFoundError):
                    continue  # being written or dropped: look again at the next poll
                self._ready[name.gps] = name.duration if is_analysis_ready(state[self.source.state_channel]) else 0
        for gps in [g for g in self._ready if g < after]:
            del self._ready[gps]
        return sum(seconds for gps, seconds in self._ready.items() if gps < end)


@dataclass
class ContinuousSchedule:
    """Decides, poll after poll, whether to start a training cycle and on which span."""

    source: FrameSource
    train_duration: int
    retrain_cadence: int
    min_ready_seconds: int
    retry_after: int  # seconds of new data to wait after a failed cycle
    last_end: int | None  # end of the newest training span (None: never trained)
    counter: ReadyCounter = field(init=False)
    _failed_at: int | None = None

    def __post_init__(self) -> None:
        self.counter = ReadyCounter(self.source)

    def next_span(self) -> tuple[int, int] | None:
        end = latest_common_end(self.source)
        if end is None:
            return None
        if self._failed_at is not None and end < self._failed_at + self.retry_after:
            return None
        needed = self.min_ready_seconds if self.last_end is None else self.retrain_cadence
        after = end - self.train_duration if self.last_end is None else self.last_end
        if self.counter.ready_seconds(after, end) < needed:
            return None
        return end - self.train_duration, end

    def succeeded(self, end: int) -> None:
        self.last_end, self._failed_at = end, None

    def failed(self, end: int) -> None:
        self._failed_at = end


def run_continuously(
    schedule: ContinuousSchedule,
    train_span: Callable[[int, int], bool],
    stop: threading.Event,
    poll_interval: float,
) -> None:
    """Poll, train when the schedule says so, sleep in between, until ``stop`` is set.

    ``train_span(start, end)`` returns whether the cycle produced a training directory.
    """
    log.info(
        "continuous mode: retrain every %d s of new analysis-ready data on the last %d s",
        schedule.retrain_cadence,
        schedule.train_duration,
    )
    while not stop.is_set():
        span = schedule.next_span()
        if span is not None:
            if train_span(*span):
                schedule.succeeded(span[1])
            else:
                schedule.failed(span[1])
            continue
        stop.wait(poll_interval)
