"""Which seconds of a cleaned stream count for its model version (DQ bits, versions, missing raw frames)."""

from __future__ import annotations

import numpy as np
from synthetic_cleaning import DQ, write_seconds

from deepclean.cleaned_frames import INPUT_GAP, NO_MODEL, NOT_ANALYSIS_READY, SAFETY_FALLBACK
from deepclean.frames import read_frame, write_frame
from deepclean_monitor.main import monitor

T0 = 1_400_000_000


def test_seconds_without_a_usable_model_are_not_measured(frame_dirs, exporter, monitor_settings):
    """Seconds flagged no model, input gap or not analysis ready do not count; fallback seconds do."""
    no_model, gap, not_ready, fallback = NO_MODEL, INPUT_GAP, NOT_ANALYSIS_READY, SAFETY_FALLBACK
    write_seconds(frame_dirs, T0, 12, production=(1, "clean90"), canary=(2, "clean90"), dq=gap | (no_model << 8))
    write_seconds(
        frame_dirs, T0 + 12, 12, production=(1, "clean90"), canary=(2, "clean90"), dq=not_ready | (fallback << 8)
    )
    service = monitor(**monitor_settings)
    assert 1 not in service.state.qualities
    assert service.state.qualities[2].seconds == 12
    assert service.state.qualities[2].fallback_seconds == 12


def test_missing_raw_frame_and_mixed_versions(frame_dirs, exporter, monitor_settings):
    """A cleaned frame without its raw frame is counted missing; a second with two versions is not measured."""
    write_seconds(frame_dirs, T0, 16, production=(1, "clean90"), canary=(0, "none"))
    frame_dirs.raw_path(T0 + 3).unlink()
    path = frame_dirs.cleaned_path(T0 + 9)
    frame = read_frame(path)
    versions = frame.data["H1:DEEPCLEAN-PRODUCTION_VERSION"].copy()
    versions[8:] = 2
    write_frame(path, {**frame.data, "H1:DEEPCLEAN-PRODUCTION_VERSION": versions}, t0=T0 + 9)
    service = monitor(**monitor_settings)
    assert service.state.frames_missing == 1
    # 0-2 partial (dropped), 4-8 gives one segment 4-7, 9 mixed, 10-13 one segment, 14-15 partial
    assert service.state.qualities[1].seconds == 8
    assert read_frame(frame_dirs.cleaned_path(T0)).data[DQ].dtype == np.int32
    text = (monitor_settings["reports_dir"] / "monitor.prom").read_text()
    assert 'deepclean_monitor_frames_missing_total{stream="raw"} 1.0' in text


def test_follows_live_frames_and_gives_up_on_a_dropped_one(frame_dirs, exporter, monitor_settings):
    """Frames arriving while the monitor runs are read as they come; one that never arrives is counted missing."""
    import threading
    import time

    def cleaner():
        for gps in range(T0, T0 + 20):
            if gps != T0 + 10:  # dropped
                write_seconds(frame_dirs, gps, 1, production=(1, "clean90"), canary=(0, "none"))
            time.sleep(0.05)

    writer = threading.Thread(target=cleaner, daemon=True)
    writer.start()
    service = monitor(**{**monitor_settings, "exit_when_idle": False, "run_seconds": 4.0, "frame_timeout": 0.5})
    writer.join(timeout=10)
    assert service.state.last_gps == T0 + 19
    assert service.state.frames_missing == 1
    assert service.state.qualities[1].seconds == 8  # 11-14 and 15-18 after the gap (0-7 slid out)


def test_a_second_in_which_the_subtraction_fades_in_is_not_measured():
    """CLEANED on part of a second's DQ samples (a fade in or out) keeps the second out of the figures."""
    from deepclean_monitor.cleaned_frames import CLEANED, SAFETY_FALLBACK, StreamSecond

    steady = StreamSecond(version=1, cleaned=np.zeros(4), dq_bits=CLEANED)
    fading = StreamSecond(version=1, cleaned=np.zeros(4), dq_bits=CLEANED | SAFETY_FALLBACK, transition=True)
    raw_written = StreamSecond(version=1, cleaned=np.zeros(4), dq_bits=SAFETY_FALLBACK)
    assert steady.measurable and raw_written.measurable and raw_written.fell_back
    assert not fading.measurable


def test_a_second_written_narrowed_is_measured_and_is_not_a_fallback():
    """The gate wrote the narrowed estimate: the version's own output, measured by the figures and not
    counted against it like raw strain (``max_fallback_fraction``)."""
    from deepclean.cleaned_frames import NARROWED
    from deepclean_monitor.cleaned_frames import CLEANED, SAFETY_FALLBACK, StreamSecond

    narrowed = StreamSecond(version=1, cleaned=np.zeros(4), dq_bits=CLEANED | NARROWED)
    assert narrowed.measurable and not narrowed.fell_back
    fading_to_raw = StreamSecond(version=1, cleaned=np.zeros(4), dq_bits=CLEANED | NARROWED | SAFETY_FALLBACK)
    assert fading_to_raw.fell_back


def test_a_second_monitor_on_the_same_decision_log_refuses_to_start(frame_dirs, exporter, monitor_settings):
    """While another monitor holds the decision log's directory this one stops at once, naming it."""
    import pytest

    from deepclean.single_writer import single_writer

    directory = monitor_settings["decision_log"].parent
    with single_writer(directory, "monitor"), pytest.raises(SystemExit, match="already writes to"):
        monitor(**monitor_settings)
    assert not monitor_settings["decision_log"].exists()
