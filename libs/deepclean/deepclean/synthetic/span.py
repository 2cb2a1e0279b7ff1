"""A stretch of synthetic data: strain, floor, injected noise, state vector, witnesses."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from .state_vector import STATE_RATE

if TYPE_CHECKING:
    from .injections import Injection


@dataclass
class SyntheticSpan:
    """A stretch of synthetic data, ``duration`` seconds from GPS ``start``.

    ``strain = floor + truth``: ``floor`` is the design-curve noise (plus
    the mains harmonics in scenarios that have them) and ``truth`` the
    injected mains noise around 60 Hz (line plus sidebands). With
    astrophysical injections (:mod:`deepclean.synthetic.injections`)
    ``strain = floor + truth + injection`` and ``injections`` lists the
    records of those with samples in the span; without, ``injection`` is None.
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
    injection: np.ndarray | None = None
    injection_channel: str = "H1:SYN-INJECTION"
    injections: tuple[Injection, ...] = ()

    @property
    def end(self) -> int:
        return self.start + self.duration

    @property
    def strain_frame(self) -> dict[str, np.ndarray]:
        """Channels of the strain frame: strain and state vector."""
        return {self.strain_channel: self.strain, self.state_channel: self.state}

    @property
    def truth_frame(self) -> dict[str, np.ndarray]:
        """Channels of the truth frame: the injected noise (and the injected signals, if any)."""
        if self.injection is None:
            return {self.truth_channel: self.truth}
        return {self.truth_channel: self.truth, self.injection_channel: self.injection}

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
            injection_channel=self.injection_channel,
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
            injection=None if self.injection is None else cut(self.injection, self.strain_sample_rate),
            injections=tuple(i for i in self.injections if i.start_gps < start + duration and i.end_gps > start),
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
            injection=_joined_injection(spans),
            injections=tuple({i.slot: i for span in spans for i in span.injections}.values()),
        )


def _joined_injection(spans: list[SyntheticSpan]) -> np.ndarray | None:
    """The injections of consecutive spans joined (None if none has any; zeros for those without)."""
    if all(span.injection is None for span in spans):
        return None
    return np.concatenate([np.zeros(span.strain.size) if span.injection is None else span.injection for span in spans])
