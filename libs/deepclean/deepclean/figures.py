"""The figures that judge cleaning, defined once for every service and benchmark.

Everything here is measured on 1 s segments of strain with a Hann window, so a
frequency bin is 1 Hz wide; sums over a stretch of seconds are kept in a
:class:`BinPowers` (the safety gate keeps 8 s, the monitor 64 s, the trainer and
the benchmarks the whole span). From it:

=========================  ==================================================================
figure                     definition
=========================  ==================================================================
``bin_asd_ratios``         per 1 Hz bin, ``sqrt(sum |C|^2 / sum |R|^2)``: ASD(cleaned)/ASD(raw)
                           from mean-averaged periodograms (the power added or removed)
``band_asd_ratio``         mean of ``bin_asd_ratios`` over the bins of the target band
``added_noise_tolerance``  per bin, the largest ASD ratio still consistent with the cleaning
                           adding no noise: ``sqrt(1 + sigma * s / sum |R|^2)``, with ``s`` the
                           standard deviation of the raw x estimate cross term (below), and never
                           below ``1 + min_excess``
``bns_range_mpc``          sensemon binary-neutron-star range (1.4 + 1.4 Msun) of a PSD
``removed_fraction``       where the injected noise is known: ``1 - P_band(truth - estimate) /
                           P_band(truth)`` (:func:`deepclean.signal.fraction_removed`)
``optimal_snr``            a signal through the cleaning (:mod:`deepclean.signal.matched`): its SNR
                           ``sqrt(<h, h>)``; ``noise_weighted_mismatch`` is ``1 - <a, b> /
                           sqrt(<a, a> <b, b>)``, with the noise-weighted inner product (20-1000 Hz)
=========================  ==================================================================

Why the tolerance has that form: the cleaned strain is ``C = R - N`` (raw minus
the noise estimate), so per bin and segment ``|C|^2 = |R|^2 + |N|^2 - 2 Re(R N*)``.
Where the estimate matches noise that is in the raw strain the cross term
exceeds ``|N|^2`` and the ratio falls below 1. Where the estimate is unrelated
to the raw strain the cross term has mean zero and, for Gaussian raw noise,
variance ``|N|^2 |R|^2 / 2``; summed over the segments, ``2 Re(R N*)`` has the
standard deviation ``s = sqrt(2 sum |N|^2 |R|^2)``. A bin is judged to have had
noise added when its cleaned power exceeds the raw power by more than
``sigma`` such deviations: a carrier removed next door cannot hide it (each
bin stands alone), and a small estimate that happens to be correlated with the
raw strain over a short window does not trip it. ``min_excess`` keeps bins
where the estimate is negligible (the change is far below anything that
matters) from tripping on the last digit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal.windows import hann

from .signal import fraction_removed
from .signal.matched import noise_weighted_mismatch, optimal_snr

__all__ = [
    "BinJudgement",
    "BinPowers",
    "SecondSpectra",
    "bns_range_mpc",
    "family_sigma",
    "fraction_removed",
    "judge_bins",
    "range_lost",
    "noise_weighted_mismatch",
    "optimal_snr",
    "removed_fraction",
    "bins_judged",
    "second_spectra",
    "strain_bns_range_mpc",
]

SEGMENT_SECONDS = 1.0
"""Length of the segments every per-bin figure is measured on (1 Hz bins)."""

DEFAULT_SIGMA = 3.0
"""One-sided normal threshold of a false trip per judgement (:func:`family_sigma` turns it into a per-bin one)."""

DEFAULT_MIN_EXCESS = 0.005
"""ASD ratios up to ``1 + DEFAULT_MIN_EXCESS`` never count as noise added."""

SHOULDER_HZ = 4.0
"""Width (Hz) of the shoulders either side of the band that :func:`judge_bins` also judges as groups."""

RANGE_FMIN = 10.0
"""Lowest frequency (Hz) of the BNS range integral."""

RANGE_TOLERANCE = 1e-4
"""A cleaned BNS range this fraction below raw still counts as not below it: a model that removes
a line far above the noise floor gains no range, and its figure then differs from raw only in the
last digits of the estimate's cross terms with the raw strain (~1e-6)."""

removed_fraction = fraction_removed


@dataclass(frozen=True)
class SecondSpectra:
    """Periodograms of one 1 s segment: raw, cleaned, the product of raw and estimate powers, the estimate."""

    raw: np.ndarray
    cleaned: np.ndarray
    noise_raw: np.ndarray
    noise: np.ndarray | None = None

    def first(self, bins: int | None) -> SecondSpectra:
        """The same periodograms cut to their ``bins`` lowest bins (see :func:`bins_judged`; None: all)."""
        noise = None if self.noise is None else self.noise[:bins]
        return SecondSpectra(self.raw[:bins], self.cleaned[:bins], self.noise_raw[:bins], noise)


_WINDOWS: dict[int, np.ndarray] = {}


def _window(size: int) -> np.ndarray:
    window = _WINDOWS.get(size)
    if window is None:
        window = _WINDOWS[size] = hann(size, sym=False)
    return window


def second_spectra(raw: np.ndarray, noise: np.ndarray) -> SecondSpectra:
    """The :class:`SecondSpectra` of one second: ``raw`` strain and the ``noise`` estimate subtracted from it.

    Both hold one second of samples at the strain rate. The cleaned strain is ``raw - noise``.
    """
    raw = np.asarray(raw, dtype=float)
    noise = np.asarray(noise, dtype=float)
    if raw.shape != noise.shape or raw.ndim != 1:
        raise ValueError(f"raw {raw.shape} and noise {noise.shape} must be the same one-dimensional second")
    window = _window(raw.size)
    raw_fft = np.fft.rfft(raw * window)
    noise_fft = np.fft.rfft(noise * window)
    raw_power = raw_fft.real**2 + raw_fft.imag**2
    noise_power = noise_fft.real**2 + noise_fft.imag**2
    cleaned_fft = raw_fft - noise_fft
    return SecondSpectra(raw_power, cleaned_fft.real**2 + cleaned_fft.imag**2, raw_power * noise_power, noise_power)


@dataclass(frozen=True)
class BinPowers:
    """Sums of :class:`SecondSpectra` over ``seconds`` one-second segments at ``sample_rate``."""

    sample_rate: int
    seconds: int
    raw: np.ndarray
    cleaned: np.ndarray
    noise_raw: np.ndarray
    noise: np.ndarray | None = None
    """Summed periodograms of the estimate (None: not kept)."""

    @classmethod
    def of(cls, seconds: Iterable[SecondSpectra], sample_rate: int) -> BinPowers:
        """The sums over ``seconds`` (at least one)."""
        seconds = list(seconds)
        if not seconds:
            raise ValueError("BinPowers needs at least one second")
        return cls(
            int(sample_rate),
            len(seconds),
            np.sum([s.raw for s in seconds], axis=0),
            np.sum([s.cleaned for s in seconds], axis=0),
            np.sum([s.noise_raw for s in seconds], axis=0),
            _sum_or_none([s.noise for s in seconds]),
        )

    @classmethod
    def total(cls, parts: Iterable[BinPowers]) -> BinPowers:
        """The sums of ``parts`` (at least one, all at one sample rate) taken together."""
        parts = list(parts)
        if not parts:
            raise ValueError("BinPowers.total needs at least one part")
        rates = {p.sample_rate for p in parts}
        if len(rates) > 1:
            raise ValueError(f"cannot add BinPowers at different sample rates {sorted(rates)}")
        return cls(
            parts[0].sample_rate,
            sum(p.seconds for p in parts),
            np.sum([p.raw for p in parts], axis=0),
            np.sum([p.cleaned for p in parts], axis=0),
            np.sum([p.noise_raw for p in parts], axis=0),
            _sum_or_none([p.noise for p in parts]),
        )

    @classmethod
    def of_strain(cls, raw: np.ndarray, cleaned: np.ndarray, sample_rate: int) -> BinPowers:
        """The sums over every whole second of ``raw`` and ``cleaned`` strain (same length and rate)."""
        raw = np.asarray(raw, dtype=float)
        cleaned = np.asarray(cleaned, dtype=float)
        if raw.shape != cleaned.shape:
            raise ValueError(f"raw {raw.shape} and cleaned {cleaned.shape} strain differ in length")
        rate = int(sample_rate)
        count = raw.size // rate
        if count < 1:
            raise ValueError(f"{raw.size} samples at {rate} Hz hold no whole second")
        return cls.of(
            (
                second_spectra(
                    raw[i * rate : (i + 1) * rate], raw[i * rate : (i + 1) * rate] - cleaned[i * rate : (i + 1) * rate]
                )
                for i in range(count)
            ),
            rate,
        )

    @property
    def frequencies(self) -> np.ndarray:
        """Bin centres in Hz (1 Hz apart, from 0)."""
        return np.arange(self.raw.size) / SEGMENT_SECONDS

    def bin_asd_ratios(self) -> np.ndarray:
        """ASD(cleaned)/ASD(raw) in every bin (1 where the raw power is zero)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.sqrt(self.cleaned / self.raw)
        return np.where(self.raw > 0, ratios, 1.0)

    def _in_band(self, band: Sequence[float]) -> np.ndarray:
        in_band = (self.frequencies >= band[0]) & (self.frequencies <= band[1])
        if not in_band.any():
            raise ValueError(f"no 1 Hz bin in band {list(band)}")
        return in_band

    def band_ratio(self, band: Sequence[float]) -> float:
        """``band_asd_ratio``: the mean of :meth:`bin_asd_ratios` over the 1 Hz bins of ``band``."""
        return float(np.mean(self.bin_asd_ratios()[self._in_band(band)]))

    def band_power_ratio(self, band: Sequence[float]) -> float:
        """The cleaned strain's power over the raw strain's, summed over the 1 Hz bins of ``band``: what is
        left of the band's power, weighted like the in-band removal (by the line, where most of it is)."""
        in_band = self._in_band(band)
        return float(self.cleaned[in_band].sum() / self.raw[in_band].sum())

    def could_add(self, min_excess: float = DEFAULT_MIN_EXCESS) -> np.ndarray:
        """Bins where the estimate is large enough to raise the ASD by more than ``min_excess``
        at all: ``|R - N| <= |R| + |N|``, so that needs ``sqrt(P_N / P_R) > min_excess``.
        Without the estimate's own powers (``noise`` None), every bin it touches."""
        if self.noise is None:
            return self.noise_raw > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.raw > 0, self.noise / self.raw > min_excess**2, self.noise > 0)

    def added_noise_tolerance(self, sigma: float = DEFAULT_SIGMA, min_excess: float = DEFAULT_MIN_EXCESS) -> np.ndarray:
        """Per bin, the largest ASD ratio consistent with no noise added (see the module docstring)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.where(self.raw > 0, np.sqrt(2.0 * self.noise_raw) / self.raw, 0.0)
        return np.maximum(np.sqrt(1.0 + sigma * spread), 1.0 + min_excess)

    def psd(self, which: str = "raw") -> np.ndarray:
        """One-sided PSD (strain^2/Hz) of the ``raw`` or ``cleaned`` strain: the mean periodogram."""
        power = {"raw": self.raw, "cleaned": self.cleaned}[which]
        window = _window(round(self.sample_rate * SEGMENT_SECONDS))
        density = 2.0 * power / (self.seconds * self.sample_rate * np.sum(window**2))
        density[0] /= 2.0
        if window.size % 2 == 0:
            density[-1] /= 2.0
        return density

    def bns_range_mpc(self, which: str = "raw", fmin: float = RANGE_FMIN) -> float:
        """:func:`bns_range_mpc` of the ``raw`` or ``cleaned`` strain's PSD."""
        return bns_range_mpc(self.frequencies, self.psd(which), fmin)


def bns_range_mpc(frequencies: np.ndarray, psd: np.ndarray, fmin: float = RANGE_FMIN) -> float:
    """Sensemon BNS range (Mpc, 1.4 + 1.4 Msun) of a one-sided PSD (``gwpy.astro.sensemon_range``)."""
    from gwpy.astro import sensemon_range
    from gwpy.frequencyseries import FrequencySeries

    keep = frequencies > 0
    series = FrequencySeries(psd[keep], frequencies=frequencies[keep], unit="1/Hz")
    return float(sensemon_range(series, fmin=fmin).value)


def range_lost(raw_range: float, cleaned_range: float, tolerance: float = RANGE_TOLERANCE) -> bool:
    """The cleaned BNS range is below the raw one by more than ``tolerance`` (a fraction)."""
    return cleaned_range < raw_range * (1.0 - tolerance)


def strain_bns_range_mpc(
    strain: np.ndarray, sample_rate: float, fftlength: float = 4.0, fmin: float = RANGE_FMIN
) -> float:
    """BNS range of a long stretch of strain from a median-averaged Welch PSD (glitch-robust)."""
    from .signal import psd

    frequencies, density = psd(strain, sample_rate, fftlength, average="median")
    return bns_range_mpc(frequencies, density, fmin)


@dataclass(frozen=True)
class BinJudgement:
    """What :func:`judge_bins` found: the figures and every bin that failed."""

    band_ratio: float
    """Mean ASD ratio over the band's bins (must be at most ``band_tolerance``)."""
    worst_band_bin: float
    """Largest ASD ratio of a bin in the band."""
    worst_bin: float
    """Largest ASD ratio of a checked bin outside the band."""
    worst_bin_frequency: float
    failing_bins: tuple[float, ...]
    """Centres (Hz) of the bins, in or out of the band, where noise was added."""
    failing_ratios: tuple[float, ...]
    band_failed: bool
    """The band's mean ratio exceeds its tolerance."""

    @property
    def passed(self) -> bool:
        """No bin added noise and the band's mean ratio is within tolerance."""
        return not self.failing_bins and not self.band_failed

    def describe(self) -> str:
        """One line for a log: what failed, with the bins."""
        parts = []
        if self.band_failed:
            parts.append(f"band ASD ratio {self.band_ratio:.4f} above tolerance")
        if self.failing_bins:
            shown = ", ".join(
                f"{f:g} Hz x{r:.3f}" for f, r in zip(self.failing_bins[:8], self.failing_ratios[:8], strict=False)
            )
            more = f" (+{len(self.failing_bins) - 8} more)" if len(self.failing_bins) > 8 else ""
            parts.append(f"noise added in {len(self.failing_bins)} bin(s): {shown}{more}")
        return "; ".join(parts) or "passed"


def judge_bins(
    powers: BinPowers,
    band: Sequence[float],
    check_range: Sequence[float],
    sigma: float = DEFAULT_SIGMA,
    min_excess: float = DEFAULT_MIN_EXCESS,
    band_tolerance: float = 1.0,
    shoulder_hz: float = SHOULDER_HZ,
) -> BinJudgement:
    """Judge every 1 Hz bin of ``check_range`` and the band's mean ratio.

    A bin fails when its ASD ratio exceeds :meth:`BinPowers.added_noise_tolerance`
    (bins in the band included) at the threshold :func:`family_sigma` gives for
    ``sigma`` and the number of bins judged where the estimate could raise the
    ASD by more than ``min_excess`` at all (:meth:`BinPowers.could_add`): ``sigma``
    is the chance of a false trip per judgement, not per bin, whether the
    estimate reaches 20 bins or 2000. The band fails when the mean ASD ratio over its
    bins exceeds ``band_tolerance``. The ``shoulder_hz`` either side of the band
    are also judged as two groups, with the same rule applied to their summed
    powers: there the bins above ``1 + min_excess`` fail when the group does.
    """
    low, high = band
    if not low < high:
        raise ValueError(f"band {list(band)} must have low < high")
    frequencies = powers.frequencies
    ratios = powers.bin_asd_ratios()
    in_band = (frequencies >= low) & (frequencies <= high)
    checked = (frequencies >= check_range[0]) & (frequencies <= check_range[1])
    if not in_band.any():
        raise ValueError(f"no 1 Hz bin in band {list(band)}")
    sigma = family_sigma(sigma, int(np.sum((checked | in_band) & powers.could_add(min_excess))))
    tolerance = powers.added_noise_tolerance(sigma, min_excess)
    outside = checked & ~in_band
    band_ratio = float(np.mean(ratios[in_band]))
    failing = (checked | in_band) & (ratios > tolerance)
    for shoulder in (
        (frequencies >= low - shoulder_hz) & (frequencies < low),
        (frequencies > high) & (frequencies <= high + shoulder_hz),
    ):
        # Noise spread over a shoulder is judged as a whole too: a few bins each a little too
        # high over a short window are as clear a sign as one bin far too high.
        if shoulder.any() and _added_together(powers, shoulder, sigma, min_excess):
            failing |= shoulder & (ratios > 1.0 + min_excess)
    if outside.any():
        worst_index = int(np.flatnonzero(outside)[np.argmax(ratios[outside])])
        worst, worst_frequency = float(ratios[worst_index]), float(frequencies[worst_index])
    else:
        worst, worst_frequency = 1.0, float("nan")
    return BinJudgement(
        band_ratio=band_ratio,
        worst_band_bin=float(np.max(ratios[in_band])),
        worst_bin=worst,
        worst_bin_frequency=worst_frequency,
        failing_bins=tuple(float(f) for f in frequencies[failing]),
        failing_ratios=tuple(float(r) for r in ratios[failing]),
        band_failed=band_ratio > band_tolerance,
    )


def bins_judged(band: Sequence[float], check_range: Sequence[float], shoulder_hz: float = SHOULDER_HZ) -> int | None:
    """How many bins, from 0 Hz up, :func:`judge_bins` reads for ``band`` and ``check_range``.

    Spectra cut to these (:meth:`SecondSpectra.first`) are judged exactly as whole ones, at a
    fraction of the cost when the strain rate's Nyquist frequency lies far above ``check_range``.
    None: every bin (a range without a finite top).
    """
    top = max(check_range[1], band[1] + shoulder_hz) * SEGMENT_SECONDS
    return int(np.floor(top)) + 1 if np.isfinite(top) else None


def _sum_or_none(arrays: list[np.ndarray | None]) -> np.ndarray | None:
    return None if any(a is None for a in arrays) else np.sum(arrays, axis=0)


def family_sigma(sigma: float, bins: int) -> float:
    """The per-bin threshold that keeps the chance of any of ``bins`` bins passing it by chance at
    the one-bin chance of ``sigma`` (one-sided normal tails, Bonferroni)."""
    # scipy.special's normal tails directly: scipy.stats.norm computes the same through the same
    # functions, with an argument check that cost the safety gate a quarter of its time per second
    from scipy.special import ndtr, ndtri

    return float(-ndtri(ndtr(-sigma) / max(int(bins), 1)))


def _added_together(powers: BinPowers, bins: np.ndarray, sigma: float, min_excess: float) -> bool:
    """The rule of :meth:`BinPowers.added_noise_tolerance` applied to the summed powers of ``bins``."""
    raw = float(np.sum(powers.raw[bins]))
    if raw <= 0:
        return False
    ratio = np.sqrt(float(np.sum(powers.cleaned[bins])) / raw)
    spread = np.sqrt(2.0 * float(np.sum(powers.noise_raw[bins]))) / raw
    return bool(ratio > max(np.sqrt(1.0 + sigma * spread), 1.0 + min_excess))
