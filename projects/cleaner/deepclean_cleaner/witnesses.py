"""Stage: bring every witness channel from its own rate to the working rate.

Each channel gets a :class:`BlockResampler`; all share one delay (the
largest any channel's rate needs, rounded up to the network's stride) so the
resampled channels stay aligned with each other and with the stride grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .buffers import Block, Gap
from .network import DOWNSAMPLING_LEVELS
from .resampling import BlockResampler, minimum_delay


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
    """

    channels: tuple[str, ...]
    sample_rate: int
    align: int = 2**DOWNSAMPLING_LEVELS
    _resamplers: dict[str, BlockResampler] = field(default_factory=dict, init=False, repr=False)
    _rates: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def reset(self) -> None:
        for resampler in self._resamplers.values():
            resampler.reset()

    def _configure(self, rates: dict[str, int]) -> None:
        least = max(minimum_delay(rate, self.sample_rate) for rate in rates.values())
        delay = -(-least // self.align) * self.align
        self._resamplers = {c: BlockResampler(rates[c], self.sample_rate, delay=delay) for c in self.channels}
        self._rates = rates

    @property
    def delay(self) -> int:
        """Output lag in samples at the working rate (0 before the first second)."""
        return next(iter(self._resamplers.values())).delay if self._resamplers else 0

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
            self._configure(rates)
        blocks = [
            self._resamplers[c].process(Block(gps * rates[c], rates[c], np.asarray(witnesses[c]))) for c in self.channels
        ]
        if any(block is None for block in blocks):
            return None
        return Block(blocks[0].start, self.sample_rate, np.stack([block.data for block in blocks]))
