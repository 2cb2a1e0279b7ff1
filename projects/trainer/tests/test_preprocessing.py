"""Tests of resampling, scaling and the validation split."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DURATION, MAINS, START, source_for

from deepclean.synthetic import H1_WITNESSES
from deepclean_trainer.dataset import load_span
from deepclean_trainer.preprocessing import (
    Scaler,
    Segment,
    split_validation,
    to_segments,
)


def segment(start: float, seconds: int, rate: int = 16) -> Segment:
    n = seconds * rate
    return Segment(
        start=start,
        sample_rate=rate,
        witnesses=np.arange(2 * n, dtype=float).reshape(2, n),
        strain=np.arange(n, dtype=float),
        target=np.arange(n, dtype=float),
    )


def test_validation_is_the_most_recent_data():
    """The held-out part is the tail in time; a straddling segment is cut at the right GPS."""
    training, validation = split_validation([segment(0, 10), segment(20, 10)], 0.25, multiple=16)
    assert [s.start for s in training] == [0, 20]
    assert [s.num_samples for s in training] == [160, 80]
    assert [(s.start, s.num_samples) for s in validation] == [(25.0, 80)]
    assert validation[0].strain[0] == 80


def test_split_rejects_fraction_leaving_nothing():
    """A fraction that rounds to no validation sample is an error."""
    with pytest.raises(ValueError, match="validation fraction"):
        split_validation([segment(0, 1)], 0.01, multiple=16)


def test_segments_at_working_rate_with_band_passed_target(pristine_frames):
    """Stretches become 4096 Hz segments with trimmed edges; the target keeps only in-band power."""
    span = load_span(source_for(pristine_frames), START, START + DURATION, 16)
    (seg,) = to_segments(span, list(H1_WITNESSES), 4096, (58.0, 62.0), 8, edge_seconds=2.0)
    assert seg.witnesses.shape == (len(H1_WITNESSES), (DURATION - 4) * 4096)
    assert seg.start == START + 2
    spectrum = np.abs(np.fft.rfft(seg.target)) ** 2
    frequencies = np.fft.rfftfreq(seg.target.size, 1 / 4096)
    assert spectrum[(frequencies > 57) & (frequencies < 63)].sum() > 0.99 * spectrum.sum()
    scaler = Scaler.fit([seg])
    scaled = scaler.scale_witnesses(seg.witnesses)
    np.testing.assert_allclose(scaled.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(scaled.std(axis=1), 1, rtol=1e-4)
    assert H1_WITNESSES.index(MAINS) == 0
    back = scaler.unscale_prediction(scaler.scale_target(seg.target))
    np.testing.assert_allclose(back, seg.target, rtol=1e-5, atol=1e-6 * seg.target.std())


def test_narrow_target_beside_the_wide_one(pristine_frames):
    """With ``narrow_band`` (the causal mode) the loss's target stays wide and the scale is taken from
    it; the estimate-band target comes along, and a validation split keeps both aligned."""
    span = load_span(source_for(pristine_frames), START, START + DURATION, 16)
    (wide,) = to_segments(span, list(H1_WITNESSES), 4096, (10.0, 200.0), 8, edge_seconds=2.0)
    (seg,) = to_segments(span, list(H1_WITNESSES), 4096, (10.0, 200.0), 8, edge_seconds=2.0, narrow_band=(50.0, 70.0))
    np.testing.assert_array_equal(seg.target, wide.target)
    assert wide.estimate_band_target is wide.target
    spectrum = np.abs(np.fft.rfft(seg.estimate_band_target)) ** 2
    frequencies = np.fft.rfftfreq(seg.num_samples, 1 / 4096)
    assert spectrum[(frequencies > 48) & (frequencies < 72)].sum() > 0.99 * spectrum.sum()
    assert Scaler.fit([seg]).target_std == Scaler.fit([wide]).target_std
    training, validation = split_validation([seg], 0.25, multiple=4096)
    for part in training + validation:
        assert part.narrow_target.shape == part.target.shape
    np.testing.assert_array_equal(np.concatenate([p.narrow_target for p in training + validation]), seg.narrow_target)
