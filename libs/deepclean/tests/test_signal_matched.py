"""Noise-weighted inner products: optimal SNR and mismatch."""

from __future__ import annotations

import numpy as np
import pytest

from deepclean.signal.matched import inner_product, noise_weighted_mismatch, optimal_snr

RATE = 4096


def _chirp(seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.sin(2 * np.pi * (30 * t + 20 * t**2)) * np.hanning(t.size)


def _white(value: float = 2.0 / RATE) -> np.ndarray:
    return np.full(int(4.0 * RATE) // 2 + 1, value)


def test_optimal_snr_of_a_sinusoid_in_white_noise():
    """A 1 s sinusoid of amplitude A in unit-variance white noise has SNR A * sqrt(fs / 2)."""
    t = np.arange(RATE) / RATE
    psd = np.full(RATE // 2 + 1, 2.0 / RATE)
    snr = optimal_snr(0.1 * np.sin(2 * np.pi * 100 * t), psd, RATE)
    assert snr == pytest.approx(0.1 * np.sqrt(RATE / 2), rel=1e-9)


def test_mismatch_is_zero_for_the_same_shape_and_ignores_scale():
    """Identical or rescaled signals match; a sign flip is the largest mismatch (2)."""
    h = _chirp()
    assert noise_weighted_mismatch(h, h, _white(), RATE) == pytest.approx(0.0, abs=1e-12)
    assert noise_weighted_mismatch(h, 3 * h, _white(), RATE) == pytest.approx(0.0, abs=1e-12)
    assert noise_weighted_mismatch(h, -h, _white(), RATE) == pytest.approx(2.0)


def test_mismatch_sees_a_delay_a_phase_turn_and_added_noise():
    """One sample of delay, a few degrees of phase or a little noise each show up (no maximisation)."""
    h = _chirp()
    assert noise_weighted_mismatch(h, np.roll(h, 1), _white(), RATE) > 1e-3
    analytic = np.fft.irfft(np.fft.rfft(h) * np.exp(1j * np.deg2rad(5)), h.size)
    assert noise_weighted_mismatch(h, analytic, _white(), RATE) == pytest.approx(1 - np.cos(np.deg2rad(5)), rel=0.05)
    noisy = h + 0.05 * np.random.default_rng(0).normal(size=h.size)
    assert noise_weighted_mismatch(h, noisy, _white(), RATE) > 1e-4


def test_band_and_interpolated_psd():
    """Only the band counts; a PSD on its own frequencies is interpolated to the signal's grid."""
    h = _chirp()
    frequencies = np.linspace(0, RATE / 2, 101)
    on_own_grid = optimal_snr(h, np.full(101, 2.0 / RATE), RATE, psd_frequencies=frequencies)
    assert on_own_grid == pytest.approx(optimal_snr(h, _white(), RATE))
    high = np.sin(2 * np.pi * 1500 * np.arange(4 * RATE) / RATE)
    whole = inner_product(high, high, _white(), RATE, band=(20.0, 2048.0))
    assert inner_product(high, high, _white(), RATE, band=(20.0, 1000.0)) < 1e-12 * whole
    with pytest.raises(ValueError, match="band"):
        optimal_snr(h, np.full(101, 1.0), RATE, psd_frequencies=np.linspace(100, 2048, 101))
    with pytest.raises(ValueError, match="psd_frequencies"):
        optimal_snr(h, np.full(10, 1.0), RATE)
