"""Angular-control (ASC) witnesses: slow coloured motion with a few lines.

Each ASC channel records the motion of one control loop: Gaussian noise
coloured to a few hertz and below, plus a few slow lines, scaled to counts,
plus the channel's own white sensor noise at its native sample rate. The
motion is generated at :data:`MOTION_RATE` and resampled to each channel's
rate (and, for the loops that modulate the mains coupling, to the rate of
the injected noise's envelope). A channel may record its loop's motion late
by a delay that wanders slowly (:class:`ResponseDelay`).

:class:`LoopSettings` holds the dials (the spectrum of the motion, its
lines, the response delay); its defaults are the baseline detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal
from scipy.interpolate import CubicSpline

from .colouring import FirFilter, colouring_filter
from .drifts import SlowDrift, interpolated
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
_DELAY_PERIODS = (200.0, 1000.0)


@dataclass(frozen=True)
class LoopSettings:
    """The dials of the angular loops; the defaults are the baseline detector.

    Parameters
    ----------
    corners
        Range (Hz) the corner of each loop's motion spectrum is drawn from;
        the spectrum falls to nothing by twice the corner.
    line_power
        Fraction of each loop's motion variance in its lines.
    line_count
        Lines per loop.
    line_range
        None: the lines are log-uniform between 0.1 Hz and the corner. A range
        (Hz): spread over it, one line in each of ``line_count`` log-spaced
        parts of it.
    response_delay, response_delay_rms
        The coupled loops' channels record the motion late by this mean delay
        (s), wandering with this RMS (s) over periods of 200-1000 s (0, 0: on
        time); the delay stays within ``sqrt(10)`` times the RMS of the mean.
    """

    corners: tuple[float, float] = (1.5, 3.0)
    line_power: float = 0.2
    line_count: int = 2
    line_range: tuple[float, float] | None = None
    response_delay: float = 0.0
    response_delay_rms: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.corners[0] <= self.corners[1] <= MOTION_RATE / 8:
            raise ValueError(f"loops.corners must satisfy 0 < low <= high <= {MOTION_RATE / 8} Hz, got {self.corners}")
        if not 0 <= self.line_power < 1:
            raise ValueError(f"loops.line_power must be in [0, 1), got {self.line_power}")
        if self.line_count < 1:
            raise ValueError(f"loops.line_count must be at least 1, got {self.line_count}")
        if self.line_range is not None and not 0 < self.line_range[0] < self.line_range[1] <= MOTION_RATE / 8:
            raise ValueError(f"loops.line_range must satisfy 0 < low < high <= {MOTION_RATE / 8} Hz")
        # a slow drift never exceeds sqrt(10) times its RMS; the motion has a 1 s margin
        if self.response_delay_rms < 0 or abs(self.response_delay) + np.sqrt(10) * self.response_delay_rms > 0.5:
            raise ValueError(
                "loops.response_delay_rms must be non-negative and the delay stay within 0.5 s "
                f"(|response_delay| + 3.2 response_delay_rms), got {self.response_delay}, {self.response_delay_rms}"
            )

    @property
    def delayed(self) -> bool:
        """Whether the coupled loops' channels record their motion late."""
        return self.response_delay != 0 or self.response_delay_rms != 0


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
    delay: ResponseDelay | None = None

    @classmethod
    def random(cls, seed: int, index: int, settings: LoopSettings | None = None) -> LoopMotion:
        """Loop ``index``: a corner drawn from ``settings.corners`` (1.5-3 Hz), falling
        to nothing by twice the corner; recorded on time."""
        settings = settings or LoopSettings()
        line_power, num_lines = settings.line_power, settings.line_count
        rng = generator(seed, Stream.WITNESS_SHAPE, index)
        corner = rng.uniform(*settings.corners)
        slope = rng.uniform(0.0, 0.5)
        num_taps = _KERNEL_SECONDS * MOTION_RATE
        frequencies = np.fft.rfftfreq(num_taps, 1.0 / MOTION_RATE)
        amplitude = (np.maximum(frequencies, 0.1) / corner) ** -slope
        taper = np.clip((frequencies - corner) / corner, 0.0, 1.0)
        amplitude *= np.cos(0.5 * np.pi * taper) ** 2
        kernel = colouring_filter(amplitude, num_taps)
        kernel *= np.sqrt((1.0 - line_power) / np.sum(kernel**2))
        if settings.line_range is None:
            low, high = np.log(0.1), np.log(corner)
        else:
            edges = np.linspace(np.log(settings.line_range[0]), np.log(settings.line_range[1]), num_lines + 1)
            low, high = edges[:-1], edges[1:]
        return cls(
            index=index,
            filter=FirFilter(kernel),
            line_frequencies=np.exp(rng.uniform(low, high, num_lines)),
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


@dataclass(frozen=True)
class ResponseDelay:
    """A channel records its loop's motion ``delay(t) = mean + drift(t)`` seconds late."""

    mean: float
    drift: SlowDrift

    @classmethod
    def random(cls, seed: int, index: int, settings: LoopSettings) -> ResponseDelay:
        """The delay of angular channel ``index``."""
        rng = generator(seed, Stream.RESPONSE_DELAY, index)
        return cls(settings.response_delay, SlowDrift.random(rng, settings.response_delay_rms, *_DELAY_PERIODS))

    def value(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The delay (s) at ``gps + offsets``."""
        return self.mean + interpolated(self.drift.value, gps, offsets)

    def recorded(self, motion: np.ndarray, gps: int, first: int) -> np.ndarray:
        """What the channel records of ``motion`` (samples ``gps * MOTION_RATE + [first, ...)``):
        the motion ``delay`` earlier, by cubic-spline interpolation (the first and last
        few tenths of a second are extrapolated: keep a margin)."""
        offsets = (first + np.arange(len(motion))) / MOTION_RATE
        return CubicSpline(offsets, motion)(offsets - self.value(gps, offsets))
