"""Slow drifts and steps as functions of absolute GPS time.

A drift is a sum of a few sinusoids with random periods (hundreds of
seconds), phases and weights. Being a closed-form function of time, it needs
no state carried from one block to the next, and its time integral (used for
the phase of a line whose frequency wanders) is closed-form too. A step goes
from 0 to 1 at a given GPS time, over a short raised-cosine ramp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SlowDrift:
    """``value(t) = sum_k amplitude_k * sin(2 pi (frequency_k t + phase_k))``."""

    frequencies: np.ndarray
    phases: np.ndarray
    amplitudes: np.ndarray

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        rms: float,
        shortest_period: float,
        longest_period: float,
        num_terms: int = 5,
    ) -> SlowDrift:
        """A drift of the given RMS with periods spread log-uniformly over a range."""
        periods = np.exp(rng.uniform(np.log(shortest_period), np.log(longest_period), num_terms))
        weights = rng.uniform(0.5, 1.0, num_terms)
        amplitudes = rms * np.sqrt(2.0) * weights / np.sqrt(np.sum(weights**2))
        return cls(frequencies=1.0 / periods, phases=rng.random(num_terms), amplitudes=amplitudes)

    def _cycles(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        # frequency * gps is split off modulo 1 so that offsets keep full precision
        base = np.mod(self.frequencies * float(gps), 1.0) + self.phases
        return base[:, None] + self.frequencies[:, None] * offsets[None, :]

    def value(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The drift at times ``gps + offsets`` (seconds)."""
        return self.amplitudes @ np.sin(2 * np.pi * self._cycles(gps, offsets))

    def integral(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """An antiderivative of the drift (in value x seconds) at ``gps + offsets``."""
        scale = -self.amplitudes / (2 * np.pi * self.frequencies)
        return scale @ np.cos(2 * np.pi * self._cycles(gps, offsets))


@dataclass(frozen=True)
class Step:
    """0 before ``gps``, 1 from ``gps + ramp`` seconds on, a raised cosine in between."""

    gps: int
    ramp: float = 1.0

    def value(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The step at times ``gps + offsets`` (seconds)."""
        progress = np.clip((float(gps - self.gps) + offsets) / self.ramp, 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(np.pi * progress)


def interpolated(function, gps: int, offsets: np.ndarray, grid_step: float = 1.0 / 16.0) -> np.ndarray:
    """``function(gps, offsets)`` evaluated on a coarse grid and linearly interpolated.

    For drifts with periods of tens of seconds or more this is exact to far
    below anything measurable, and it is much cheaper than evaluating the
    sinusoids at every strain sample.
    """
    first = np.floor(offsets[0] / grid_step) - 1
    last = np.ceil(offsets[-1] / grid_step) + 1
    grid = np.arange(first, last + 1) * grid_step
    return np.interp(offsets, grid, function(gps, grid))
