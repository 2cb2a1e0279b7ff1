"""Noise-weighted inner products of strain signals: optimal SNR and mismatch.

For real series ``a`` and ``b`` of equal length at ``sample_rate`` and a
one-sided noise PSD ``S(f)``::

    <a, b> = 4 Re sum_{f_low <= f <= f_high} A(f) B*(f) / S(f) df

with ``A = rfft(a) / sample_rate`` (the continuous Fourier transform) and
``df = sample_rate / len(a)``. From it:

- the optimal SNR of a signal ``h``: ``sqrt(<h, h>)``;
- the noise-weighted mismatch of ``a`` against ``b``:
  ``1 - <a, b> / sqrt(<a, a> <b, b>)``, 0 for identical shapes. It is not
  maximised over time or phase shifts, so a signal that is delayed or whose
  phase is turned counts as mismatched (the fidelity of a cleaned signal must
  hold sample by sample).

The series are transformed as they are (no window): give spans that hold the
whole signal with zeros, or tapered ends, on both sides.
"""

from __future__ import annotations

import numpy as np

DEFAULT_BAND = (20.0, 1000.0)
"""Frequencies (Hz) the inner products run over unless told otherwise."""

__all__ = ["DEFAULT_BAND", "inner_product", "noise_weighted_mismatch", "optimal_snr"]


def _weights(
    size: int, sample_rate: float, psd: np.ndarray, psd_frequencies: np.ndarray | None, band: tuple[float, float]
) -> np.ndarray:
    """``4 df / S(f)`` on the rfft grid of ``size`` samples, zero outside ``band``."""
    low, high = band
    if not 0.0 <= low < high:
        raise ValueError(f"band {list(band)} must have 0 <= low < high")
    frequencies = np.fft.rfftfreq(size, 1.0 / sample_rate)
    psd = np.asarray(psd, dtype=float)
    if psd_frequencies is None:
        if psd.shape != frequencies.shape:
            raise ValueError(
                f"psd has {psd.size} values but the rfft of {size} samples has {frequencies.size} frequencies; "
                "pass psd_frequencies to interpolate"
            )
        on_grid = psd
    else:
        psd_frequencies = np.asarray(psd_frequencies, dtype=float)
        if psd_frequencies.shape != psd.shape:
            raise ValueError(f"psd ({psd.size}) and psd_frequencies ({psd_frequencies.size}) differ in length")
        if psd_frequencies[0] > low or psd_frequencies[-1] < min(high, frequencies[-1]):
            raise ValueError(
                f"the psd covers {psd_frequencies[0]:g}-{psd_frequencies[-1]:g} Hz, not the band {low:g}-{high:g} Hz"
            )
        on_grid = np.interp(frequencies, psd_frequencies, psd)
    inside = (frequencies >= low) & (frequencies <= high)
    if not inside.any():
        raise ValueError(f"no frequency of a {size}-sample rfft at {sample_rate:g} Hz lies in {list(band)}")
    if np.any(on_grid[inside] <= 0) or not np.all(np.isfinite(on_grid[inside])):
        raise ValueError("the psd must be positive and finite over the band")
    weights = np.zeros(frequencies.size)
    weights[inside] = 4.0 * (sample_rate / size) / on_grid[inside]
    return weights


def _spectrum(x: np.ndarray, sample_rate: float) -> np.ndarray:
    return np.fft.rfft(np.asarray(x, dtype=float)) / sample_rate


def inner_product(
    a: np.ndarray,
    b: np.ndarray,
    psd: np.ndarray,
    sample_rate: float,
    psd_frequencies: np.ndarray | None = None,
    band: tuple[float, float] = DEFAULT_BAND,
) -> float:
    """The noise-weighted inner product ``<a, b>`` (see the module docstring).

    Parameters
    ----------
    a, b
        Real series of the same length at ``sample_rate``.
    psd
        One-sided noise PSD (strain^2/Hz): on the rfft grid of ``a`` when
        ``psd_frequencies`` is None, else sampled at ``psd_frequencies`` and
        interpolated linearly.
    sample_rate
        Sample rate of ``a`` and ``b`` (Hz).
    psd_frequencies
        Frequencies (Hz) of ``psd``, increasing.
    band
        Lowest and highest frequency (Hz) summed over.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a {a.shape} and b {b.shape} must be one-dimensional and of the same length")
    weights = _weights(a.size, sample_rate, psd, psd_frequencies, band)
    return float(np.sum(weights * (_spectrum(a, sample_rate) * np.conj(_spectrum(b, sample_rate))).real))


def optimal_snr(
    h: np.ndarray,
    psd: np.ndarray,
    sample_rate: float,
    psd_frequencies: np.ndarray | None = None,
    band: tuple[float, float] = DEFAULT_BAND,
) -> float:
    """The optimal SNR ``sqrt(<h, h>)`` of the signal ``h`` in noise of one-sided PSD ``psd``.

    Parameters are those of :func:`inner_product`.

    Examples
    --------
    White noise of one-sided PSD ``2 / fs`` has unit variance per sample; a
    1 s sinusoid of amplitude ``A`` at 100 Hz then has an SNR of about
    ``A * sqrt(fs / 2)``:

    >>> fs = 4096
    >>> t = np.arange(fs) / fs
    >>> psd = np.full(fs // 2 + 1, 2.0 / fs)
    >>> round(optimal_snr(0.1 * np.sin(2 * np.pi * 100 * t), psd, fs), 2)
    4.53
    """
    return float(np.sqrt(max(inner_product(h, h, psd, sample_rate, psd_frequencies, band), 0.0)))


def noise_weighted_mismatch(
    a: np.ndarray,
    b: np.ndarray,
    psd: np.ndarray,
    sample_rate: float,
    psd_frequencies: np.ndarray | None = None,
    band: tuple[float, float] = DEFAULT_BAND,
) -> float:
    """``1 - <a, b> / sqrt(<a, a> <b, b>)``: 0 when ``a`` and ``b`` have the same shape.

    Not maximised over time or phase (see the module docstring). The overall
    scale does not enter: compare amplitudes with :func:`optimal_snr`. When
    either series has no power in the band the mismatch is 1.

    Parameters are those of :func:`inner_product`.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a {a.shape} and b {b.shape} must be one-dimensional and of the same length")
    weights = _weights(a.size, sample_rate, psd, psd_frequencies, band)
    spectrum_a, spectrum_b = _spectrum(a, sample_rate), _spectrum(b, sample_rate)
    aa = float(np.sum(weights * np.abs(spectrum_a) ** 2))
    bb = float(np.sum(weights * np.abs(spectrum_b) ** 2))
    if aa <= 0 or bb <= 0:
        return 1.0
    ab = float(np.sum(weights * (spectrum_a * np.conj(spectrum_b)).real))
    return 1.0 - ab / np.sqrt(aa * bb)
