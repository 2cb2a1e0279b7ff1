"""Tests of reading training spans from frame directories."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    DURATION,
    MAINS,
    START,
    STATE,
    rewrite_frame,
    source_for,
    strain_path,
    witness_path,
)

from deepclean_trainer.checks import DataCheckError
from deepclean_trainer.dataset import load_span


def test_reads_native_rates_and_one_stretch(pristine_frames):
    """A clean span is one stretch with every channel at its frame's own rate."""
    span = load_span(source_for(pristine_frames), START, START + DURATION, 16)
    assert [(s.start, s.duration) for s in span.stretches] == [(START, DURATION)]
    assert span.strain_rate == 16384
    assert span.witness_rates[MAINS] == 1024
    assert len(set(span.witness_rates.values())) > 1
    stretch = span.stretches[0]
    assert stretch.witnesses[MAINS].size == 1024 * DURATION
    assert not span.skipped


def test_not_ready_seconds_are_never_kept(frames):
    """A second with a single not-ready state sample splits the span and is left out."""
    bad = START + 40

    def unready(data):
        data[STATE][5] = 0b01  # HOFT_OK without OBSERVATION_INTENT

    rewrite_frame(strain_path(frames, bad), unready)
    span = load_span(source_for(frames), START, START + DURATION, 16)
    assert [(s.start, s.end) for s in span.stretches] == [(START, bad), (bad + 1, START + DURATION)]
    assert span.skipped["not analysis ready"] == 1
    kept = {gps for s in span.stretches for gps in range(s.start, s.end)}
    assert bad not in kept


def test_short_stretches_and_missing_frames_are_left_out(frames):
    """Missing witness frames break stretches; pieces shorter than the minimum are dropped."""
    witness_path(frames, START + 10).unlink()
    witness_path(frames, START + 20).unlink()
    span = load_span(source_for(frames), START, START + DURATION, 16)
    assert [(s.start, s.end) for s in span.stretches] == [(START + 21, START + DURATION)]
    assert span.skipped["no witness frame"] == 2
    assert span.skipped["ready stretch shorter than 16 s"] == 19


def test_missing_channel_is_a_check_failure(frames):
    """A configured channel absent from a frame stops the cycle, naming channel and file."""
    rewrite_frame(witness_path(frames, START + 3), lambda data: data.pop("H1:ASC-MICH_P_OUT_DQ"))
    with pytest.raises(DataCheckError, match=r"lldetchar-1400000003.*H1:ASC-MICH_P_OUT_DQ"):
        load_span(source_for(frames), START, START + DURATION, 16)


def test_nan_in_ready_data_is_a_check_failure(frames):
    """A NaN in a ready second stops the cycle, naming channel and second."""

    def poison(data):
        data[MAINS][100] = np.nan

    rewrite_frame(witness_path(frames, START + 7), poison)
    with pytest.raises(DataCheckError, match=rf"{MAINS}.*{START + 7}"):
        load_span(source_for(frames), START, START + DURATION, 16)


def test_nan_in_not_ready_second_is_ignored(frames):
    """Garbage in a second that is not analysis ready does not matter: it is never used."""

    def poison_and_unready(data):
        data["H1:GDS-CALIB_STRAIN"][:] = np.nan
        data[STATE][:] = 0

    rewrite_frame(strain_path(frames, START + 7), poison_and_unready)
    span = load_span(source_for(frames), START, START + DURATION, 4)
    assert span.skipped["not analysis ready"] == 1


def test_rate_change_is_a_check_failure(frames):
    """A witness whose rate changes within the span is rejected, naming it."""

    def halve(data):
        data[MAINS] = data[MAINS][::2]

    rewrite_frame(witness_path(frames, START + 30), halve)
    with pytest.raises(DataCheckError, match=rf"{MAINS} is at 512 Hz.*expected 1024 Hz"):
        load_span(source_for(frames), START, START + DURATION, 16)
