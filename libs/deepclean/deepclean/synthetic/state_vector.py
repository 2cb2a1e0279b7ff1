"""The state vector: analysis ready most of the time, with occasional dropouts.

Time is cut into epochs of :data:`EPOCH_SECONDS`; each epoch holds a
not-ready segment with probability ``EPOCH_SECONDS / interval``, at a random
whole-second start, lasting a random whole number of seconds around
``duration``. The draws depend on (seed, epoch) only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .random_streams import Stream, generator

HOFT_OK = 0b01
OBSERVATION_INTENT = 0b10
ANALYSIS_READY = HOFT_OK | OBSERVATION_INTENT
STATE_RATE = 16
EPOCH_SECONDS = 600


@dataclass(frozen=True)
class StateModel:
    """Not-ready segments: on average one every ``interval`` s, ``duration`` s long.

    ``interval=None`` keeps the detector analysis ready throughout.
    """

    seed: int
    interval: float | None = 3600.0
    duration: float = 30.0

    def __post_init__(self) -> None:
        if self.interval is not None and self.interval < EPOCH_SECONDS:
            raise ValueError(f"not_ready_interval must be at least {EPOCH_SECONDS} s, got {self.interval}")
        if not 1 <= self.duration <= EPOCH_SECONDS / 1.5:
            raise ValueError(f"not_ready_duration must be in [1, {EPOCH_SECONDS / 1.5:.0f}] s, got {self.duration}")

    def _epoch_segment(self, epoch: int) -> tuple[int, int] | None:
        rng = generator(self.seed, Stream.STATE_VECTOR, epoch)
        occurs, position, length = rng.random(3)
        if self.interval is None or occurs >= EPOCH_SECONDS / self.interval:
            return None
        seconds = max(1, round(self.duration * (0.5 + length)))
        start = epoch * EPOCH_SECONDS + int(position * EPOCH_SECONDS)
        return start, start + seconds

    def not_ready_segments(self, start: int, end: int) -> list[tuple[int, int]]:
        """The not-ready segments ``[a, b)`` (GPS seconds) overlapping ``[start, end)``."""
        segments = []
        for epoch in range(max(0, start // EPOCH_SECONDS - 1), (end - 1) // EPOCH_SECONDS + 1):
            segment = self._epoch_segment(epoch)
            if segment and segment[0] < end and segment[1] > start:
                segments.append(segment)
        return segments

    def samples(self, start: int, end: int) -> np.ndarray:
        """The state vector (int32 at :data:`STATE_RATE`) over ``[start, end)``."""
        state = np.full((end - start) * STATE_RATE, ANALYSIS_READY, dtype=np.int32)
        for first, stop in self.not_ready_segments(start, end):
            lo = (max(first, start) - start) * STATE_RATE
            hi = (min(stop, end) - start) * STATE_RATE
            state[lo:hi] = HOFT_OK
        return state
