"""Tests of the PSD-ratio loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfiltfilt, welch

from deepclean_trainer.loss import PsdRatioLoss, WelchPsd

RATE = 4096
BAND = (58.0, 62.0)


def test_welch_psd_matches_scipy():
    """The torch Welch PSD equals scipy's mean-averaged Welch PSD in the band bins."""
    x = np.random.default_rng(0).standard_normal((3, 8 * RATE))
    ours = WelchPsd(RATE, 1.0, BAND)(torch.from_numpy(x).float()).numpy()
    frequencies, theirs = welch(x, fs=RATE, nperseg=RATE, average="mean")
    in_band = (frequencies >= BAND[0]) & (frequencies <= BAND[1])
    np.testing.assert_allclose(ours, theirs[:, in_band].mean(axis=0), rtol=1e-4)


@pytest.mark.parametrize("weighting", ["power", "per_bin"])
def test_loss_is_zero_for_perfect_and_one_for_no_prediction(weighting):
    """Predicting the target exactly gives 0; predicting nothing gives 1."""
    target = torch.randn(4, 4 * RATE)
    loss = PsdRatioLoss(RATE, BAND, fftlength=1.0, weighting=weighting)
    assert float(loss(target, target)) == 0.0
    assert abs(float(loss(torch.zeros_like(target), target)) - 1.0) < 1e-6


def test_loss_ignores_out_of_band_error():
    """An error outside the band does not change the loss; the same error inside does."""
    t = torch.arange(4 * RATE) / RATE
    target = torch.sin(2 * torch.pi * 60 * t)[None] + 0.1 * torch.randn(1, 4 * RATE)
    loss = PsdRatioLoss(RATE, BAND, fftlength=1.0)
    out_of_band = target + torch.sin(2 * torch.pi * 200 * t)
    in_band = target + torch.sin(2 * torch.pi * 59.5 * t)
    assert float(loss(out_of_band, target)) < 1e-6
    assert float(loss(in_band, target)) > 0.1


def test_power_weighting_is_the_fraction_of_in_band_power_left():
    """ "power" is P_band(residual) / P_band(target) (scipy Welch); "per_bin" weights a weak bin like the line."""
    rng = np.random.default_rng(3)
    t = np.arange(8 * RATE) / RATE
    target = 10 * np.sin(2 * np.pi * 60 * t) + rng.standard_normal(t.size)
    prediction = 10 * np.sin(2 * np.pi * 60 * t)  # the line removed, the broadband part left
    frequencies, residual = welch(target - prediction, fs=RATE, nperseg=RATE)
    _, reference = welch(target, fs=RATE, nperseg=RATE)
    in_band = (frequencies >= BAND[0]) & (frequencies <= BAND[1])
    expected = residual[in_band].sum() / reference[in_band].sum()
    as_tensors = (torch.from_numpy(prediction)[None], torch.from_numpy(target)[None])
    power = float(PsdRatioLoss(RATE, BAND, fftlength=1.0, weighting="power")(*as_tensors))
    per_bin = float(PsdRatioLoss(RATE, BAND, fftlength=1.0, weighting="per_bin")(*as_tensors))
    assert power == pytest.approx(expected, rel=1e-4)
    assert power < 1e-3 and per_bin > 0.3  # the line's bins count like the empty ones


def test_unknown_weighting_is_rejected():
    with pytest.raises(ValueError, match="weighting"):
        PsdRatioLoss(RATE, BAND, weighting="median")


def _band_noise(rng: np.random.Generator, band: tuple[float, float], psd: float, seconds: int) -> np.ndarray:
    """Two rows of Gaussian noise band-passed to ``band`` with a one-sided PSD of about ``psd`` in it."""
    sos = butter(8, band, "bandpass", fs=RATE, output="sos")
    noise = sosfiltfilt(sos, rng.standard_normal((2, seconds * RATE)))
    return noise * np.sqrt(psd * (band[1] - band[0])) / noise.std()


def test_the_guard_judges_each_bin_beside_the_band_against_itself():
    """Noise added at 9x the floor's power in the bins at 45-50 Hz costs nothing in the band's power
    fraction, but the guard sees it; removing the noise's skirts beside the band earns nothing; a
    silent prediction costs the guard nothing; a guard that does not enclose the band is refused."""
    rng = np.random.default_rng(5)
    floor_psd = 2.0 / RATE  # unit-variance white noise
    floor = rng.standard_normal((2, 16 * RATE))
    noise = _band_noise(rng, (56.0, 64.0), 1e4 * floor_psd, 16)
    target = torch.from_numpy(floor + noise).float()
    perfect = torch.from_numpy(noise).float()
    adding = perfect + torch.from_numpy(_band_noise(rng, (45.0, 50.0), 9 * floor_psd, 16)).float()
    plain = PsdRatioLoss(RATE, (55.0, 65.0), fftlength=1.0)
    guarded = PsdRatioLoss(RATE, (55.0, 65.0), fftlength=1.0, guard=(40.0, 80.0))
    assert float(plain(adding, target)) == pytest.approx(float(plain(perfect, target)), abs=1e-4)
    # removing the noise's skirts just beside the band earns nothing
    assert float(guarded(perfect, target)) == pytest.approx(float(plain(perfect, target)), abs=0.01)
    assert float(guarded(adding, target)) > float(guarded(perfect, target)) + 1.0
    assert float(guarded(torch.zeros_like(target), target)) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="guard"):
        PsdRatioLoss(RATE, (55.0, 65.0), fftlength=1.0, guard=(56.0, 80.0))


def test_the_guard_can_judge_the_band_edge_bins_too():
    """Noise added at 56-57 Hz, near a weak edge of the band, is worth trading for the line in the band's
    power fraction; a guard that judges the band's bins sees it, and costs nothing where the band's
    noise is removed."""
    rng = np.random.default_rng(7)
    floor_psd = 2.0 / RATE
    floor = rng.standard_normal((2, 16 * RATE))
    noise = _band_noise(rng, (58.0, 62.0), 1e4 * floor_psd, 16)
    target = torch.from_numpy(floor + noise).float()
    perfect = torch.from_numpy(noise).float()
    adding = perfect + torch.from_numpy(_band_noise(rng, (56.0, 57.0), 9 * floor_psd, 16)).float()
    beside_only = PsdRatioLoss(RATE, (55.0, 65.0), fftlength=1.0, guard=(40.0, 80.0), guard_weight=45.0)
    with_band = PsdRatioLoss(
        RATE, (55.0, 65.0), fftlength=1.0, guard=(40.0, 80.0), guard_weight=45.0, guard_band_bins=True
    )
    band_cost = float(beside_only(adding, target)) - float(beside_only(perfect, target))
    assert 0 < band_cost < 0.02  # 1 % of the band's noise: a trade the line's removal pays for
    assert float(with_band(adding, target)) - float(with_band(perfect, target)) > 10 * band_cost
    assert float(with_band(perfect, target)) < 0.1  # the band's bins where the noise is removed cost nothing
