"""Tests of training-window sampling and validation windows."""

from __future__ import annotations

import numpy as np
import pytest

from deepclean_trainer.batches import WindowSampler, validation_windows
from deepclean_trainer.preprocessing import Scaler, Segment

RATE = 256


def ramp_segment(start: float, seconds: int) -> Segment:
    """A segment whose target value is its own GPS time, so a window tells where it came from."""
    times = start + np.arange(seconds * RATE) / RATE
    return Segment(
        start=start, sample_rate=RATE, witnesses=np.stack([times, np.sin(times)]), strain=times, target=times
    )


IDENTITY = Scaler(witness_mean=np.zeros(2), witness_std=np.ones(2), target_mean=0.0, target_std=1.0)


def window_starts(sampler: WindowSampler, n: int) -> np.ndarray:
    _, targets = sampler.batch(n)
    return targets[:, 0].numpy().astype(float)


def test_windows_come_from_inside_segments_with_matching_witnesses():
    """Every window lies inside one segment; witnesses and target are cut at the same samples."""
    segments = [ramp_segment(0, 40), ramp_segment(100, 40)]
    sampler = WindowSampler(segments, IDENTITY, window=2 * RATE, seed=1)
    witnesses, targets = sampler.batch(200)
    starts = targets[:, 0].numpy()
    assert np.all(((starts >= 0) & (starts <= 38)) | ((starts >= 100) & (starts <= 138)))
    np.testing.assert_array_equal(witnesses[:, 0].numpy(), targets.numpy())
    uniform_share_late = np.mean(starts >= 100)
    assert 0.4 < uniform_share_late < 0.6


def test_recency_weighting_favours_the_newest_data():
    """With a short recency time nearly every window comes from the last few seconds."""
    segments = [ramp_segment(0, 40), ramp_segment(100, 40)]
    sampler = WindowSampler(segments, IDENTITY, window=2 * RATE, seed=1, recency_seconds=5.0)
    starts = window_starts(sampler, 400)
    assert np.mean(starts >= 120) > 0.95


def test_same_seed_same_batches():
    """The sampler is deterministic under its seed."""
    segments = [ramp_segment(0, 40)]
    a = window_starts(WindowSampler(segments, IDENTITY, RATE, seed=3), 16)
    b = window_starts(WindowSampler(segments, IDENTITY, RATE, seed=3), 16)
    np.testing.assert_array_equal(a, b)


def test_validation_windows_are_whole_and_non_overlapping():
    """Validation windows tile each segment from its start; a too-short segment alone is an error."""
    witnesses, targets = validation_windows([ramp_segment(0, 10), ramp_segment(50, 3)], IDENTITY, 2 * RATE)
    assert witnesses.shape == (6, 2, 2 * RATE)
    assert targets[:, 0].tolist() == [0, 2, 4, 6, 8, 50]
    with pytest.raises(ValueError, match="no whole"):
        validation_windows([ramp_segment(0, 1)], IDENTITY, 2 * RATE)
