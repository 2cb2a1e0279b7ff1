"""Binary-neutron-star range of raw and cleaned strain, the figure detector engineers watch.

``gwpy.astro.sensemon_range`` (1.4 + 1.4 solar masses, SNR 8) on a window's
averaged PSD. gwpy is imported on first use: it takes seconds, and only the
reports need it.
"""

from __future__ import annotations

import numpy as np

from .spectra import SpectrumPair


def bns_range_mpc(frequencies: np.ndarray, psd: np.ndarray, fmin: float = 10.0) -> float:
    """The sensemon BNS range in Mpc of a one-sided strain PSD (1/Hz) on evenly spaced ``frequencies``."""
    from gwpy.astro import sensemon_range
    from gwpy.frequencyseries import FrequencySeries

    series = FrequencySeries(psd, f0=frequencies[0], df=frequencies[1] - frequencies[0], unit="1/Hz")
    return float(sensemon_range(series, fmin=fmin).to("Mpc").value)


def bns_ranges(spectra: SpectrumPair, fmin: float = 10.0) -> tuple[float, float]:
    """(raw, cleaned) BNS range in Mpc."""
    return (
        bns_range_mpc(spectra.frequencies, spectra.raw_psd, fmin),
        bns_range_mpc(spectra.frequencies, spectra.cleaned_psd, fmin),
    )
