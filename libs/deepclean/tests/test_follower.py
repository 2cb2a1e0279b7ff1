"""Tests of deepclean.frames.follower: following one live stream.

Frames are written by writer threads with deepclean.frames.write_frame while
the follower reads, with timeouts of a fraction of a second.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from deepclean.frames import Frame, FrameFollower, FrameName, Gap, StreamDeadError, write_frame

SITE, IFO, TAG = "H", "H1", "llhoft"
CHANNEL = "H1:GDS-CALIB_STRAIN"
GPS = 1400000000
FAST = {"timeout": 0.4, "settle_time": 0.05, "poll_interval": 0.005, "scan_interval": 0.05}

pytestmark = pytest.mark.timeout(30)


def frame_path(directory: Path, gps: int, tag: str = TAG) -> Path:
    return FrameName(gps, SITE, IFO, tag).path(directory)


def write(directory: Path, gps: int, tag: str = TAG, channel: str = CHANNEL) -> Path:
    """A 1 s frame whose 64 samples encode its GPS second."""
    return write_frame(frame_path(directory, gps, tag), {channel: np.full(64, float(gps - GPS))}, gps)


class Writer(threading.Thread):
    """Runs (delay, action) steps in the background, each delay after the previous step."""

    def __init__(self, steps: list[tuple[float, Callable[[], object]]]):
        super().__init__(daemon=True)
        self.steps = steps

    def run(self) -> None:
        for delay, action in self.steps:
            time.sleep(delay)
            action()


class FakeTime:
    """A monotonic clock that only moves when slept on, running scheduled actions as it passes them."""

    def __init__(self, actions: dict[float, Callable[[], object]] | None = None):
        self.time = 0.0
        self.actions = sorted((actions or {}).items())

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds
        while self.actions and self.actions[0][0] <= self.time:
            self.actions.pop(0)[1]()


def on_fake_time(directory: Path, clock: FakeTime, **options) -> FrameFollower:
    """A follower of ``directory`` whose clock and sleep are ``clock``'s."""
    return FrameFollower(directory, SITE, IFO, TAG, clock=clock.now, sleep=clock.sleep, **options)


def follow(directory: Path, count: int, **kwargs) -> list[Frame | Gap]:
    options = {**FAST, **kwargs}
    follower = FrameFollower(directory, SITE, IFO, TAG, **options)
    return list(itertools.islice(follower, count))


def describe(items: list[Frame | Gap]) -> list[tuple]:
    """Frames as ("frame", gps), gaps as (reason, start, end)."""
    return [("frame", i.gps) if isinstance(i, Frame) else (i.reason, i.start, i.end) for i in items]


def test_frames_present_come_in_gps_order_with_their_data(tmp_path):
    """Frames already on disk are read from the start GPS in order, each with its own samples."""
    for gps in (GPS + 2, GPS, GPS + 1):
        write(tmp_path, gps)
    items = follow(tmp_path, 3, start=GPS)
    assert describe(items) == [("frame", GPS), ("frame", GPS + 1), ("frame", GPS + 2)]
    for item in items:
        np.testing.assert_array_equal(item.data[CHANNEL], np.full(64, float(item.gps - GPS)))
        assert item.path == frame_path(tmp_path, item.gps)


def test_out_of_order_arrival_is_reordered(tmp_path):
    """Frames written newest first, while the follower waits, still come out in GPS order with no gap."""
    writer = Writer(
        [
            (0.05, lambda: write(tmp_path, GPS + 2)),
            (0.05, lambda: write(tmp_path, GPS + 1)),
            (0.05, lambda: write(tmp_path, GPS)),
        ]
    )
    writer.start()
    items = follow(tmp_path, 3, start=GPS, timeout=5.0)  # no gap expected: a long timeout keeps a busy machine honest
    writer.join()
    assert describe(items) == [("frame", GPS), ("frame", GPS + 1), ("frame", GPS + 2)]


def test_file_caught_mid_write_is_read_once_complete(tmp_path, caplog):
    """A frame file that is truncated when first read is read again, complete, once it settles."""
    reference = write(tmp_path / "ref", GPS)
    content = reference.read_bytes()
    target = frame_path(tmp_path, GPS)
    target.write_bytes(content[: len(content) // 2])  # a writer that does not rename, caught half way
    writer = Writer([(0.15, lambda: target.write_bytes(content))])
    writer.start()
    with caplog.at_level("DEBUG", logger="deepclean.frames"):
        items = follow(tmp_path, 1, start=GPS, timeout=5.0)
    writer.join()
    assert describe(items) == [("frame", GPS)]
    assert "unreadable" in caplog.text  # the half-written file was tried and refused first
    np.testing.assert_array_equal(items[0].data[CHANNEL], np.zeros(64))


def test_late_file_caught_mid_write_gets_its_own_timeout(tmp_path):
    """A frame file that appears just before the timeout, half written, is waited for and read, not called corrupt."""
    reference = write(tmp_path / "ref", GPS)
    content = reference.read_bytes()
    target = frame_path(tmp_path, GPS)
    clock = FakeTime({0.35: lambda: target.write_bytes(content[:1000]), 0.6: lambda: target.write_bytes(content)})
    follower = on_fake_time(tmp_path, clock, start=GPS, timeout=0.4, settle_time=0.05, poll_interval=0.01)
    items = list(itertools.islice(follower, 1))
    assert describe(items) == [("frame", GPS)]
    assert 0.6 <= clock.now() < 0.75


def test_dropped_frame_becomes_a_gap_after_the_timeout(tmp_path):
    """A frame that never comes is a "dropped" gap after about the timeout, and the stream goes on."""
    for gps in (GPS, GPS + 1, GPS + 3):
        write(tmp_path, gps)
    started = time.monotonic()
    items = follow(tmp_path, 4, start=GPS)
    elapsed = time.monotonic() - started
    assert describe(items) == [("frame", GPS), ("frame", GPS + 1), ("dropped", GPS + 2, GPS + 3), ("frame", GPS + 3)]
    assert FAST["timeout"] <= elapsed < FAST["timeout"] + 1.0


def test_long_gap_is_one_marker(tmp_path):
    """A 300 s jump in the stream is one gap covering all of it, after one timeout, not 300."""
    for gps in (GPS, GPS + 1, GPS + 301, GPS + 302):
        write(tmp_path, gps)
    started = time.monotonic()
    items = follow(tmp_path, 4, start=GPS)
    assert describe(items) == [
        ("frame", GPS),
        ("frame", GPS + 1),
        ("dropped", GPS + 2, GPS + 301),
        ("frame", GPS + 301),
    ]
    assert items[2].duration == 299
    assert time.monotonic() - started < 2 * FAST["timeout"] + 1.0


def test_resume_from_gps_and_live_edge(tmp_path):
    """A start GPS resumes there; no start begins at the newest frame present."""
    for gps in range(GPS, GPS + 10):
        write(tmp_path, gps)
    assert describe(follow(tmp_path, 2, start=GPS + 5)) == [("frame", GPS + 5), ("frame", GPS + 6)]
    assert describe(follow(tmp_path, 1)) == [("frame", GPS + 9)]


def test_live_edge_waits_for_the_first_frame(tmp_path):
    """Started on an empty directory, the follower begins with the first frame that appears."""
    writer = Writer([(0.1, lambda: write(tmp_path, GPS + 7)), (0.05, lambda: write(tmp_path, GPS + 8))])
    writer.start()
    items = follow(tmp_path, 2, timeout=5.0)
    writer.join()
    assert describe(items) == [("frame", GPS + 7), ("frame", GPS + 8)]


def test_falling_behind_jumps_to_the_newest_frame(tmp_path):
    """More than max_lag seconds behind, the follower skips to the newest frame with one "behind" gap."""
    for gps in range(GPS, GPS + 30):
        write(tmp_path, gps)
    items = follow(tmp_path, 2, start=GPS, max_lag=10)
    assert describe(items) == [("behind", GPS, GPS + 29), ("frame", GPS + 29)]
    # Within max_lag it reads everything.
    assert describe(follow(tmp_path, 2, start=GPS + 25, max_lag=10)) == [("frame", GPS + 25), ("frame", GPS + 26)]


def test_falling_behind_a_live_writer(tmp_path):
    """A consumer slower than a fast writer is pulled forward instead of drifting further behind."""
    stop = threading.Event()

    def write_fast():
        for gps in range(GPS, GPS + 400):
            if stop.is_set():
                return
            write(tmp_path, gps)

    writer = threading.Thread(target=write_fast, daemon=True)
    writer.start()
    follower = FrameFollower(tmp_path, SITE, IFO, TAG, start=GPS, max_lag=20, **FAST)
    items = []
    for item in follower:
        items.append(item)
        time.sleep(0.03)  # the consumer is ten times slower than the writer
        if isinstance(item, Gap) or len(items) > 200:
            break
    stop.set()
    writer.join()
    gap = items[-1]
    assert isinstance(gap, Gap) and gap.reason == "behind" and gap.duration > 20
    assert [i.gps for i in items[:-1]] == list(range(GPS, GPS + len(items) - 1))


def test_corrupt_file_that_never_settles_is_a_corrupt_gap(tmp_path):
    """A file that keeps changing without ever parsing is a "corrupt" gap naming the file; the next frame follows."""
    write(tmp_path, GPS)
    write(tmp_path, GPS + 2)
    target = frame_path(tmp_path, GPS + 1)
    stop = threading.Event()

    def keep_scribbling():
        with open(target, "ab") as f:
            while not stop.is_set():
                f.write(b"not a frame ")
                f.flush()
                time.sleep(0.01)

    writer = threading.Thread(target=keep_scribbling, daemon=True)
    writer.start()
    items = follow(tmp_path, 3, start=GPS)
    stop.set()
    writer.join()
    assert describe(items) == [("frame", GPS), ("corrupt", GPS + 1, GPS + 2), ("frame", GPS + 2)]
    assert "H-H1_llhoft-1400000001-1.gwf" in items[1].detail


def test_corrupt_settled_file_then_missing_frames(tmp_path):
    """A settled garbage file is a corrupt gap of its second, and the missing seconds after it one dropped gap."""
    write(tmp_path, GPS)
    frame_path(tmp_path, GPS + 1).write_bytes(b"garbage" * 100)
    write(tmp_path, GPS + 5)
    items = follow(tmp_path, 4, start=GPS)
    assert describe(items) == [
        ("frame", GPS),
        ("corrupt", GPS + 1, GPS + 2),
        ("dropped", GPS + 2, GPS + 5),
        ("frame", GPS + 5),
    ]


def test_frame_holding_another_second_is_corrupt(tmp_path):
    """A file whose contents start at a GPS other than its name's is not passed off as that second."""
    write_frame(frame_path(tmp_path, GPS), {CHANNEL: np.zeros(64)}, GPS + 7)
    write(tmp_path, GPS + 1)
    items = follow(tmp_path, 2, start=GPS)
    assert describe(items) == [("corrupt", GPS, GPS + 1), ("frame", GPS + 1)]
    assert "not what its name says" in items[0].detail


def test_missing_channel_is_unreadable(tmp_path):
    """A frame without a requested channel is a corrupt gap that names the channel."""
    write(tmp_path, GPS, channel="H1:OTHER")
    write(tmp_path, GPS + 1)
    items = follow(tmp_path, 2, start=GPS, channels=[CHANNEL])
    assert describe(items) == [("corrupt", GPS, GPS + 1), ("frame", GPS + 1)]
    assert CHANNEL in items[0].detail


def test_dead_stream_raises_after_consecutive_drops(tmp_path):
    """With nothing arriving, each timeout is a dropped gap until max_consecutive_drops, then StreamDeadError."""
    write(tmp_path, GPS)
    follower = FrameFollower(tmp_path, SITE, IFO, TAG, start=GPS, max_consecutive_drops=3, **{**FAST, "timeout": 0.1})
    items = []
    with pytest.raises(StreamDeadError, match=r"llhoft.*3 frames in a row.*GPS 1400000003"):
        for item in follower:
            items.append(item)
    assert describe(items) == [("frame", GPS), ("dropped", GPS + 1, GPS + 2), ("dropped", GPS + 2, GPS + 3)]


def test_iterating_again_after_a_dead_stream_resumes(tmp_path):
    """After StreamDeadError the same follower can be iterated again and picks the stream up where it returns."""
    clock = FakeTime()
    write(tmp_path, GPS)
    follower = on_fake_time(tmp_path, clock, start=GPS + 1, max_consecutive_drops=2, timeout=1.0)
    with pytest.raises(StreamDeadError):
        list(follower)
    write(tmp_path, GPS + 50)
    assert describe(itertools.islice(follower, 2)) == [("dropped", GPS + 2, GPS + 50), ("frame", GPS + 50)]


def test_stream_that_comes_back_is_not_dead(tmp_path):
    """Drops followed by a later frame reset the count: only drops in a row with nothing arriving kill the stream."""
    clock = FakeTime({0.25: lambda: (write(tmp_path, GPS + 10), write(tmp_path, GPS + 11))})
    write(tmp_path, GPS)
    follower = on_fake_time(tmp_path, clock, start=GPS, max_consecutive_drops=3, timeout=0.1, poll_interval=0.01)
    items = []
    with pytest.raises(StreamDeadError):
        for item in follower:
            items.append(item)
    assert describe(items) == [
        ("frame", GPS),
        ("dropped", GPS + 1, GPS + 2),
        ("dropped", GPS + 2, GPS + 3),
        ("dropped", GPS + 3, GPS + 10),  # the third timeout finds GPS+10: not dead, one gap up to it
        ("frame", GPS + 10),
        ("frame", GPS + 11),
        ("dropped", GPS + 12, GPS + 13),
        ("dropped", GPS + 13, GPS + 14),
    ]


def test_stop_event_ends_iteration(tmp_path):
    """Setting the stop event ends a follower that is waiting, promptly."""
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    follower = FrameFollower(tmp_path, SITE, IFO, TAG, start=GPS, stop=stop, timeout=60)
    started = time.monotonic()
    assert list(follower) == []
    assert time.monotonic() - started < 1.0


def test_bad_settings_are_refused(tmp_path):
    """Non-positive timeouts and negative lags are refused at construction."""
    with pytest.raises(ValueError, match="timeout"):
        FrameFollower(tmp_path, SITE, IFO, TAG, timeout=0)
    with pytest.raises(ValueError, match="max_lag"):
        FrameFollower(tmp_path, SITE, IFO, TAG, max_lag=-1)


def test_fake_clock_drives_timeouts_without_waiting(tmp_path):
    """With an injected clock and sleep, a 5 s timeout passes instantly and the gap is the same."""
    clock = FakeTime()
    write(tmp_path, GPS)
    write(tmp_path, GPS + 2)
    follower = on_fake_time(tmp_path, clock, start=GPS, timeout=5.0)
    started = time.monotonic()
    items = list(itertools.islice(follower, 3))
    assert describe(items) == [("frame", GPS), ("dropped", GPS + 1, GPS + 2), ("frame", GPS + 2)]
    assert 5.0 <= clock.now() < 5.5
    assert time.monotonic() - started < 1.0


def test_end_gps_stops_the_stream(tmp_path):
    """With an end GPS the follower stops there, clipping a gap that runs past it."""
    for gps in (GPS, GPS + 1, GPS + 300):
        write(tmp_path, gps)
    follower = FrameFollower(tmp_path, SITE, IFO, TAG, start=GPS, end=GPS + 5, **FAST)
    assert describe(list(follower)) == [("frame", GPS), ("frame", GPS + 1), ("dropped", GPS + 2, GPS + 5)]
    assert describe(list(FrameFollower(tmp_path, SITE, IFO, TAG, start=GPS, end=GPS + 1, **FAST))) == [("frame", GPS)]
