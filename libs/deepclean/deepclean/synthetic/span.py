"""A stretch of synthetic data: strain, floor, injected noise, state vector, witnesses."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from .state_vector import STATE_RATE


@dataclass
class SyntheticSpan:
    """A stretch of synthetic data, ``duration`` seconds from GPS ``start``.

    ``strain = floor + truth``: ``floor`` is the design-curve noise and
    ``truth`` the injected mains noise (line plus sidebands).
    """

    start: int
    duration: int
    strain: np.ndarray
    floor: np.ndarray
    truth: np.ndarray
    state: np.ndarray
    witnesses: dict[str, np.ndarray]
    strain_sample_rate: int
    witness_sample_rates: dict[str, int]
    state_sample_rate: int = STATE_RATE
    strain_channel: str = "H1:GDS-CALIB_STRAIN"
    state_channel: str = "H1:GDS-CALIB_STATE_VECTOR"
    truth_channel: str = "H1:SYN-INJECTED_NOISE"

    @property
    def end(self) -> int:
        return self.start + self.duration

    @property
    def strain_frame(self) -> dict[str, np.ndarray]:
        """Channels of the strain frame: strain and state vector."""
        return {self.strain_channel: self.strain, self.state_channel: self.state}

    @property
    def truth_frame(self) -> dict[str, np.ndarray]:
        """Channels of the truth frame: the injected noise."""
        return {self.truth_channel: self.truth}

    def _like(self, start: int, duration: int, **arrays) -> SyntheticSpan:
        return SyntheticSpan(
            start=start,
            duration=duration,
            strain_sample_rate=self.strain_sample_rate,
            witness_sample_rates=dict(self.witness_sample_rates),
            state_sample_rate=self.state_sample_rate,
            strain_channel=self.strain_channel,
            state_channel=self.state_channel,
            truth_channel=self.truth_channel,
            **arrays,
        )

    def second(self, gps: int) -> SyntheticSpan:
        """The one-second span starting at ``gps``."""
        return self.slice(gps, 1)

    def slice(self, start: int, duration: int) -> SyntheticSpan:
        """The part ``[start, start + duration)`` of this span."""
        if start < self.start or start + duration > self.end or duration < 1:
            raise ValueError(f"[{start}, {start + duration}) is not inside the span [{self.start}, {self.end})")

        def cut(samples: np.ndarray, rate: int) -> np.ndarray:
            return samples[(start - self.start) * rate : (start - self.start + duration) * rate]

        return self._like(
            start,
            duration,
            strain=cut(self.strain, self.strain_sample_rate),
            floor=cut(self.floor, self.strain_sample_rate),
            truth=cut(self.truth, self.strain_sample_rate),
            state=cut(self.state, self.state_sample_rate),
            witnesses={name: cut(x, self.witness_sample_rates[name]) for name, x in self.witnesses.items()},
        )

    @staticmethod
    def concatenate(spans: list[SyntheticSpan]) -> SyntheticSpan:
        """Join consecutive spans."""
        first = spans[0]
        for before, after in pairwise(spans):
            if after.start != before.end:
                raise ValueError(f"spans are not consecutive: {before.end} then {after.start}")
        if len(spans) == 1:
            return first
        return first._like(
            first.start,
            sum(span.duration for span in spans),
            strain=np.concatenate([span.strain for span in spans]),
            floor=np.concatenate([span.floor for span in spans]),
            truth=np.concatenate([span.truth for span in spans]),
            state=np.concatenate([span.state for span in spans]),
            witnesses={name: np.concatenate([span.witnesses[name] for span in spans]) for name in first.witnesses},
        )
