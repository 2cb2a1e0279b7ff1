"""Figures of merit of one cleaning, measured against the synthetic detector's truth.

Every figure is the shared library's (:mod:`deepclean.figures`, the ones the
safety gate, the monitor and the trainer report), taken over the whole test
span at the strain's own rate:

- ``removed_fraction``: ``1 - P_band(truth - subtracted) / P_band(truth)`` in
  the configured band, with ``subtracted = raw - cleaned``; ``removed_58_62``
  the same over 58-62 Hz (the mains band itself, whatever the configured band);
  ``residual_db`` the remaining power in dB;
- ``band_asd_ratio``: mean over the band's 1 Hz bins of ASD(cleaned)/ASD(raw);
- ``worst_out_of_band_ratio``: the largest ASD(cleaned)/ASD(raw) of a 1 Hz bin
  over ``out_of_band_range`` outside the band (the power added; 1 means nothing
  added) and its frequency; ``lowest_out_of_band_ratio`` the smallest (below 1
  where a method also removes the injected noise that spills outside the band);
  ``bins_with_noise_added``: bins the library's statistical rule
  (``judge_bins``, over all the test span's seconds) says had noise added;
- ``bns_range_mpc``: the sensemon BNS range (1.4 + 1.4 Msun) from a median
  Welch PSD (4 s) of the strain; ``range_gap_recovered``: the share of the
  range the targeted noise costs that the cleaning wins back,
  ``(cleaned - raw) / (noise-free - raw)``, the noise-free strain being raw
  minus the injected noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from deepclean.figures import BinPowers, judge_bins, removed_fraction, strain_bns_range_mpc
from deepclean.signal import psd

Band = tuple[float, float]
MAINS_BAND: Band = (58.0, 62.0)


@dataclass(frozen=True)
class Settings:
    """How the figures are computed."""

    sample_rate: int
    band: Band
    fftlength: float = 4.0
    out_of_band_range: Band = (10.0, 2000.0)


@dataclass(frozen=True)
class Quality:
    """The figures of one cleaned strain."""

    removed_fraction: float
    removed_58_62: float
    residual_db: float
    band_asd_ratio: float
    worst_out_of_band_ratio: float
    worst_out_of_band_frequency: float
    lowest_out_of_band_ratio: float
    bins_with_noise_added: list[float]
    bns_range_mpc: float
    range_gap_recovered: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Reference:
    """The raw and noise-free figures every method is compared with."""

    raw_range_mpc: float
    floor_range_mpc: float
    frequencies: np.ndarray
    raw_psd: np.ndarray
    floor_psd: np.ndarray

    def gap_recovered(self, cleaned_range: float) -> float:
        gap = self.floor_range_mpc - self.raw_range_mpc
        return float((cleaned_range - self.raw_range_mpc) / gap) if gap > 0 else float("nan")


def reference(raw: np.ndarray, truth: np.ndarray, settings: Settings) -> Reference:
    """Range and PSD of the raw strain and of the noise-free strain (raw minus the injected noise)."""
    frequencies, raw_psd = psd(raw, settings.sample_rate, settings.fftlength, average="median")
    _, floor_psd = psd(raw - truth, settings.sample_rate, settings.fftlength, average="median")
    return Reference(
        strain_bns_range_mpc(raw, settings.sample_rate, settings.fftlength),
        strain_bns_range_mpc(raw - truth, settings.sample_rate, settings.fftlength),
        frequencies,
        raw_psd,
        floor_psd,
    )


def measure(
    cleaned: np.ndarray, raw: np.ndarray, truth: np.ndarray, settings: Settings, ref: Reference
) -> tuple[Quality, np.ndarray]:
    """The figures of ``cleaned`` and its (median Welch) PSD."""
    rate, band = settings.sample_rate, settings.band
    subtracted = raw - cleaned
    removed = removed_fraction(truth, subtracted, rate, band, settings.fftlength)
    powers = BinPowers.of_strain(raw, cleaned, rate)
    judgement = judge_bins(powers, band, settings.out_of_band_range)
    frequencies = powers.frequencies
    outside = (
        (frequencies >= settings.out_of_band_range[0])
        & (frequencies <= settings.out_of_band_range[1])
        & ~((frequencies >= band[0]) & (frequencies <= band[1]))
    )
    ratios = powers.bin_asd_ratios()
    cleaned_range = strain_bns_range_mpc(cleaned, rate, settings.fftlength)
    _, density = psd(cleaned, rate, settings.fftlength, average="median")
    quality = Quality(
        removed_fraction=removed,
        removed_58_62=removed_fraction(truth, subtracted, rate, MAINS_BAND, settings.fftlength),
        residual_db=float(10 * np.log10(max(1.0 - removed, np.finfo(float).tiny))),
        band_asd_ratio=judgement.band_ratio,
        worst_out_of_band_ratio=judgement.worst_bin,
        worst_out_of_band_frequency=judgement.worst_bin_frequency,
        lowest_out_of_band_ratio=float(np.min(ratios[outside])),
        bins_with_noise_added=[f for f in judgement.failing_bins if not band[0] <= f <= band[1]],
        bns_range_mpc=cleaned_range,
        range_gap_recovered=ref.gap_recovered(cleaned_range),
    )
    return quality, density
