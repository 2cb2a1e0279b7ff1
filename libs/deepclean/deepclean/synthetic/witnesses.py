"""Angular-control (ASC) witnesses: slow coloured motion with a few lines.

Each ASC channel records the motion of one control loop: Gaussian noise
coloured to a few hertz and below, plus a few slow lines, scaled to counts,
plus the channel's own white sensor noise at its native sample rate. The
motion is generated at :data:`MOTION_RATE` and resampled to each channel's
rate (and, for the loops that modulate the mains coupling, to the rate of
the injected noise's envelope).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal

from .colouring import FirFilter, colouring_filter
from .random_streams import Stream, generator, white_noise

MOTION_RATE = 256
"""Sample rate (Hz) the loop motions are generated at."""

MAINS_MONITOR_RATE = 1024
"""Default sample rate (Hz) of the mains monitor."""

MAINS_MONITOR_NOISE = 1e-3
"""RMS sensor noise of the mains monitor, relative to the line amplitude."""

SENSOR_NOISE = 1e-3
"""RMS sensor noise of an angular channel at its native rate, relative to the motion's RMS."""

NOISE_BLOCK_SECONDS = 16
"""Length of the blocks white noise is drawn in (part of the seed: never change)."""

_KERNEL_SECONDS = 8
_RESAMPLE_WINDOW = ("kaiser", 10.0)


def default_sample_rates(channels: list[str], mains_channel: str) -> dict[str, int]:
    """Native sample rates: the mains monitor at 1024 Hz, the angular loops at 256 or
    512 Hz, and the 13th and 14th angular channels (DHARD P and Y in the H1 list) at 2048 Hz."""
    rates = {}
    angular = [channel for channel in channels if channel != mains_channel]
    for index, channel in enumerate(angular):
        rates[channel] = 2048 if index in (12, 13) else 512 if index % 4 < 2 else 256
    if mains_channel in channels:
        rates[mains_channel] = MAINS_MONITOR_RATE
    return rates


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling from ``rate_in`` to ``rate_out`` (scipy)."""
    if rate_in == rate_out:
        return samples
    ratio = Fraction(rate_out, rate_in)
    return signal.resample_poly(samples, ratio.numerator, ratio.denominator, window=_RESAMPLE_WINDOW)


@dataclass(frozen=True)
class LoopMotion:
    """The motion of one angular-control loop (unit variance) and how its channel records it."""

    index: int
    filter: FirFilter
    line_frequencies: np.ndarray
    line_amplitudes: np.ndarray
    line_phases: np.ndarray
    counts_per_unit: float
    sensor_noise: float

    @classmethod
    def random(cls, seed: int, index: int, line_power: float = 0.2) -> LoopMotion:
        """Loop ``index``: a corner of 1.5-3 Hz, falling to nothing by twice the corner."""
        rng = generator(seed, Stream.WITNESS_SHAPE, index)
        corner = rng.uniform(1.5, 3.0)
        slope = rng.uniform(0.0, 0.5)
        num_taps = _KERNEL_SECONDS * MOTION_RATE
        frequencies = np.fft.rfftfreq(num_taps, 1.0 / MOTION_RATE)
        amplitude = (np.maximum(frequencies, 0.1) / corner) ** -slope
        taper = np.clip((frequencies - corner) / corner, 0.0, 1.0)
        amplitude *= np.cos(0.5 * np.pi * taper) ** 2
        kernel = colouring_filter(amplitude, num_taps)
        kernel *= np.sqrt((1.0 - line_power) / np.sum(kernel**2))
        num_lines = 2
        return cls(
            index=index,
            filter=FirFilter(kernel),
            line_frequencies=np.exp(rng.uniform(np.log(0.1), np.log(corner), num_lines)),
            line_amplitudes=np.full(num_lines, np.sqrt(2.0 * line_power / num_lines)),
            line_phases=rng.random(num_lines),
            counts_per_unit=float(10 ** rng.uniform(-1.0, 1.5)),
            sensor_noise=SENSOR_NOISE,
        )

    def motion(self, seed: int, gps: int, first: int, stop: int) -> np.ndarray:
        """Motion samples ``gps * MOTION_RATE + [first, stop)`` at :data:`MOTION_RATE`."""
        origin = gps * MOTION_RATE

        def white(start: int, end: int) -> np.ndarray:
            return white_noise(seed, Stream.WITNESS_MOTION + self.index, NOISE_BLOCK_SECONDS * MOTION_RATE, start, end)

        noise = self.filter.coloured(white, origin + first, origin + stop)
        offsets = np.arange(first, stop) / MOTION_RATE
        cycles = np.mod(self.line_frequencies * float(gps), 1.0) + self.line_phases
        lines = self.line_amplitudes @ np.sin(
            2 * np.pi * (cycles[:, None] + self.line_frequencies[:, None] * offsets[None, :])
        )
        return noise + lines

    def sensor(self, seed: int, rate: int, first: int, stop: int) -> np.ndarray:
        """The channel's white sensor noise for absolute samples ``[first, stop)`` at ``rate``."""
        return self.sensor_noise * white_noise(
            seed, Stream.WITNESS_SENSOR_NOISE + self.index, NOISE_BLOCK_SECONDS * rate, first, stop
        )
