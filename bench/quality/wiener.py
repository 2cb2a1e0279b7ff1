"""A multi-input linear Wiener filter, designed in the frequency domain.

Fit: from Welch cross-spectra of the training span, the optimal filter from
the witnesses ``w`` (z-scored, at the working rate) to the target ``h`` is,
frequency by frequency, ``H(f) = S_ww(f)^-1 S_wh(f)`` (``S_ww`` the N x N
cross-spectral matrix of the witnesses, ``S_wh`` their cross-spectra with the
target). Only the bins of ``fit_band`` are solved (elsewhere ``H = 0``): the
estimate is band-passed to the target band afterwards in any case.

Apply: each ``H_j(f)`` becomes a zero-phase-centred FIR filter (inverse FFT,
Hann-tapered) convolved with its witness over the test span. The filter is
acausal by half its length: an offline baseline, the best a static linear
filter can do, not a streaming one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.signal import oaconvolve
from scipy.signal.windows import hann

from deepclean.signal import bandpass_sos, resample, zero_phase_bandpass
from deepclean.synthetic import SyntheticSpan

Band = tuple[float, float]


@dataclass
class WienerFilter:
    """Witnesses -> target, one FIR per witness (``taps[j]``), for z-scored witnesses."""

    sample_rate: float
    witness_mean: np.ndarray
    witness_std: np.ndarray
    taps: np.ndarray

    @classmethod
    def fit(
        cls,
        witnesses: np.ndarray,
        target: np.ndarray,
        sample_rate: float,
        fftlength: float,
        fit_band: Band,
        regularisation: float = 1e-6,
    ) -> WienerFilter:
        """Design the filter from ``witnesses`` (N x T) and ``target`` (T) at ``sample_rate``.

        ``regularisation`` loads the diagonal of ``S_ww`` by that fraction of
        its mean power, so witnesses with no power in the band do not make
        the solve singular.
        """
        mean = witnesses.mean(axis=1)
        std = witnesses.std(axis=1)
        std[std == 0] = 1.0
        nperseg = int(round(fftlength * sample_rate))
        frequencies = np.fft.rfftfreq(nperseg, 1.0 / sample_rate)
        bins = np.flatnonzero((frequencies >= fit_band[0]) & (frequencies <= fit_band[1]))
        window = hann(nperseg, sym=False)
        num = witnesses.shape[0]
        cross = np.zeros((len(bins), num, num), dtype=complex)
        towards = np.zeros((len(bins), num), dtype=complex)
        step = nperseg // 2
        for start in range(0, target.shape[-1] - nperseg + 1, step):
            stop = start + nperseg
            segment = (witnesses[:, start:stop] - mean[:, None]) / std[:, None]
            w = np.fft.rfft(segment * window, axis=1)[:, bins].T  # (bins, N)
            h = np.fft.rfft(target[start:stop] * window)[bins]
            cross += w.conj()[:, :, None] * w[:, None, :]
            towards += w.conj() * h[:, None]
        loading = regularisation * np.real(np.trace(cross, axis1=1, axis2=2)) / num
        cross += loading[:, None, None] * np.eye(num)
        response = np.zeros((len(frequencies), num), dtype=complex)
        # cross is S_ww^* (conj(w_i) w_j); the filter solves sum_j H_j w_j ~ h.
        response[bins] = np.linalg.solve(cross, towards[:, :, None])[:, :, 0]
        impulse = np.fft.irfft(response, n=nperseg, axis=0).T  # (N, nperseg), lag 0 at index 0
        taps = np.fft.fftshift(impulse, axes=1) * hann(nperseg + 1, sym=True)[:nperseg]
        return cls(float(sample_rate), mean, std, taps)

    def predict(self, witnesses: np.ndarray) -> np.ndarray:
        """The target estimated from ``witnesses`` (N x T), same length and rate."""
        scaled = (witnesses - self.witness_mean[:, None]) / self.witness_std[:, None]
        total = np.zeros(witnesses.shape[1])
        centre = self.taps.shape[1] // 2
        for channel, taps in zip(scaled, self.taps, strict=True):
            total += oaconvolve(channel, taps, mode="full")[centre : centre + witnesses.shape[1]]
        return total


MAINS_WORD = "MAINSMON"
"""Part of the mains monitor's channel name: the witness the products are taken with."""


def witnesses_at(span: SyntheticSpan, sample_rate: int, products: bool = False) -> np.ndarray:
    """The witnesses of a synthetic span resampled to ``sample_rate`` (N x T), in channel order.

    With ``products``, each other witness times the mains monitor follows: the bilinear terms
    ``mains x ASC`` that a linear filter on the witnesses alone cannot form. The products are of
    the channels as recorded: scaling them with each span's own statistics would hand the test
    span a different filter input than the fit saw (the filter z-scores every input with the
    training span's statistics, and centring a factor only adds terms already among the inputs).
    """
    channels = np.stack(
        [resample(x, span.witness_sample_rates[name], sample_rate) for name, x in span.witnesses.items()]
    )
    if not products:
        return channels
    names = list(span.witnesses)
    mains_index = next(i for i, name in enumerate(names) if MAINS_WORD in name)
    others = [i for i in range(len(names)) if i != mains_index]
    return np.concatenate([channels, channels[others] * channels[mains_index]])


def wiener_noise(
    train: SyntheticSpan,
    test: SyntheticSpan,
    sample_rate: int,
    band: Band,
    fftlength: float,
    fit_band: Band,
    filter_order: int,
    products: bool = False,
) -> tuple[np.ndarray, float]:
    """Fit on the ``train`` span, estimate the noise of the ``test`` span at the strain rate.

    ``products``: the witnesses and their products with the mains monitor (:func:`witnesses_at`).

    The estimate gets the same treatment as DeepClean's prediction: a
    zero-phase Butterworth band-pass of ``filter_order`` on ``band`` at the
    working rate, then resampling to the strain rate. Returns the estimate
    and the seconds the fit took.
    """
    strain_rate = train.strain_sample_rate
    began = time.perf_counter()
    target = resample(train.strain, strain_rate, sample_rate)
    wiener = WienerFilter.fit(witnesses_at(train, sample_rate, products), target, sample_rate, fftlength, fit_band)
    fit_seconds = time.perf_counter() - began
    prediction = wiener.predict(witnesses_at(test, sample_rate, products))
    filtered = zero_phase_bandpass(prediction, bandpass_sos(band, sample_rate, filter_order))
    return resample(filtered, sample_rate, strain_rate), fit_seconds
