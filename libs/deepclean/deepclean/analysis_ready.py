"""Analysis-ready logic: the state vector, masks and GPS segments.

The calibrated state vector (``H1:GDS-CALIB_STATE_VECTOR``, 16 Hz, int32)
marks a sample DMT-ANALYSIS_READY when both bit 0 (HOFT_OK) and bit 1
(OBSERVATION_INTENT) are set: ``(state & 0b11) == 0b11``. Sample ``i`` of a
vector starting at GPS ``t0`` covers ``[t0 + i / rate, t0 + (i + 1) / rate)``.

Segments are ``gwpy.segments.Segment`` / ``SegmentList`` (the types users
already know); lists returned here are coalesced and sorted.

The trainer trains only on data that is analysis ready for its whole span:
:func:`is_ready_for_span` checks a span, :func:`ready_stretches` lists the
stretches of at least a given length and :func:`latest_ready_span` picks the
newest span of a given length inside them.
"""

from __future__ import annotations

import numpy as np
from gwpy.segments import Segment, SegmentList

ANALYSIS_READY_BITS = 0b11
"""Bits 0 (HOFT_OK) and 1 (OBSERVATION_INTENT): both must be set."""

STATE_SAMPLE_RATE = 16
"""Sample rate of the calibrated state vector, Hz."""

__all__ = [
    "ANALYSIS_READY_BITS",
    "STATE_SAMPLE_RATE",
    "Segment",
    "SegmentList",
    "analysis_ready_mask",
    "is_ready_for_span",
    "latest_ready_span",
    "ready_segments",
    "ready_stretches",
]


def analysis_ready_mask(state: np.ndarray) -> np.ndarray:
    """Per-sample analysis-ready flags of a state vector.

    Parameters
    ----------
    state
        Integer state-vector samples. Floating-point samples are accepted
        when they hold whole numbers (as a frame reader may return them).

    Returns
    -------
    numpy.ndarray
        Boolean array, True where ``(state & 0b11) == 0b11``.
    """
    state = np.asarray(state)
    if not np.issubdtype(state.dtype, np.integer):
        if not np.all(np.isfinite(state)) or np.any(state != np.round(state)):
            raise ValueError("state vector holds non-integer samples; it must be a bit field")
        state = state.astype(np.int64)
    return (state & ANALYSIS_READY_BITS) == ANALYSIS_READY_BITS


def ready_segments(state: np.ndarray, t0: float, sample_rate: float = STATE_SAMPLE_RATE) -> SegmentList:
    """The GPS segments in which a state vector is analysis ready.

    Parameters
    ----------
    state
        State-vector samples.
    t0
        GPS time of the first sample.
    sample_rate
        Samples per second of the state vector.

    Returns
    -------
    gwpy.segments.SegmentList
        Coalesced, sorted segments ``[start, end)``.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    mask = analysis_ready_mask(state)
    # Edges of runs of True: +1 where a run starts, -1 just after it ends.
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return SegmentList(
        Segment(t0 + start / sample_rate, t0 + end / sample_rate) for start, end in zip(starts, ends, strict=False)
    ).coalesce()


def is_ready_for_span(segments: SegmentList, start: float, end: float) -> bool:
    """True when ``[start, end)`` lies entirely inside one ready segment."""
    if end <= start:
        raise ValueError(f"empty span [{start}, {end})")
    span = Segment(start, end)
    return any(span in segment for segment in SegmentList(segments).coalesce())


def ready_stretches(segments: SegmentList, min_duration: float) -> SegmentList:
    """The ready segments lasting at least ``min_duration`` seconds."""
    if min_duration < 0:
        raise ValueError(f"min_duration must not be negative, got {min_duration}")
    return SegmentList(s for s in SegmentList(segments).coalesce() if abs(s) >= min_duration)


def latest_ready_span(segments: SegmentList, duration: float, before: float | None = None) -> Segment | None:
    """The newest span of ``duration`` seconds that is ready for its whole length.

    Parameters
    ----------
    segments
        Analysis-ready segments.
    duration
        Length of the span wanted, seconds.
    before
        If given, the span must end at or before this GPS time.

    Returns
    -------
    gwpy.segments.Segment or None
        ``[end - duration, end)`` with ``end`` as late as possible, or None
        when no ready stretch is long enough.
    """
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    for segment in reversed(SegmentList(segments).coalesce()):
        end = segment[1] if before is None else min(segment[1], before)
        if end - segment[0] >= duration:
            return Segment(end - duration, end)
    return None
