"""Spectra of one stretch of raw and cleaned strain, and the figures taken from them.

The quality of a model is ``ASD(cleaned) / ASD(raw)``: in the target band it
says how much of the noise was removed (lower is better, 1 is nothing), and
outside the band it must stay at 1 (cleaning must not add noise anywhere).
The figures follow the definitions of ``deepclean.signal`` but start from
PSDs, because the monitor averages the PSDs of a window's segments first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import welch


@dataclass(frozen=True)
class SpectrumPair:
    """Welch PSDs of raw and cleaned strain over the same stretch of data."""

    frequencies: np.ndarray
    raw_psd: np.ndarray
    cleaned_psd: np.ndarray


def spectrum_pair(raw: np.ndarray, cleaned: np.ndarray, sample_rate: float, fftlength: float) -> SpectrumPair:
    """PSDs of ``raw`` and ``cleaned`` (same length and rate) with Welch's method.

    Hann windows of ``fftlength`` seconds overlapping by half, averaged with
    the mean (not the median, which would vote a short burst of added noise away).
    """
    if raw.shape != cleaned.shape:
        raise ValueError(f"raw ({raw.shape}) and cleaned ({cleaned.shape}) strain differ in length")
    nperseg = int(round(fftlength * sample_rate))
    if nperseg > len(raw):
        raise ValueError(f"{len(raw) / sample_rate:g} s of data is shorter than fftlength {fftlength:g} s")
    frequencies, raw_psd = welch(raw, fs=sample_rate, nperseg=nperseg, noverlap=nperseg // 2, average="mean")
    _, cleaned_psd = welch(cleaned, fs=sample_rate, nperseg=nperseg, noverlap=nperseg // 2, average="mean")
    return SpectrumPair(frequencies, raw_psd, cleaned_psd)


def band_asd_ratio(pair: SpectrumPair, band: tuple[float, float]) -> float:
    """Mean over the bins of ``band`` (inclusive) of ``ASD_cleaned / ASD_raw``.

    The definition of ``deepclean.signal.band_asd_ratio``, applied to PSDs
    already averaged over a window.
    """
    in_band = _band_mask(pair.frequencies, band) & (pair.raw_psd > 0)
    if not in_band.any():
        raise ValueError(f"no frequency bin in band {band}")
    return float(np.mean(np.sqrt(pair.cleaned_psd[in_band] / pair.raw_psd[in_band])))


def out_of_band_ratios(
    pair: SpectrumPair, band: tuple[float, float], frequency_range: tuple[float, float], bin_width: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``sqrt(mean PSD_cleaned / mean PSD_raw)`` in bins of ``bin_width`` Hz outside ``band``.

    As ``deepclean.signal.out_of_band_ratios``: bins touching the band are left
    out, and averaging the PSDs over each bin keeps Welch scatter out of the figure.
    """
    frequencies = pair.frequencies
    low, high = frequency_range
    count = int(round((high - low) / bin_width))
    index = np.floor((frequencies - low) / bin_width).astype(int)
    used = (frequencies >= low) & (index < count)
    bins = np.bincount(index[used], minlength=count)
    raw_power = np.bincount(index[used], weights=pair.raw_psd[used], minlength=count)
    cleaned_power = np.bincount(index[used], weights=pair.cleaned_psd[used], minlength=count)
    starts = low + bin_width * np.arange(count)
    keep = (bins > 0) & (raw_power > 0) & ~((starts <= band[1]) & (starts + bin_width >= band[0]))
    if not keep.any():
        raise ValueError(f"no frequency bin in {frequency_range} outside band {band}")
    return starts[keep] + bin_width / 2, np.sqrt(cleaned_power[keep] / raw_power[keep])


def worst_out_of_band_ratio(
    pair: SpectrumPair, band: tuple[float, float], frequency_range: tuple[float, float], bin_width: float = 1.0
) -> float:
    """The largest out-of-band ratio: how much noise the cleaning adds (1: none)."""
    _, ratios = out_of_band_ratios(pair, band, frequency_range, bin_width)
    return float(ratios.max())


def _band_mask(frequencies: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    return (frequencies >= band[0]) & (frequencies <= band[1])
