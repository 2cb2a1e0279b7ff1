"""Tests of the data checks on plain arrays."""

from __future__ import annotations

import numpy as np
import pytest

from deepclean_trainer.checks import (
    DataCheckError,
    check_enough_ready,
    check_finite,
    check_rate,
    check_stretch_channels,
    saturated_fraction,
)


def test_nan_and_inf_are_rejected_with_channel_and_second():
    """A NaN or an infinity names the channel and the GPS second."""
    samples = np.ones(16)
    samples[3] = np.nan
    with pytest.raises(DataCheckError, match=r"H1:X.*1 NaN/inf.*1400000007"):
        check_finite(samples, "H1:X", 1400000007)
    samples[3] = np.inf
    with pytest.raises(DataCheckError):
        check_finite(samples, "H1:X", 1400000007)
    check_finite(np.ones(16), "H1:X", 1400000007)


def test_flat_channel_is_rejected():
    """A channel constant over a stretch is reported as flat."""
    with pytest.raises(DataCheckError, match="H1:DEAD is flat"):
        check_stretch_channels({"H1:DEAD": np.full(512, 3.0)}, 1400000000, 1, 0.01)


def test_clipped_channel_is_saturated_but_quantised_sine_is_not():
    """Flat tops at the rails count as saturation; an integer-valued sine's isolated peaks do not."""
    t = np.arange(8192) / 1024
    sine = np.round(1000 * np.sin(2 * np.pi * 60 * t))
    assert saturated_fraction(sine) == 0.0
    check_stretch_channels({"H1:MAINS": sine}, 1400000000, 8, 0.01)
    clipped = np.clip(3 * np.sin(2 * np.pi * 1.3 * t), -1, 1)
    assert saturated_fraction(clipped) > 0.5
    with pytest.raises(DataCheckError, match="H1:CLIPPED is saturated"):
        check_stretch_channels({"H1:CLIPPED": clipped}, 1400000000, 8, 0.01)


def test_rate_mismatch_names_file():
    """A rate different from the expected one names the channel, rate and file."""
    with pytest.raises(DataCheckError, match=r"H1:X is at 512 Hz in f.gwf \(GPS 5\), expected 1024 Hz"):
        check_rate("H1:X", 512.0, 1024.0, 5, "f.gwf")
    check_rate("H1:X", 1024.0, 1024.0, 5, "f.gwf")
    check_rate("H1:X", 1024.0, None, 5, "f.gwf")


def test_not_enough_ready_data():
    """Fewer ready seconds than required is rejected, naming both numbers."""
    with pytest.raises(DataCheckError, match="30 s in usable stretches, need 48 s"):
        check_enough_ready(30, 48, 0, 96)
    check_enough_ready(48, 48, 0, 96)
