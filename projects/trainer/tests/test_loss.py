"""Tests of the PSD-ratio loss."""

from __future__ import annotations

import numpy as np
import torch
from deepclean_trainer.loss import PsdRatioLoss, WelchPsd
from scipy.signal import welch

RATE = 4096
BAND = (58.0, 62.0)


def test_welch_psd_matches_scipy():
    """The torch Welch PSD equals scipy's mean-averaged Welch PSD in the band bins."""
    x = np.random.default_rng(0).standard_normal((3, 8 * RATE))
    ours = WelchPsd(RATE, 1.0, BAND)(torch.from_numpy(x).float()).numpy()
    frequencies, theirs = welch(x, fs=RATE, nperseg=RATE, average="mean")
    in_band = (frequencies >= BAND[0]) & (frequencies <= BAND[1])
    np.testing.assert_allclose(ours, theirs[:, in_band].mean(axis=0), rtol=1e-4)


def test_loss_is_zero_for_perfect_and_one_for_no_prediction():
    """Predicting the target exactly gives 0; predicting nothing gives 1."""
    target = torch.randn(4, 4 * RATE)
    loss = PsdRatioLoss(RATE, BAND, fftlength=1.0)
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
