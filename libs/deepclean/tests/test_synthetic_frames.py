"""The synthetic detector's frames: names, channels, read-back, injected faults, pacing, retention."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gwpy.timeseries import TimeSeriesDict

from deepclean.frames import FrameName, list_frames, read_frame
from deepclean.synthetic import (
    FaultInjection,
    FrameLayout,
    FrameStreamer,
    SyntheticDetector,
    streaming,
    write_span,
)

T0 = 1400000000
STRAIN, STATE, TRUTH = "H1:GDS-CALIB_STRAIN", "H1:GDS-CALIB_STATE_VECTOR", "H1:SYN-INJECTED_NOISE"
MAINS, DHARD = "H1:PEM-CS_MAINSMON_EBAY_1_DQ", "H1:ASC-DHARD_P_OUT_DQ"


def _layout(root: Path, truth: bool = True) -> FrameLayout:
    return FrameLayout(root / "llhoft", root / "lldetchar", root / "truth" if truth else None)


def _gps(directory: Path) -> list[int]:
    return sorted(FrameName.parse(p.name).gps for p in directory.glob("*.gwf"))


def test_frames_have_the_contract_names_channels_and_rates(tmp_path):
    """Strain, witness and truth frames carry the documented names and channels and read back exactly, with gwpy too."""
    detector = SyntheticDetector()
    span = detector.generate(T0, 3)
    write_span(span, _layout(tmp_path))
    assert [p.name for p in sorted((tmp_path / "llhoft").iterdir())] == [
        f"H-H1_llhoft-{T0 + i}-1.gwf" for i in range(3)
    ]
    assert (tmp_path / "lldetchar" / f"H-H1_lldetchar-{T0}-1.gwf").is_file()
    assert (tmp_path / "truth" / f"H-H1_llnoise-{T0}-1.gwf").is_file()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith("-1.gwf")]

    second = span.second(T0 + 1)
    strain = read_frame(tmp_path / "llhoft" / f"H-H1_llhoft-{T0 + 1}-1.gwf")
    assert set(strain.data) == {STRAIN, STATE}
    assert strain.t0 == T0 + 1 and strain.sample_rate(STRAIN) == 16384 and strain.sample_rate(STATE) == 16
    assert np.array_equal(strain[STRAIN], second.strain) and np.array_equal(strain[STATE], second.state)

    gwpy_strain = TimeSeriesDict.read(str(tmp_path / "llhoft" / f"H-H1_llhoft-{T0 + 1}-1.gwf"), [STRAIN, STATE])
    assert gwpy_strain[STRAIN].sample_rate.value == 16384 and gwpy_strain[STRAIN].t0.value == T0 + 1
    assert gwpy_strain[STATE].dtype == np.int32 and gwpy_strain[STATE].sample_rate.value == 16
    assert np.array_equal(gwpy_strain[STRAIN].value, second.strain)

    path = tmp_path / "lldetchar" / f"H-H1_lldetchar-{T0 + 1}-1.gwf"
    witnesses = read_frame(path)
    assert set(witnesses.data) == set(detector.config.witness_channels)
    for channel, rate in span.witness_sample_rates.items():
        assert witnesses.sample_rate(channel) == rate, channel
        assert np.array_equal(witnesses[channel], second.witnesses[channel]), channel
    gwpy_witnesses = TimeSeriesDict.read(str(path), [MAINS, DHARD])
    assert gwpy_witnesses[MAINS].sample_rate.value == 1024 and gwpy_witnesses[DHARD].sample_rate.value == 2048

    truth = TimeSeriesDict.read(str(tmp_path / "truth" / f"H-H1_llnoise-{T0 + 1}-1.gwf"), [TRUTH])[TRUTH]
    assert truth.sample_rate.value == 16384
    assert np.array_equal(truth.value, second.truth)


def test_dropped_and_late_frames(tmp_path, monkeypatch):
    """Listed frames are dropped (never written) or written late, after the strain of their GPS + delay."""
    order = []
    for kind in ("strain", "witness"):
        original = getattr(streaming, f"write_{kind}")

        def recording(span, layout, original=original, kind=kind):
            order.append((kind, span.start))
            return original(span, layout)

        monkeypatch.setattr(streaming, f"write_{kind}", recording)
    faults = FaultInjection(
        drop_strain_gps={T0 + 2}, drop_witness_gps={T0 + 4}, late_witness_gps={T0 + 1, T0 + 8}, late_witness_delay=2.5
    )
    report = FrameStreamer(SyntheticDetector(), _layout(tmp_path, truth=False), faults).run(T0, history=10, duration=10)
    assert _gps(tmp_path / "llhoft") == [T0 + i for i in range(10) if i != 2]
    assert _gps(tmp_path / "lldetchar") == [T0 + i for i in range(10) if i != 4]
    assert not (tmp_path / "truth").exists()
    assert report.dropped_strain == [T0 + 2] and report.dropped_witness == [T0 + 4]
    assert report.late_witness == [T0 + 1, T0 + 8]
    late = order.index(("witness", T0 + 1))
    assert order.index(("strain", T0 + 3)) < late < order.index(("strain", T0 + 4))
    assert order[-1] == ("witness", T0 + 8)  # still pending at the end: written, not lost


def test_random_faults_follow_probability_and_seed():
    """Random drops hit about the configured fraction of seconds, the same ones for the same seed."""
    gps = range(T0, T0 + 4000)
    faults = FaultInjection(seed=5, drop_strain_probability=0.1, late_witness_probability=0.05)
    dropped = [g for g in gps if faults.drops_strain(g)]
    assert len(dropped) == pytest.approx(400, rel=0.2)
    assert dropped == [g for g in gps if FaultInjection(seed=5, drop_strain_probability=0.1).drops_strain(g)]
    assert dropped != [g for g in gps if FaultInjection(seed=6, drop_strain_probability=0.1).drops_strain(g)]
    assert sum(faults.witness_delay(g) > 0 for g in gps) == pytest.approx(200, rel=0.25)
    assert not any(faults.drops_witness(g) for g in gps)


class _SimulatedTime:
    """A monotonic clock and a stop event whose waits advance simulated time instead of sleeping."""

    def __init__(self) -> None:
        self.now = 100.0
        self.stopped = False

    def __call__(self) -> float:
        return self.now

    def wait(self, timeout: float) -> bool:
        self.now += timeout
        return self.stopped

    def is_set(self) -> bool:
        return self.stopped


def test_live_pacing_does_not_drift(tmp_path, monkeypatch):
    """Live frames go out on a fixed 1/speed schedule from going live, however long writing takes; history at once."""
    clock = _SimulatedTime()
    times = {}
    original = streaming.write_strain

    def slow_write(span, layout):
        times[span.start] = clock.now
        clock.now += 0.03  # writing takes time: must not push the schedule back
        return original(span, layout)

    monkeypatch.setattr(streaming, "write_strain", slow_write)
    speed = 10.0
    streamer = FrameStreamer(SyntheticDetector(), _layout(tmp_path, truth=False), speed=speed, stop=clock, clock=clock)
    streamer.run(T0, history=3, duration=11)
    live = T0 + 3
    assert [times[g] - times[live] for g in range(live, T0 + 11)] == pytest.approx(np.arange(8) / speed)
    assert times[live] - times[T0] == pytest.approx(3 * 0.03)  # the history did not wait


def test_live_pacing_in_real_time(tmp_path):
    """With the real clock, 8 live frames at 20x take about 7/20 s after the history."""
    start = time.monotonic()
    FrameStreamer(SyntheticDetector(), _layout(tmp_path, truth=False), speed=20.0).run(T0, history=2, duration=10)
    assert 7 / 20 <= time.monotonic() - start < 5.0
    assert len(_gps(tmp_path / "llhoft")) == 10


def test_stop_event_finishes_the_current_frame(tmp_path):
    """Setting the stop event ends the run after whole frames, and pending late frames are still written."""
    stop = threading.Event()
    faults = FaultInjection(late_witness_gps={T0 + 1}, late_witness_delay=100.0)
    streamer = FrameStreamer(SyntheticDetector(), _layout(tmp_path), faults, speed=20.0, stop=stop)
    reports = []
    runner = threading.Thread(target=lambda: reports.append(streamer.run(T0, history=0, duration=None)))
    runner.start()
    deadline = time.monotonic() + 60
    while len(list((tmp_path / "llhoft").glob("*.gwf"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    runner.join(timeout=30)
    (report,) = reports
    assert report.stopped and T0 + 3 <= report.next_gps < T0 + 60
    assert _gps(tmp_path / "llhoft") == list(range(T0, report.next_gps))
    assert T0 + 1 in _gps(tmp_path / "lldetchar")
    for path in (tmp_path / "llhoft").iterdir():
        read_frame(path)


def test_write_errors_are_logged_and_the_stream_goes_on(tmp_path, caplog):
    """A frame that cannot be written (its directory is a file) is logged with its GPS; the other streams go on."""
    (tmp_path / "lldetchar").write_text("a file where the witness directory should be")
    report = FrameStreamer(SyntheticDetector(), _layout(tmp_path, truth=False)).run(T0, history=3, duration=3)
    assert _gps(tmp_path / "llhoft") == [T0, T0 + 1, T0 + 2]
    assert report.failed == [("witness", T0), ("witness", T0 + 1), ("witness", T0 + 2)]
    assert report.witness_frames == 0 and report.strain_frames == 3
    assert f"GPS {T0 + 1}: cannot write the witness frame" in caplog.text


def test_retention_keeps_a_rolling_window(tmp_path, monkeypatch):
    """With a retention, frames older than it (all three streams) are deleted as the stream goes; other files stay."""
    monkeypatch.setattr(streaming, "PROGRESS_EVERY", 4)
    layout = _layout(tmp_path)
    (tmp_path / "llhoft").mkdir()
    foreign = tmp_path / "llhoft" / "H-H1_other-1300000000-1.gwf"
    foreign.write_text("not ours")
    FrameStreamer(SyntheticDetector(), layout, retention=3).run(T0, history=12, duration=12)
    for directory, tag in (("llhoft", "llhoft"), ("lldetchar", "lldetchar"), ("truth", "llnoise")):
        assert [f.gps for f in list_frames(tmp_path / directory, "H", "H1", tag)] == [T0 + 9, T0 + 10, T0 + 11]
    assert foreign.exists()
    assert layout.remove_before(T0 + 11) == 6 and layout.span_on_disk() == (T0 + 11, T0 + 11)
