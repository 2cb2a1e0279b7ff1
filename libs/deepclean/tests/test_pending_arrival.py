"""When a frame arrived: from its modification time, but never trusting a writer's skewed clock."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from deepclean.frames import FrameName, write_frame
from deepclean.frames.pending import PendingFrameFile

GPS = 1400000000
CHANNEL = "H1:GDS-CALIB_STRAIN"


def _pending(directory: Path) -> PendingFrameFile:
    name = FrameName(GPS, "H", "H1", "llhoft")
    return PendingFrameFile(name, directory, [CHANNEL], settle_time=0.05, clock=time.monotonic)


def _write(directory: Path, mtime_skew: float) -> None:
    path = write_frame(directory / FrameName(GPS, "H", "H1", "llhoft").filename, {CHANNEL: np.zeros(64)}, GPS)
    stamp = time.time() + mtime_skew
    os.utime(path, (stamp, stamp))


def test_a_frame_stamped_an_hour_behind_arrived_after_the_last_poll_that_missed_it(tmp_path):
    pending = _pending(tmp_path)
    assert pending.poll() is None
    missed = time.monotonic()
    _write(tmp_path, mtime_skew=-3600.0)
    assert pending.poll() is not None
    assert missed - 0.01 <= pending.arrival() <= time.monotonic()


def test_a_frame_stamped_in_the_future_arrived_no_later_than_it_was_seen(tmp_path):
    pending = _pending(tmp_path)
    _write(tmp_path, mtime_skew=+3600.0)
    seen = time.monotonic()
    assert pending.poll() is not None
    assert pending.arrival() <= seen + 0.05


def test_a_frame_already_there_keeps_its_stamp(tmp_path):
    """History (there before anyone waited for it): the modification time is all there is."""
    _write(tmp_path, mtime_skew=-30.0)
    pending = _pending(tmp_path)
    assert pending.poll() is not None
    assert abs((time.monotonic() - pending.arrival()) - 30.0) < 1.0
