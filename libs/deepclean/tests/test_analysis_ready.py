"""Tests of deepclean.analysis_ready."""

import numpy as np
import pytest

from deepclean.analysis_ready import (
    Segment,
    SegmentList,
    analysis_ready_mask,
    is_ready_for_span,
    latest_ready_span,
    ready_segments,
    ready_stretches,
)

T0 = 1400000000


def test_mask_needs_both_bits():
    """Only samples with HOFT_OK and OBSERVATION_INTENT both set are ready; other bits are ignored."""
    state = np.array([0, 1, 2, 3, 7, 0b111100, 0b111111, 0b11 | 1 << 30], dtype=np.int32)
    assert analysis_ready_mask(state).tolist() == [False, False, False, True, True, False, True, True]


def test_mask_accepts_whole_floats_and_rejects_fractions():
    """A float state vector of whole numbers is read as bits; a fractional one is an error."""
    assert analysis_ready_mask(np.array([3.0, 1.0])).tolist() == [True, False]
    with pytest.raises(ValueError, match="non-integer"):
        analysis_ready_mask(np.array([3.5]))


def test_segments_in_gps_with_sample_edges():
    """Runs of ready samples become GPS segments whose edges fall on 1/16 s sample boundaries."""
    state = np.full(48, 3, dtype=np.int32)  # 3 s at 16 Hz
    state[20:24] = 1  # not ready from T0+1.25 to T0+1.5
    state[47] = 0  # last sample not ready
    segments = ready_segments(state, T0)
    assert segments == SegmentList([Segment(T0, T0 + 1.25), Segment(T0 + 1.5, T0 + 47 / 16)])


def test_segments_of_all_ready_and_never_ready():
    """A vector ready throughout gives one segment; one never ready gives none."""
    assert ready_segments(np.full(32, 3), T0) == SegmentList([Segment(T0, T0 + 2)])
    assert ready_segments(np.zeros(32, dtype=np.int32), T0) == SegmentList()


def test_whole_span_check():
    """A span is ready only if no not-ready sample falls inside it, even across separate frames."""
    # Two frames' segments abutting at T0+1 count as one stretch.
    segments = SegmentList([Segment(T0, T0 + 1), Segment(T0 + 1, T0 + 10), Segment(T0 + 12, T0 + 20)])
    assert is_ready_for_span(segments, T0, T0 + 10)
    assert not is_ready_for_span(segments, T0 + 5, T0 + 13)
    assert not is_ready_for_span(segments, T0 + 9, T0 + 11)
    assert is_ready_for_span(segments, T0 + 12, T0 + 20)
    assert not is_ready_for_span(segments, T0 + 12, T0 + 20.5)


def test_stretches_of_minimum_length():
    """Only stretches at least the requested length are kept."""
    segments = SegmentList([Segment(T0, T0 + 100), Segment(T0 + 150, T0 + 160), Segment(T0 + 200, T0 + 400)])
    assert ready_stretches(segments, 100) == SegmentList([Segment(T0, T0 + 100), Segment(T0 + 200, T0 + 400)])
    assert ready_stretches(segments, 201) == SegmentList()


def test_latest_ready_span_prefers_newest_long_enough_stretch():
    """The newest stretch long enough gives the span; a short newest stretch is passed over."""
    segments = SegmentList([Segment(T0, T0 + 100), Segment(T0 + 200, T0 + 230)])
    assert latest_ready_span(segments, 20) == Segment(T0 + 210, T0 + 230)
    assert latest_ready_span(segments, 50) == Segment(T0 + 50, T0 + 100)
    assert latest_ready_span(segments, 20, before=T0 + 215) == Segment(T0 + 80, T0 + 100)
    assert latest_ready_span(segments, 101) is None
