"""Spectra of one stretch of raw and cleaned strain, and the figures taken from them.

The quality of a model is ``ASD(cleaned) / ASD(raw)``: in the target band it
says how much of the noise was removed (lower is better, 1 is nothing), and
outside the band it must stay at 1 (cleaning must not add noise anywhere).
The monitor averages the PSDs of a window's segments first, then takes the
figures of ``deepclean.signal`` from the averaged PSDs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from deepclean.signal import band_asd_ratio_of_psds, out_of_band_ratios_of_psds, psd


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
    frequencies, raw_psd = psd(raw, sample_rate, fftlength, average="mean")
    _, cleaned_psd = psd(cleaned, sample_rate, fftlength, average="mean")
    return SpectrumPair(frequencies, raw_psd, cleaned_psd)


def band_asd_ratio(pair: SpectrumPair, band: tuple[float, float]) -> float:
    """Mean over the bins of ``band`` of ``ASD_cleaned / ASD_raw`` (``deepclean.signal`` definition)."""
    return band_asd_ratio_of_psds(pair.frequencies, pair.cleaned_psd, pair.raw_psd, band)


def worst_out_of_band_ratio(
    pair: SpectrumPair, band: tuple[float, float], frequency_range: tuple[float, float], bin_width: float = 1.0
) -> float:
    """The largest out-of-band ratio in ``bin_width`` Hz bins: how much noise the cleaning adds (1: none).

    The largest, not the one furthest from 1 as ``deepclean.signal.worst_out_of_band_ratio``
    reports: a decision must see added noise even where another bin lost some.
    """
    _, ratios = out_of_band_ratios_of_psds(
        pair.frequencies, pair.cleaned_psd, pair.raw_psd, band, frequency_range, bin_width
    )
    return float(ratios.max())
