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

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

DEFAULT_BAND = (20.0, 1000.0)
"""Frequencies (Hz) the inner products run over unless told otherwise."""

__all__ = ["DEFAULT_BAND", "inner_product", "noise_weighted_mismatch", "optimal_snr"]

_NAME_AND_DOCSTRING = ("__module__", "__name__", "__qualname__", "__doc__")
"""What a made function takes from the one it is made from (not its annotations, which are of other parameters)."""


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


def _of_two_series(reduce: Callable[[np.ndarray, np.ndarray, np.ndarray], float]) -> Callable[..., float]:
    """Make ``reduce(weights, spectrum_a, spectrum_b)`` a function of two series and their noise.

    Parameters
    ----------
    reduce
        Works a figure out of the weights of :func:`_weights` and the spectra of ``a`` and ``b``.

    Returns
    -------
    function
        Takes the parameters documented in :func:`inner_product`; has ``reduce``'s name and docstring.
    """

    @functools.wraps(reduce, assigned=_NAME_AND_DOCSTRING)
    def of_two_series(
        a: np.ndarray,
        b: np.ndarray,
        psd: np.ndarray,
        sample_rate: float,
        psd_frequencies: np.ndarray | None = None,
        band: tuple[float, float] = DEFAULT_BAND,
    ) -> float:
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        if a.shape != b.shape or a.ndim != 1:
            raise ValueError(f"a {a.shape} and b {b.shape} must be one-dimensional and of the same length")
        weights = _weights(a.size, sample_rate, psd, psd_frequencies, band)
        return reduce(weights, _spectrum(a, sample_rate), _spectrum(b, sample_rate))

    # help() and inspect.signature show these parameters, not those of reduce
    of_two_series.__signature__ = inspect.signature(of_two_series, follow_wrapped=False)
    return of_two_series


@_of_two_series
def inner_product(weights: np.ndarray, spectrum_a: np.ndarray, spectrum_b: np.ndarray) -> float:
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
    return float(np.sum(weights * (spectrum_a * np.conj(spectrum_b)).real))


def optimal_snr(h: np.ndarray, *noise: Any, **noise_options: Any) -> float:
    """The optimal SNR ``sqrt(<h, h>)`` of the signal ``h`` in noise of one-sided PSD ``psd``.

    Parameters
    ----------
    h
        The signal: a real series at ``sample_rate``.
    *noise, **noise_options
        ``psd``, ``sample_rate``, ``psd_frequencies`` and ``band``, as in :func:`inner_product`.

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
    return float(np.sqrt(max(inner_product(h, h, *noise, **noise_options), 0.0)))


@_of_two_series
def noise_weighted_mismatch(weights: np.ndarray, spectrum_a: np.ndarray, spectrum_b: np.ndarray) -> float:
    """``1 - <a, b> / sqrt(<a, a> <b, b>)``: 0 when ``a`` and ``b`` have the same shape.

    Not maximised over time or phase (see the module docstring). The overall
    scale does not enter: compare amplitudes with :func:`optimal_snr`. When
    either series has no power in the band the mismatch is 1.

    Parameters are those of :func:`inner_product`.
    """
    aa = float(np.sum(weights * np.abs(spectrum_a) ** 2))
    bb = float(np.sum(weights * np.abs(spectrum_b) ** 2))
    if aa <= 0 or bb <= 0:
        return 1.0
    ab = float(np.sum(weights * (spectrum_a * np.conj(spectrum_b)).real))
    return 1.0 - ab / np.sqrt(aa * bb)
