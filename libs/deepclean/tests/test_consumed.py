"""Tests of deepclean.frames.consumed: frames already read, rewritten or duplicated afterwards.

Regression: a follower read each second once and never looked at it again, so a
frame rewritten after it was read, or a second file for the same second, was
ignored without a word; a zero-padded duplicate name in the directory listing
crashed the follower (IndexError) when the canonical file was missing.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from deepclean.frames import (
    ConsumedFrames,
    Frame,
    FrameFollower,
    FrameName,
    JoinedFollower,
    ReplacedFrame,
    StreamFiles,
    write_frame,
)
from deepclean.frames.pending import file_signature

SITE, IFO, TAG = "H", "H1", "llhoft"
CHANNEL = "H1:GDS-CALIB_STRAIN"
WITNESS = "H1:PEM-CS_MAINSMON_EBAY_1_DQ"
GPS = 1400000000
FAST = {"timeout": 0.4, "settle_time": 0.05, "poll_interval": 0.005, "scan_interval": 0.05}

pytestmark = pytest.mark.timeout(30)


def write(directory: Path, gps: int, value: float = 0.0, name: str | None = None, tag: str = TAG) -> Path:
    """A 1 s frame of ``gps`` whose samples are all ``value``, under its own name or ``name``."""
    path = directory / (name or FrameName(gps, SITE, IFO, tag).filename)
    return write_frame(path, {CHANNEL if tag == TAG else WITNESS: np.full(64, value)}, gps)


def read(consumed: ConsumedFrames, path: Path, gps: int) -> None:
    consumed.remember(gps, path, file_signature(os.stat(path)))


def watched(directory: Path, reported: list, **kwargs) -> ConsumedFrames:
    return ConsumedFrames(StreamFiles(directory, SITE, IFO, TAG), on_replaced=reported.append, **kwargs)


def test_a_frame_rewritten_after_it_was_read_is_reported_once(tmp_path):
    """A rewrite (new inode) of a frame read is one "rewritten" event, however often the directory is checked."""
    reported: list[ReplacedFrame] = []
    consumed = watched(tmp_path, reported)
    path = write(tmp_path, GPS)
    read(consumed, path, GPS)
    assert consumed.check() == []
    write(tmp_path, GPS, value=1.0)
    events = consumed.check()
    assert events == [ReplacedFrame(GPS, path, path, "rewritten")] and reported == events
    write(tmp_path, GPS, value=2.0)  # rewritten again: the same second, not a new report
    assert consumed.check() == [] and consumed.check() == [] and len(reported) == 1
    assert str(events[0]) == f"{path} was rewritten after it was read"


def test_a_frame_rewritten_in_place_is_reported(tmp_path):
    """A writer overwriting the same inode (size and modification time change) is caught too."""
    reported: list[ReplacedFrame] = []
    consumed = watched(tmp_path, reported)
    path = write(tmp_path, GPS)
    read(consumed, path, GPS)
    inode = os.stat(path).st_ino
    with open(path, "ab") as stream:
        stream.write(b"\0" * 16)
    assert os.stat(path).st_ino == inode
    assert [e.change for e in consumed.check()] == ["rewritten"]


def test_a_second_file_for_a_second_read_is_a_duplicate(tmp_path):
    """A zero-padded name for a second already read is reported as a duplicate naming both files."""
    reported: list[ReplacedFrame] = []
    consumed = watched(tmp_path, reported)
    path = write(tmp_path, GPS)
    read(consumed, path, GPS)
    duplicate = write(tmp_path, GPS, value=5.0, name=f"{SITE}-{IFO}_{TAG}-0{GPS}-1.gwf")
    assert consumed.check() == [ReplacedFrame(GPS, duplicate, path, "duplicate")]
    assert consumed.check() == []
    assert "already read from " + path.name in str(reported[0])


def test_unread_deleted_and_other_streams_files_are_not_reported(tmp_path):
    """Frames not read yet, a frame read then deleted, and files of other streams or durations are no change."""
    reported: list[ReplacedFrame] = []
    consumed = watched(tmp_path, reported)
    first, second = write(tmp_path, GPS), write(tmp_path, GPS + 1)
    read(consumed, first, GPS)
    read(consumed, second, GPS + 1)
    second.unlink()  # a live directory pruned of old frames
    write(tmp_path, GPS + 2, value=3.0)  # not read yet
    write(tmp_path, GPS, name=f"{SITE}-{IFO}_{TAG}-{GPS}-4.gwf")  # another duration
    write(tmp_path, GPS, tag="lldetchar")  # another stream
    (tmp_path / f".{first.name}.tmp").write_bytes(b"partial")  # a writer's temporary file
    assert consumed.check() == [] and reported == []


def test_only_the_last_window_seconds_are_remembered(tmp_path):
    """Memory stays bounded: a second older than the window is forgotten, and its rewrite goes unreported."""
    reported: list[ReplacedFrame] = []
    consumed = watched(tmp_path, reported, window=5)
    paths = {gps: write(tmp_path, gps) for gps in range(GPS, GPS + 20)}
    for gps, path in paths.items():
        read(consumed, path, gps)
    assert len(consumed) == 6
    write(tmp_path, GPS, value=1.0)  # long forgotten
    write(tmp_path, GPS + 18, value=1.0)
    assert [e.gps for e in consumed.check()] == [GPS + 18]


def test_poll_checks_at_most_once_per_interval(tmp_path):
    """poll() lists the directory only when check_interval has passed on the clock."""
    now = [0.0]
    reported: list[ReplacedFrame] = []
    consumed = watched(tmp_path, reported, check_interval=1.0, clock=lambda: now[0])
    path = write(tmp_path, GPS)
    read(consumed, path, GPS)
    assert consumed.poll() == []
    write(tmp_path, GPS, value=1.0)
    now[0] = 0.5
    assert consumed.poll() == []
    now[0] = 1.0
    assert [e.gps for e in consumed.poll()] == [GPS]


def test_the_follower_warns_once_about_a_frame_rewritten_after_it_was_read(tmp_path, caplog):
    """The frame yielded keeps its first content; the rewrite is one warning naming the GPS and the file."""
    for gps in range(GPS, GPS + 4):
        write(tmp_path, gps, value=float(gps - GPS))
    follower = FrameFollower(tmp_path, SITE, IFO, TAG, start=GPS, end=GPS + 4, **FAST)
    items = []
    for item in follower:
        items.append(item)
        if item.gps == GPS + 1:
            write(tmp_path, GPS + 1, value=99.0)
    assert [i.gps for i in items] == list(range(GPS, GPS + 4)) and all(isinstance(i, Frame) for i in items)
    np.testing.assert_array_equal(items[1].data[CHANNEL], np.full(64, 1.0))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    path = FrameName(GPS + 1, SITE, IFO, TAG).path(tmp_path)
    assert warnings == [f"GPS {GPS + 1}: {path} was rewritten after it was read; keeping the frame already read"]


def test_a_duplicate_name_without_the_canonical_file_is_a_dropped_second_not_a_crash(tmp_path):
    """Only the canonically named file is the frame: a zero-padded name alone leaves a dropped gap."""
    write(tmp_path, GPS)
    write(tmp_path, GPS + 1, name=f"{SITE}-{IFO}_{TAG}-0{GPS + 1}-1.gwf")
    write(tmp_path, GPS + 2)
    follower = FrameFollower(tmp_path, SITE, IFO, TAG, start=GPS, **FAST)
    items = list(itertools.islice(follower, 3))
    assert [(type(i).__name__, getattr(i, "reason", None)) for i in items] == [
        ("Frame", None),
        ("Gap", "dropped"),
        ("Frame", None),
    ]
    assert (items[1].start, items[1].end) == (GPS + 1, GPS + 2)
    assert follower.scan() == [GPS, GPS + 2]


def test_the_joined_follower_reports_a_witness_duplicate_once(tmp_path):
    """A second witness file for a second already joined is reported once, through the witness watcher."""
    strain_dir, witness_dir = tmp_path / "llhoft", tmp_path / "lldetchar"
    for gps in range(GPS, GPS + 3):
        write(strain_dir, gps)
        write(witness_dir, gps, tag="lldetchar")
    reported: list[ReplacedFrame] = []
    witnesses = ConsumedFrames(StreamFiles(witness_dir, SITE, IFO, "lldetchar"), on_replaced=reported.append)
    strain = FrameFollower(strain_dir, SITE, IFO, TAG, start=GPS, end=GPS + 3, **FAST)
    joined = JoinedFollower(strain, witness_dir, "lldetchar", witness_timeout=1.0, witness_consumed=witnesses)
    for pair in joined:
        if pair.gps == GPS:
            write(witness_dir, GPS, value=7.0, name=f"{SITE}-{IFO}_lldetchar-0{GPS}-1.gwf", tag="lldetchar")
    assert [(e.gps, e.change) for e in reported] == [(GPS, "duplicate")]


def test_a_frame_for_a_second_passed_unread_is_reported_once_and_history_is_not(tmp_path):
    """The feed goes back: a file appearing for a second behind the newest read, never read, is "passed";
    files there at the first check (history) and files ahead of the stream are not reported."""
    reported: list[ReplacedFrame] = []
    consumed = ConsumedFrames(StreamFiles(tmp_path, SITE, IFO, TAG), on_replaced=reported.append, report_passed=True)
    write(tmp_path, GPS - 5)  # history, never read
    for gps in (GPS, GPS + 1, GPS + 3):  # GPS + 2 was dropped
        read(consumed, write(tmp_path, gps), gps)
    write(tmp_path, GPS + 4)  # ahead: not passed yet
    assert consumed.check() == []
    late = write(tmp_path, GPS + 2)
    earlier = write(tmp_path, GPS - 2)
    events = consumed.check()
    assert events == [ReplacedFrame(GPS - 2, earlier, None, "passed"), ReplacedFrame(GPS + 2, late, None, "passed")]
    assert consumed.check() == [] and len(reported) == 2
    assert str(events[1]) == f"{late} arrived after the stream had passed GPS {GPS + 2}; not read"
    quiet = ConsumedFrames(StreamFiles(tmp_path / "q", SITE, IFO, TAG), on_replaced=reported.append)
    (tmp_path / "q").mkdir()
    read(quiet, write(tmp_path / "q", GPS + 3), GPS + 3)
    quiet.check()
    write(tmp_path / "q", GPS + 1)
    assert quiet.check() == []  # not asked to report passed seconds


def test_one_listing_serves_the_follower_and_the_check_of_the_frames_read(tmp_path, monkeypatch, caplog):
    """Following with ``max_lag`` lists the directory once per scan interval, not once for the catch-up
    and again for the check of the frames read; a rewrite is still reported once."""
    for gps in range(GPS, GPS + 3):
        write(tmp_path, gps)
    listings = []
    scandir = os.scandir

    def counted(path):
        listings.append(Path(path))
        return scandir(path)

    now = [0.0]
    monkeypatch.setattr("deepclean.frames.naming.os.scandir", counted)
    follower = FrameFollower(
        tmp_path, SITE, IFO, TAG, start=GPS, end=GPS + 3, max_lag=100.0, clock=lambda: now[0], **FAST
    )
    items = []
    for item in follower:
        items.append(item)
        if item.gps == GPS:
            write(tmp_path, GPS, value=5.0)  # rewritten after it was read
        now[0] += FAST["scan_interval"]  # each later second finds both the catch-up and the check due
    assert [i.gps for i in items] == [GPS, GPS + 1, GPS + 2] and all(isinstance(i, Frame) for i in items)
    assert listings == [tmp_path] * 4  # one per second read, one for the final check
    assert len(follower.consumed) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    path = FrameName(GPS, SITE, IFO, TAG).path(tmp_path)
    assert warnings == [f"GPS {GPS}: {path} was rewritten after it was read; keeping the frame already read"]
