"""Stage: never write a second cleaned worse than raw.

Over a sliding window of seconds, the gate compares the spectrum the cleaning
would produce with the raw strain's: the ASD ratio of the total power in the
band and its shoulders, and the worst ratio in 1 Hz bins anywhere else in
``check_range``. While either exceeds its tolerance the raw strain is written
(the subtraction weight ramps to 0 and back to 1 with half-cosine tapers) and
the fallback is reported.

The shoulders are the :data:`SHOULDER_HZ` either side of the band: the
subtraction reaches past the band (the trainer's filter margin, 1 Hz, and the
filter's skirt beyond it, about 1 Hz more), and a 1 s Hann window mixes each
bin with its neighbours within 2 Hz, so a bin there measures the band's edge as
much as itself. There the estimate is small but correlated with the injected
noise, and over 8 one-second segments the cross term moves single bins by
5-10 % either way; judged one by one they would fail on that, judged with the
band by total power they fail only when the cleaning adds power overall.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.signal.windows import hann

SHOULDER_HZ = 4.0
"""Bins this close to the band are judged with it (filter margin and skirt + a 1 s Hann main lobe)."""


@dataclass(frozen=True)
class SafetyDecision:
    """What the gate wrote for one second: the output, the weight and why."""

    output: np.ndarray
    weight: np.ndarray
    fallback: bool
    """The check failed for the window ending with this second."""
    fallback_samples: np.ndarray
    """Samples where raw strain was (partly) written because of the check, incl. the taper back in."""
    band_ratio: float
    worst_out_of_band_ratio: float


@dataclass
class SafetyGate:
    """Compare cleaned and raw spectra over ``window`` seconds and fall back to raw when worse.

    Parameters
    ----------
    sample_rate
        Strain sample rate (1 s segments give 1 Hz bins).
    band
        The cleaning band in Hz.
    window
        Seconds in the sliding window.
    band_tolerance
        Largest accepted ASD ratio cleaned/raw of the total power in the band and its shoulders.
    out_of_band_tolerance
        Largest accepted ASD ratio in any 1 Hz bin of ``check_range`` outside the band and its shoulders.
    check_range
        Frequencies (Hz) checked outside the band.
    taper
        Seconds over which the subtraction fades out and back in.
    """

    sample_rate: int
    band: tuple[float, float]
    window: int = 8
    band_tolerance: float = 1.0
    out_of_band_tolerance: float = 1.05
    check_range: tuple[float, float] = (10.0, 1000.0)
    taper: float = 0.25
    enabled: bool = True
    _raw: deque = field(default_factory=deque, init=False, repr=False)
    _cleaned: deque = field(default_factory=deque, init=False, repr=False)
    _weight: float = field(default=1.0, init=False, repr=False)
    _was_fallback: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._hann = hann(self.sample_rate, sym=False)
        frequencies = np.fft.rfftfreq(self.sample_rate, 1.0 / self.sample_rate)
        low, high = self.band
        self._band_and_shoulders = (frequencies >= low - SHOULDER_HZ) & (frequencies <= high + SHOULDER_HZ)
        self._out_of_band = (
            (frequencies >= self.check_range[0])
            & (frequencies <= self.check_range[1])
            & ~self._band_and_shoulders
        )
        ramp = round(self.taper * self.sample_rate)
        self._ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / max(ramp, 1))

    def _power(self, samples: np.ndarray) -> np.ndarray:
        return np.abs(np.fft.rfft(samples * self._hann)) ** 2

    def process(self, raw: np.ndarray, noise: np.ndarray | None) -> SafetyDecision:
        """The output for one second of ``raw`` strain and its noise estimate (None: none)."""
        if noise is None:
            self._weight = 0.0  # fade the subtraction back in when the estimate returns
            self._was_fallback = False
            return SafetyDecision(
                raw.copy(),
                np.zeros(raw.size),
                False,
                np.zeros(raw.size, bool),
                1.0,
                1.0,
            )
        if not np.isfinite(noise).all():
            # A version that predicts NaN or inf: raw strain, flagged, never a poisoned output.
            self._weight, self._was_fallback = 0.0, True
            return SafetyDecision(
                raw.copy(),
                np.zeros(raw.size),
                True,
                np.ones(raw.size, bool),
                float("nan"),
                float("nan"),
            )
        if not np.isfinite(raw).all():
            # Bad strain samples stay what they are; they must not enter the spectral window.
            return SafetyDecision(
                raw - self._weight * noise,
                np.full(raw.size, self._weight),
                False,
                np.zeros(raw.size, bool),
                float("nan"),
                float("nan"),
            )
        raw_power = self._power(raw)
        cleaned_power = self._power(raw - noise)
        self._raw.append(raw_power)
        self._cleaned.append(cleaned_power)
        while len(self._raw) > self.window:
            self._raw.popleft()
            self._cleaned.popleft()
        raw_sum = np.sum(self._raw, axis=0)
        cleaned_sum = np.sum(self._cleaned, axis=0)
        band_ratio = float(
            np.sqrt(cleaned_sum[self._band_and_shoulders].sum() / raw_sum[self._band_and_shoulders].sum())
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            bins = np.sqrt(cleaned_sum[self._out_of_band] / raw_sum[self._out_of_band])
        worst = float(np.nanmax(bins)) if bins.size else 1.0
        fallback = self.enabled and (
            band_ratio > self.band_tolerance or worst > self.out_of_band_tolerance
        )
        weight = self._weights(0.0 if fallback else 1.0)
        if fallback or self._was_fallback:
            fallback_samples = weight < 1.0
        else:
            fallback_samples = np.zeros(raw.size, bool)
        self._was_fallback = fallback
        return SafetyDecision(
            raw - weight * noise, weight, fallback, fallback_samples, band_ratio, worst
        )

    def _weights(self, target: float) -> np.ndarray:
        """Per-sample subtraction weights moving from the last weight to ``target``."""
        weight = np.full(self.sample_rate, target)
        start = self._weight
        if start != target and self._ramp.size:
            weight[: self._ramp.size] = start + (target - start) * self._ramp
        self._weight = target
        return weight
