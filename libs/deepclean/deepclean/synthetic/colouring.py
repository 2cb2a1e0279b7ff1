"""Coloured Gaussian noise: design sensitivity curves and FIR colouring filters.

The strain floor is white noise filtered by a linear-phase FIR filter whose
amplitude response follows a published Advanced LIGO sensitivity curve from
lalsimulation. Filtering a white stream with an FIR filter is stationary, so a
span can be generated in pieces: the output over any range needs only the
white noise over that range and the filter length before it.
"""

from __future__ import annotations

from collections.abc import Callable

import lal
import lalsimulation
import numpy as np
from scipy import fft as sp_fft
from scipy import signal

DEFAULT_PSD = "aLIGOAdVO4T1800545"
"""The O4 design curve of T1800545 (``lalsimulation.SimNoisePSDaLIGOAdVO4T1800545``)."""


def design_asd(
    frequency_step: float,
    num_frequencies: int,
    name: str = DEFAULT_PSD,
    low_frequency: float = 10.0,
) -> np.ndarray:
    """Amplitude spectral density (strain/sqrt(Hz)) of a lalsimulation curve.

    Sampled at ``k * frequency_step`` for ``k < num_frequencies``. The curve
    is held flat below ``low_frequency`` and above its last tabulated value
    (lalsimulation leaves those bins at zero).

    Parameters
    ----------
    frequency_step
        Spacing of the frequency grid in Hz.
    num_frequencies
        Number of grid points, starting at 0 Hz.
    name
        Curve name: ``lalsimulation.SimNoisePSD<name>`` must exist and fill a
        ``REAL8FrequencySeries`` (e.g. ``aLIGOAdVO4T1800545``,
        ``aLIGODesignSensitivityP1200087``).
    low_frequency
        Lowest frequency the curve is evaluated at.
    """
    function = getattr(lalsimulation, f"SimNoisePSD{name}", None)
    if function is None:
        raise ValueError(f"design_curve {name!r} is unknown: lalsimulation has no SimNoisePSD{name}")
    series = lal.CreateREAL8FrequencySeries("psd", 0, 0.0, frequency_step, lal.HertzUnit, num_frequencies)
    function(series, low_frequency)
    psd = np.array(series.data.data, dtype=float)
    valid = np.flatnonzero(psd > 0)
    if valid.size == 0:
        raise ValueError(f"design curve {name!r} is zero on the whole grid")
    psd[: valid[0]] = psd[valid[0]]
    psd[valid[-1] + 1 :] = psd[valid[-1]]
    return np.sqrt(psd)


def colouring_filter(amplitude: np.ndarray, num_taps: int) -> np.ndarray:
    """Linear-phase FIR kernel with the given amplitude response.

    ``amplitude`` is sampled on ``numpy.fft.rfftfreq(num_taps)``; the kernel is
    the centred inverse transform tapered by a Hann window.
    """
    if len(amplitude) != num_taps // 2 + 1:
        raise ValueError(f"amplitude has {len(amplitude)} points; {num_taps} taps need {num_taps // 2 + 1}")
    kernel = np.fft.irfft(amplitude, n=num_taps)
    return np.roll(kernel, num_taps // 2) * signal.get_window("hann", num_taps)


def strain_floor_filter(sample_rate: int, duration: float, name: str = DEFAULT_PSD) -> np.ndarray:
    """FIR kernel (``duration`` seconds long) turning unit white noise into design-curve strain.

    White noise of unit variance at ``sample_rate`` has the one-sided PSD
    ``2 / sample_rate``, hence the amplitude ``ASD * sqrt(sample_rate / 2)``.
    """
    num_taps = round(duration * sample_rate)
    asd = design_asd(1.0 / duration, num_taps // 2 + 1, name)
    return colouring_filter(asd * np.sqrt(sample_rate / 2.0), num_taps)


class FirFilter:
    """An FIR kernel applied by FFT, with the kernel's spectrum kept per transform size."""

    def __init__(self, kernel: np.ndarray) -> None:
        self.kernel = np.asarray(kernel, dtype=float)
        self._spectra: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.kernel)

    def coloured(self, white: Callable[[int, int], np.ndarray], first: int, stop: int) -> np.ndarray:
        """Samples ``[first, stop)`` of the stream ``white`` filtered by the kernel.

        ``white(first, stop)`` must return the white samples of that absolute range.
        """
        source = white(first - len(self.kernel) + 1, stop)
        size = sp_fft.next_fast_len(len(source), real=True)
        if size not in self._spectra:
            self._spectra[size] = sp_fft.rfft(self.kernel, size)
        product = sp_fft.irfft(sp_fft.rfft(source, size) * self._spectra[size], size)
        return product[len(self.kernel) - 1 : len(source)]
