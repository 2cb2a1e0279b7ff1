"""Amplitude spectral densities and the band figures that judge cleaning.

- :func:`asd`: Welch ASD (median or mean average).
- :func:`band_asd_ratio`: mean of ASD(cleaned)/ASD(raw) over the frequency bins
  of a band (lower is better; 1 means nothing removed).
- :func:`out_of_band_ratios` / :func:`worst_out_of_band_ratio`: the same
  ratio outside the band, in bins of about 1 Hz (PSDs averaged over each bin
  before the ratio, which keeps Welch scatter out of the figure); cleaning
  must leave these at 1.
- ``*_of_psds`` variants take PSDs already computed (a monitor averaging the
  PSDs of a sliding window).
- :func:`fraction_removed` and :func:`residual_db`: how much of a known
  injected noise's in-band power an estimate removes,
  ``1 - P_band(truth - estimate) / P_band(truth)``, and the residual power in dB.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Literal, ParamSpec, TypeVar

import numpy as np
from scipy.signal import welch

__all__ = [
    "asd",
    "band_asd_ratio",
    "band_asd_ratio_of_psds",
    "band_power",
    "fraction_removed",
    "out_of_band_ratios",
    "out_of_band_ratios_of_psds",
    "psd",
    "residual_db",
    "worst_out_of_band_ratio",
]

Average = Literal["median", "mean"]

_Parameters = ParamSpec("_Parameters")
_Result = TypeVar("_Result")
_Derived = TypeVar("_Derived")
_NAME_AND_DOCSTRING = ("__module__", "__name__", "__qualname__", "__doc__")
"""What a made function takes from the one it is made from (not its annotations, which are of other parameters)."""


def _of_result(
    base: Callable[_Parameters, _Result],
) -> Callable[[Callable[[_Result], _Derived]], Callable[_Parameters, _Derived]]:
    """Make the decorated ``finish(result)`` into ``finish(base(...))``, a function of ``base``'s arguments.

    Parameters
    ----------
    base
        The figure the decorated function is worked out from.

    Returns
    -------
    decorator
        Gives a function with the name, docstring and return type of the decorated function and
        the parameters of ``base`` (as :func:`inspect.signature` and ``help`` show them).
    """

    def decorate(finish: Callable[[_Result], _Derived]) -> Callable[_Parameters, _Derived]:
        @functools.wraps(finish, assigned=_NAME_AND_DOCSTRING)
        def derived(*args: _Parameters.args, **kwargs: _Parameters.kwargs) -> _Derived:
            return finish(base(*args, **kwargs))

        return_annotation = inspect.signature(finish).return_annotation
        derived.__signature__ = inspect.signature(base).replace(return_annotation=return_annotation)
        return derived

    return decorate


def psd(
    data: np.ndarray,
    sample_rate: float,
    fftlength: float = 4.0,
    overlap: float | None = None,
    average: Average = "median",
) -> tuple[np.ndarray, np.ndarray]:
    """Welch one-sided PSD with a Hann window.

    Parameters
    ----------
    data
        Samples (last axis is time).
    sample_rate
        Hz.
    fftlength
        Length of each FFT segment, seconds (frequency resolution 1/fftlength).
    overlap
        Overlap of segments, seconds (default half a segment).
    average
        ``"median"`` (robust to glitches, bias-corrected by scipy) or ``"mean"``.

    Returns
    -------
    frequencies, psd
        Frequencies in Hz and the PSD in units²/Hz.
    """
    data = np.asarray(data, dtype=float)
    nperseg = round(fftlength * sample_rate)
    if nperseg < 2:
        raise ValueError(f"fftlength {fftlength} s is shorter than two samples at {sample_rate} Hz")
    if data.shape[-1] < nperseg:
        raise ValueError(f"{data.shape[-1] / sample_rate:g} s of data is shorter than one FFT ({fftlength} s)")
    noverlap = nperseg // 2 if overlap is None else round(overlap * sample_rate)
    if average not in ("median", "mean"):
        raise ValueError(f"average must be 'median' or 'mean', got {average!r}")
    return welch(data, fs=sample_rate, window="hann", nperseg=nperseg, noverlap=noverlap, average=average, axis=-1)


@_of_result(psd)
def asd(density: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Welch ASD: the square root of :func:`psd` (units/sqrt(Hz))."""
    frequencies, power = density
    return frequencies, np.sqrt(power)


def _in_band(frequencies: np.ndarray, band: Sequence[float]) -> np.ndarray:
    low, high = band
    if not low < high:
        raise ValueError(f"band {list(band)} must have low < high")
    mask = (frequencies >= low) & (frequencies <= high)
    if not mask.any():
        raise ValueError(f"no frequency bin in band {list(band)} at resolution {frequencies[1] - frequencies[0]:g} Hz")
    return mask


def band_asd_ratio(
    cleaned: np.ndarray,
    raw: np.ndarray,
    sample_rate: float,
    band: Sequence[float],
    fftlength: float = 4.0,
    average: Average = "median",
) -> float:
    """Mean over the band's frequency bins of ASD(cleaned) / ASD(raw)."""
    frequencies, psd_cleaned = psd(cleaned, sample_rate, fftlength, average=average)
    _, psd_raw = psd(raw, sample_rate, fftlength, average=average)
    return band_asd_ratio_of_psds(frequencies, psd_cleaned, psd_raw, band)


def band_asd_ratio_of_psds(
    frequencies: np.ndarray, psd_cleaned: np.ndarray, psd_raw: np.ndarray, band: Sequence[float]
) -> float:
    """:func:`band_asd_ratio` from PSDs already computed (e.g. averaged over a window)."""
    mask = _in_band(frequencies, band)
    return float(np.mean(np.sqrt(psd_cleaned[mask] / psd_raw[mask])))


def out_of_band_ratios(
    cleaned: np.ndarray,
    raw: np.ndarray,
    sample_rate: float,
    band: Sequence[float],
    frequency_range: Sequence[float],
    bin_width: float = 1.0,
    fftlength: float = 4.0,
    average: Average = "median",
) -> tuple[np.ndarray, np.ndarray]:
    """ASD(cleaned) / ASD(raw) in bins of ``bin_width`` Hz over ``frequency_range``, band excluded.

    Each bin's ratio is ``sqrt(mean PSD(cleaned) / mean PSD(raw))`` over the
    Welch frequencies in it. Bins that touch ``band`` are left out.

    Returns
    -------
    centres, ratios
        Bin centres in Hz and the ratio in each bin.
    """
    frequencies, psd_cleaned = psd(cleaned, sample_rate, fftlength, average=average)
    _, psd_raw = psd(raw, sample_rate, fftlength, average=average)
    return out_of_band_ratios_of_psds(frequencies, psd_cleaned, psd_raw, band, frequency_range, bin_width)


def out_of_band_ratios_of_psds(
    frequencies: np.ndarray,
    psd_cleaned: np.ndarray,
    psd_raw: np.ndarray,
    band: Sequence[float],
    frequency_range: Sequence[float],
    bin_width: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`out_of_band_ratios` from PSDs already computed (e.g. averaged over a window)."""
    low, high = frequency_range
    if not 0 <= low < high:
        raise ValueError(f"frequency_range {list(frequency_range)} must have 0 <= low < high")
    if bin_width < frequencies[1]:
        raise ValueError(f"bin_width {bin_width} Hz is finer than the resolution {frequencies[1]:g} Hz")
    edges = np.arange(low, high + bin_width / 2, bin_width)
    starts, ends = edges[:-1], edges[1:]
    # bin i holds the (ascending) Welch frequencies with index in [first[i], stop[i])
    first = np.searchsorted(frequencies, starts, side="left")
    stop = np.searchsorted(frequencies, ends, side="left")
    keep = (stop > first) & ~((starts <= band[1]) & (ends >= band[0]))
    if not keep.any():
        raise ValueError(f"no frequency bin left in {list(frequency_range)} outside band {list(band)}")
    bounds = np.column_stack([first[keep], stop[keep]]).ravel()
    # reduceat over [first, stop) pairs sums each bin exactly (a cumulative sum would lose the small
    # high-frequency PSD values against the large low-frequency ones); the trailing 0 makes stop valid
    sum_cleaned = np.add.reduceat(np.append(psd_cleaned, 0.0), bounds)[::2]
    sum_raw = np.add.reduceat(np.append(psd_raw, 0.0), bounds)[::2]
    return (starts[keep] + ends[keep]) / 2, np.sqrt(sum_cleaned / sum_raw)


@_of_result(out_of_band_ratios)
def worst_out_of_band_ratio(binned: tuple[np.ndarray, np.ndarray]) -> float:
    """The out-of-band ratio (see :func:`out_of_band_ratios`, whose parameters it takes) furthest from 1.

    "Furthest" is on a log scale, so 0.5 and 2 are equally bad; the value
    returned keeps its direction (above 1: noise added, below 1: signal removed).
    """
    _, ratios = binned
    return float(ratios[np.argmax(np.abs(np.log(ratios)))])


def band_power(data: np.ndarray, sample_rate: float, band: Sequence[float], fftlength: float = 4.0) -> float:
    """Power of ``data`` in ``band``: the mean-averaged Welch PSD integrated over the band."""
    frequencies, power = psd(data, sample_rate, fftlength, average="mean")
    mask = _in_band(frequencies, band)
    return float(np.sum(power[mask]) * (frequencies[1] - frequencies[0]))


def fraction_removed(
    truth: np.ndarray,
    estimate: np.ndarray,
    sample_rate: float,
    band: Sequence[float],
    fftlength: float = 4.0,
) -> float:
    """Fraction of the in-band power of a known noise that an estimate removes.

    ``1 - P_band(truth - estimate) / P_band(truth)``: 1 is perfect, 0 is
    nothing removed, negative means the subtraction added noise.
    """
    truth = np.asarray(truth, dtype=float)
    estimate = np.asarray(estimate, dtype=float)
    if truth.shape != estimate.shape:
        raise ValueError(f"truth {truth.shape} and estimate {estimate.shape} differ in shape")
    return 1.0 - band_power(truth - estimate, sample_rate, band, fftlength) / band_power(
        truth, sample_rate, band, fftlength
    )


@_of_result(fraction_removed)
def residual_db(removed: float) -> float:
    """In-band power of ``truth - estimate`` relative to ``truth``, in dB (-20 dB: 99 % removed).

    Takes the parameters of :func:`fraction_removed`.
    """
    return float(10 * np.log10(max(1.0 - removed, np.finfo(float).tiny)))
