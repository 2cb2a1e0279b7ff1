"""Tests of the least-squares start's weighting of its error by frequency (the causal mode)."""

from __future__ import annotations

import numpy as np
import pytest

from deepclean_trainer.error_weighting import error_weighting
from deepclean_trainer.preprocessing import Segment

RATE = 512


def coloured_segment(seconds: int, seed: int) -> Segment:
    """Strain whose floor is 100 times stronger in power below 40 Hz than above it."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(seconds * RATE)
    spectrum = np.fft.rfft(white)
    frequencies = np.fft.rfftfreq(white.size, 1 / RATE)
    strain = np.fft.irfft(spectrum * np.where(frequencies < 40, 10.0, 1.0), n=white.size)
    return Segment(0.0, RATE, strain[None], strain, strain)


def power_response(fir: np.ndarray, low: float, high: float) -> float:
    """The FIR's mean power response over ``low``-``high`` Hz."""
    frequencies = np.fft.rfftfreq(8 * fir.size, 1 / RATE)
    response = np.abs(np.fft.rfft(fir, n=8 * fir.size)) ** 2
    return float(response[(frequencies >= low) & (frequencies <= high)].mean())


def test_the_weight_is_the_losss_per_bin_weight():
    """The estimate's weight is 1 in the band, guard_weight * band power / (bins beside * strain PSD)
    beside it, ~0 beyond the guard: a bin 100 times quieter weighs 100 times more. The target's
    weight is the band's only."""
    segments = [coloured_segment(256, seed) for seed in (1, 2)]
    weighting = error_weighting(segments, band=(55.0, 65.0), guard=(10.0, 200.0), guard_weight=45.0)
    fir = weighting.estimate
    assert fir.size % 2 == 1 and weighting.target.size == fir.size and weighting.reach == fir.size // 2
    np.testing.assert_allclose(fir, fir[::-1], atol=1e-12)  # zero phase
    assert power_response(fir, 57.0, 63.0) == pytest.approx(1.0, rel=0.02)
    # beside: guard_weight * (41 in-band bins * S_hi) / (bins beside * S(f)); 0.25 Hz bins
    in_band_bins, beside_bins = 41, (200 - 10) * 4 + 1 - 41
    expected_high = 45.0 * in_band_bins / beside_bins
    assert power_response(fir, 90.0, 110.0) == pytest.approx(expected_high, rel=0.05)
    assert power_response(fir, 20.0, 30.0) == pytest.approx(expected_high / 100, rel=0.05)
    assert power_response(fir, 220.0, 250.0) < 1e-3 * expected_high
    # the target keeps the band only: removal beside it earns nothing
    assert power_response(weighting.target, 57.0, 63.0) == pytest.approx(1.0, rel=0.02)
    assert power_response(weighting.target, 90.0, 110.0) < 1e-4
    assert power_response(weighting.target, 20.0, 30.0) < 1e-4


def test_segments_shorter_than_the_filter_are_refused():
    with pytest.raises(ValueError, match="weighting filter"):
        error_weighting([coloured_segment(2, 3)], (55.0, 65.0), (10.0, 200.0), 45.0)
