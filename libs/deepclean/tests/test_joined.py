"""Tests of deepclean.frames.joined: strain joined with witness frames."""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from deepclean.frames import FrameFollower, FrameName, FramePair, Gap, JoinedFollower, write_frame

SITE, IFO = "H", "H1"
STRAIN, WITNESS = "H1:GDS-CALIB_STRAIN", "H1:PEM-CS_MAINSMON_EBAY_1_DQ"
GPS = 1400000000
FAST = {"timeout": 0.5, "settle_time": 0.05, "poll_interval": 0.005, "scan_interval": 0.05}

pytestmark = pytest.mark.timeout(30)


def write(directory: Path, tag: str, channel: str, gps: int) -> Path:
    path = FrameName(gps, SITE, IFO, tag).path(directory)
    return write_frame(path, {channel: np.full(32, float(gps - GPS))}, gps)


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "llhoft", tmp_path / "lldetchar"


def joined(dirs, witness_timeout: float, **kwargs) -> JoinedFollower:
    strain_dir, witness_dir = dirs
    strain = FrameFollower(strain_dir, SITE, IFO, "llhoft", **{**FAST, **kwargs})
    return JoinedFollower(strain, witness_dir, "lldetchar", witness_channels=[WITNESS], witness_timeout=witness_timeout)


def summary(items) -> list[tuple]:
    return [
        (item.gps, item.witness_missing or "complete")
        if isinstance(item, FramePair)
        else (item.reason, item.start, item.end)
        for item in items
    ]


def test_pairs_of_the_same_second(dirs):
    """Strain and witness frames of the same GPS second come out together, each with its own data."""
    for gps in range(GPS, GPS + 3):
        write(dirs[0], "llhoft", STRAIN, gps)
        write(dirs[1], "lldetchar", WITNESS, gps)
    items = list(itertools.islice(joined(dirs, 1.0, start=GPS), 3))
    assert summary(items) == [(GPS, "complete"), (GPS + 1, "complete"), (GPS + 2, "complete")]
    for pair in items:
        assert pair.complete
        np.testing.assert_array_equal(pair.strain.data[STRAIN], np.full(32, float(pair.gps - GPS)))
        np.testing.assert_array_equal(pair.witness[WITNESS], np.full(32, float(pair.gps - GPS)))


def test_late_witness_within_timeout_is_waited_for(dirs):
    """A witness frame written 0.3 s after its strain frame is joined, not reported missing."""
    strain_dir, witness_dir = dirs

    def live():
        for gps in range(GPS, GPS + 3):
            write(strain_dir, "llhoft", STRAIN, gps)
            time.sleep(0.3)
            write(witness_dir, "lldetchar", WITNESS, gps)

    writer = threading.Thread(target=live, daemon=True)
    write(strain_dir, "llhoft", STRAIN, GPS - 1)  # the live edge to start from
    write(witness_dir, "lldetchar", WITNESS, GPS - 1)
    follower = joined(dirs, 2.0)
    iterator = iter(follower)
    first = next(iterator)
    writer.start()
    items = [first, *itertools.islice(iterator, 3)]
    writer.join()
    assert summary(items) == [(GPS - 1, "complete"), (GPS, "complete"), (GPS + 1, "complete"), (GPS + 2, "complete")]


def test_early_witness_is_found(dirs):
    """Witness frames written seconds before their strain frames are joined when the strain comes."""
    strain_dir, witness_dir = dirs
    for gps in range(GPS, GPS + 4):
        write(witness_dir, "lldetchar", WITNESS, gps)

    def live():
        for gps in range(GPS, GPS + 4):
            write(strain_dir, "llhoft", STRAIN, gps)
            time.sleep(0.05)

    writer = threading.Thread(target=live, daemon=True)
    writer.start()
    items = list(itertools.islice(joined(dirs, 0.5, start=GPS), 4))
    writer.join()
    assert all(item.complete for item in items)


def test_missing_witness_does_not_block_the_strain(dirs):
    """A witness frame that never comes leaves its strain frame marked "late" after the witness timeout, no longer."""
    strain_dir, witness_dir = dirs
    write(strain_dir, "llhoft", STRAIN, GPS)
    write(witness_dir, "lldetchar", WITNESS, GPS)
    follower = iter(joined(dirs, 0.3))
    assert summary([next(follower)]) == [(GPS, "complete")]

    def live():
        write(strain_dir, "llhoft", STRAIN, GPS + 1)  # its witness never comes
        time.sleep(0.05)
        write(strain_dir, "llhoft", STRAIN, GPS + 2)
        write(witness_dir, "lldetchar", WITNESS, GPS + 2)

    writer = threading.Thread(target=live, daemon=True)
    started = time.monotonic()
    writer.start()
    items = list(itertools.islice(follower, 2))
    elapsed = time.monotonic() - started
    writer.join()
    assert summary(items) == [(GPS + 1, "late"), (GPS + 2, "complete")]
    assert items[0].witness is None and "H-H1_lldetchar-1400000001-1.gwf" in items[0].detail
    assert 0.25 <= elapsed < 1.3  # the witness timeout, less file-time granularity


def test_dead_witness_stream_does_not_accumulate_lag(dirs):
    """With the witness stream gone, strain frames already waiting are not each held for the full witness timeout."""
    strain_dir, _ = dirs
    landed = time.time() - 10  # the strain frames landed 10 s ago, longer than the witness timeout
    for gps in range(GPS, GPS + 5):
        os.utime(write(strain_dir, "llhoft", STRAIN, gps), (landed, landed))
    started = time.monotonic()
    items = list(itertools.islice(joined(dirs, 5.0, start=GPS), 5))
    assert summary(items) == [(gps, "late") for gps in range(GPS, GPS + 5)]
    assert time.monotonic() - started < 2.0  # not 5 x 5 s


def test_corrupt_witness_is_reported_as_corrupt(dirs):
    """A witness file that cannot be read is "corrupt", with the reader's error, once the timeout passes."""
    strain_dir, witness_dir = dirs
    write(strain_dir, "llhoft", STRAIN, GPS)
    witness_dir.mkdir(parents=True)
    FrameName(GPS, SITE, IFO, "lldetchar").path(witness_dir).write_bytes(b"\0" * 500)
    items = list(itertools.islice(joined(dirs, 0.2, start=GPS), 1))
    assert summary(items) == [(GPS, "corrupt")]
    assert "cannot read frame" in items[0].detail


def test_strain_gaps_pass_through(dirs):
    """A dropped strain second is a gap in the joined stream, even when its witness frame exists."""
    strain_dir, witness_dir = dirs
    for gps in (GPS, GPS + 2):
        write(strain_dir, "llhoft", STRAIN, gps)
    for gps in range(GPS, GPS + 3):
        write(witness_dir, "lldetchar", WITNESS, gps)
    items = list(itertools.islice(joined(dirs, 0.2, start=GPS), 3))
    assert summary(items) == [(GPS, "complete"), ("dropped", GPS + 1, GPS + 2), (GPS + 2, "complete")]
    assert isinstance(items[1], Gap)
