"""Stage: bring every witness channel from its own rate to the working rate.

Channels are grouped by native rate and each group is resampled as one 2-D
block by a :class:`BlockResampler`; all groups share one delay (the largest
any rate needs, rounded up to the network's stride:
:func:`deepclean.signal.witness_resampling_delay`, which the trainer's causal
lead counts too) so the resampled channels stay aligned with each other and
with the stride grid. Groups run in
parallel when an executor is given (the filtering releases the GIL).
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from deepclean.signal import witness_resampling_delay

from .buffers import Block, Gap
from .network import DOWNSAMPLING_LEVELS
from .resampling import BlockResampler

log = logging.getLogger(__name__)


@dataclass
class WitnessResampler:
    """Witness samples of one second (dict channel -> samples) in; a ``(channels, time)`` block out.

    Parameters
    ----------
    channels
        Witness channels in the order of the output rows.
    sample_rate
        The working rate (Hz).
    align
        Delay granularity in samples (the network's stride).
    phase
        Phase of the resampling filter (:func:`deepclean.signal.witness_resampling_phase`: the mode's).
    executor
        Runs the rate groups concurrently (None: one after the other).
    """

    channels: tuple[str, ...]
    sample_rate: int
    align: int = 2**DOWNSAMPLING_LEVELS
    phase: str = "linear"
    executor: Executor | None = None
    _groups: dict[int, tuple[list[int], BlockResampler]] = field(default_factory=dict, init=False, repr=False)
    _rates: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def reset(self) -> None:
        for _, resampler in self._groups.values():
            resampler.reset()

    def _configure(self, rates: dict[str, int]) -> None:
        delay = witness_resampling_delay(rates.values(), self.sample_rate, self.align, self.phase)
        self._groups = {}
        for rate in sorted(set(rates.values())):
            rows = [i for i, c in enumerate(self.channels) if rates[c] == rate]
            self._groups[rate] = (
                rows,
                BlockResampler(rate, self.sample_rate, delay=delay, phase=self.phase),
            )
        self._rates = rates

    @property
    def delay(self) -> int:
        """Output lag in samples at the working rate (0 before the first second)."""
        return next(iter(self._groups.values()))[1].delay if self._groups else 0

    def process(self, gps: int, witnesses: dict[str, np.ndarray] | Gap, duration: int = 1) -> Block | Gap | None:
        """The resampled witnesses ``delay`` samples behind second ``gps``; ``None`` while priming."""
        if isinstance(witnesses, Gap):
            self.reset()
            return witnesses
        missing = [c for c in self.channels if c not in witnesses]
        if missing:
            raise KeyError(f"GPS {gps}: witness frame lacks channels {missing}")
        rates = {c: len(witnesses[c]) // duration for c in self.channels}
        if rates != self._rates:
            if self._rates:
                changed = {c: f"{self._rates.get(c)} -> {r} Hz" for c, r in rates.items() if self._rates.get(c) != r}
                log.warning(
                    "GPS %d: witness sample rate changed (%s); the resamplers start again",
                    gps,
                    changed,
                )
            self._configure(rates)

        def resample(rate: int) -> Block | None:
            rows, resampler = self._groups[rate]
            samples = np.stack([np.asarray(witnesses[self.channels[i]], dtype=np.float64) for i in rows])
            return resampler.process(Block(gps * rate, rate, samples))

        rates_present = list(self._groups)
        blocks = (
            list(self.executor.map(resample, rates_present)) if self.executor else [resample(r) for r in rates_present]
        )
        if any(block is None for block in blocks):
            return None
        out = np.empty((len(self.channels), blocks[0].size), dtype=np.float64)
        for rate, block in zip(rates_present, blocks, strict=False):
            out[self._groups[rate][0]] = block.data
        return Block(blocks[0].start, self.sample_rate, out)
