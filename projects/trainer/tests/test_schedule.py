"""Tests of the continuous retraining schedule."""

from __future__ import annotations

import threading

from conftest import DURATION, START, STATE, rewrite_frame, source_for, strain_path

from deepclean_trainer.schedule import (
    ContinuousSchedule,
    ReadyCounter,
    default_span,
    run_continuously,
)


def unready(data):
    data[STATE][:] = 1


def test_ready_counter_counts_only_ready_seconds(frames):
    """Seconds whose state vector is not ready do not count as new data."""
    for gps in range(START + 10, START + 20):
        rewrite_frame(strain_path(frames, gps), unready)
    counter = ReadyCounter(source_for(frames))
    assert counter.ready_seconds(START, START + DURATION) == DURATION - 10
    assert counter.ready_seconds(START + 50, START + DURATION) == DURATION - 50


def test_default_span_is_the_newest_common_data(frames):
    """One-shot without a span trains on the last train_duration seconds with both frame kinds."""
    (frames / "lldetchar" / f"H-H1_lldetchar-{START + DURATION - 1}-1.gwf").unlink()
    assert default_span(source_for(frames), 64) == (START + DURATION - 1 - 64, START + DURATION - 1)


def test_schedule_waits_for_cadence_of_new_ready_data(frames):
    """First cycle once enough ready data exists; the next only after retrain_cadence new ready seconds."""
    schedule = ContinuousSchedule(
        source_for(frames), train_duration=64, retrain_cadence=40, min_ready_seconds=48, retry_after=16, last_end=None
    )
    assert schedule.next_span() == (START + DURATION - 64, START + DURATION)
    schedule.succeeded(START + 60)  # as if the last span had ended at START + 60: 36 s new
    assert schedule.next_span() is None
    schedule.succeeded(START + 56)  # 40 s new
    assert schedule.next_span() == (START + DURATION - 64, START + DURATION)
    schedule.failed(START + DURATION)  # a failed check waits for retry_after seconds of new data
    assert schedule.next_span() is None


def test_run_continuously_trains_then_sleeps_until_stopped(frames):
    """The loop trains when due, records success, then sleeps on the stop event."""
    schedule = ContinuousSchedule(source_for(frames), 64, 40, 48, 16, last_end=None)
    stop = threading.Event()
    spans = []

    def train_span(start, end):
        spans.append((start, end))
        threading.Timer(0.2, stop.set).start()
        return True

    run_continuously(schedule, train_span, stop, poll_interval=0.05)
    assert spans == [(START + DURATION - 64, START + DURATION)]
    assert schedule.last_end == START + DURATION
