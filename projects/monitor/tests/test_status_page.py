"""The status page's header and JSON: where the streams stand, never a bare negative lag."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from deepclean.frames import FrameName
from deepclean_monitor.frame_stream import CleanedFrameStream
from deepclean_monitor.monitor_loop import RawStream
from deepclean_monitor.status_page import StatusSnapshot, write_status_page
from deepclean_monitor.status_summary import write_status_summary
from deepclean_monitor.stream_lag import StreamLag, measure_lag

T0 = 1_400_000_000
WALL = 1_800_000_000.0


@pytest.fixture
def streams(tmp_path: Path) -> tuple[RawStream, CleanedFrameStream]:
    raw = RawStream(tmp_path / "llhoft", "H", "H1", "llhoft")
    cleaned = CleanedFrameStream(tmp_path / "cleaned", "H", "H1", "DEEPCLEAN", frame_timeout=0.0)
    raw.directory.mkdir()
    cleaned.directory.mkdir()
    return raw, cleaned


def touch_frames(directory: Path, tag: str, seconds: range, written: float = WALL) -> None:
    """Empty frame files (only their names and times are read) for ``seconds``, modified at ``written``."""
    for gps in seconds:
        path = FrameName(gps=gps, site="H", ifo="H1", tag=tag).path(directory)
        path.touch()
        os.utime(path, (written, written))


def snapshot(lag: StreamLag | None) -> StatusSnapshot:
    return StatusSnapshot(
        updated="2024-05-01 00:00:00 UTC",
        updated_unix=WALL,
        last_gps=lag.monitor_gps if lag else None,
        production_version=2,
        canary_version=3,
        qualities={},
        decisions=[],
        pending=[],
        frames_missing=0,
        lag=lag,
        images=["asd.png", "band_ratio.png"],
        exporter_pins={"production": 2, "canary": 3},
    )


def test_feed_ahead_of_the_clock_is_not_a_negative_lag(streams, tmp_path):
    """A simulated feed 981 s ahead of GPS now: the lags are taken between the streams, the offset said in words."""
    raw, cleaned = streams
    touch_frames(raw.directory, "llhoft", range(T0, T0 + 40))
    touch_frames(cleaned.directory, "DEEPCLEAN", range(T0, T0 + 38), written=WALL - 3)
    cleaned.start_at(T0 + 31)  # the monitor has read up to T0 + 30
    lag = measure_lag(raw, cleaned, T0 + 30, gps_now=T0 + 40 - 981, wall_now=WALL)
    assert (lag.cleaning_behind, lag.monitor_behind) == (2, 7)
    assert lag.cleaned_age_seconds == pytest.approx(3.0)
    assert lag.feed_offset_seconds == 981
    page = write_status_page(tmp_path / "index.html", snapshot(lag), 30).read_text()
    header = re.search(r'<p id="lag">(.*?)</p>', page).group(1)
    assert "cleaning 2 s behind the input (GPS 1400000039)" in header
    assert "monitor read up to GPS 1400000030, 7 s behind the cleaned stream" in header
    assert "written 3 s ago" in header
    assert "input 16 min ahead of GPS now (a replay or a simulated feed)" in header
    assert not re.search(r"-\d", header)


def test_live_feed_shows_how_far_the_input_is_behind_the_clock(streams):
    """On a live feed the input's own latency is shown as behind GPS now; a caught-up monitor is 0 s behind."""
    raw, cleaned = streams
    touch_frames(raw.directory, "llhoft", range(T0, T0 + 10))
    touch_frames(cleaned.directory, "DEEPCLEAN", range(T0, T0 + 8))
    cleaned.start_at(T0 + 8)  # everything on disk read: nothing left unread
    lag = measure_lag(raw, cleaned, T0 + 7, gps_now=T0 + 14.2, wall_now=WALL + 1)
    assert (lag.newest_cleaned_gps, lag.cleaning_behind, lag.monitor_behind) == (T0 + 7, 2, 0)
    assert "input 4 s behind GPS now" in lag.describe()


def test_long_offsets_in_hours_and_days(streams):
    """A replay of year-old data and a frame written hours ago read in days and hours, not eight-digit seconds."""
    raw, cleaned = streams
    touch_frames(raw.directory, "llhoft", range(T0, T0 + 2))
    touch_frames(cleaned.directory, "DEEPCLEAN", range(T0, T0 + 2), written=WALL - 5 * 3600)
    lag = measure_lag(raw, cleaned, T0 + 1, gps_now=T0 + 2 + 400 * 86400, wall_now=WALL)
    text = "; ".join(lag.describe())
    assert "written 5 h ago" in text and "input 400 days behind GPS now" in text


def test_cleaned_past_the_input_is_explained(streams):
    """Cleaned seconds past the newest input frame (input removed, or the feed went back) are said, not negated."""
    raw, cleaned = streams
    touch_frames(raw.directory, "llhoft", range(T0, T0 + 5))
    touch_frames(cleaned.directory, "DEEPCLEAN", range(T0, T0 + 9))
    lag = measure_lag(raw, cleaned, None, gps_now=None, wall_now=WALL)
    assert lag.cleaning_behind == -4
    text = "; ".join(lag.describe())
    assert "cleaned 4 s past the newest input frame (GPS 1400000004): input frames removed, or the feed went back" in (
        text
    )
    assert not re.search(r"-\d", text)


def test_nothing_yet(streams):
    """Before any frame the page says so instead of showing numbers."""
    raw, cleaned = streams
    lag = measure_lag(raw, cleaned, None, gps_now=T0, wall_now=WALL)
    assert lag.describe() == ["no cleaned frame yet", "no input frame found"]
    assert lag.as_dict()["cleaning_behind_seconds"] is None


def test_summary_is_strict_json(streams, tmp_path):
    """status.json parses with a strict parser (NaN and infinity written as null) and holds the page's figures."""
    raw, cleaned = streams
    touch_frames(raw.directory, "llhoft", range(T0, T0 + 3))
    touch_frames(cleaned.directory, "DEEPCLEAN", range(T0, T0 + 3))
    lag = measure_lag(raw, cleaned, T0 + 2, gps_now=math.nan, wall_now=WALL)
    path = write_status_summary(tmp_path / "status.json", snapshot(lag))

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in status.json")

    summary = json.loads(path.read_text(), parse_constant=refuse)
    assert summary["lag"]["feed_offset_seconds"] is None
    assert summary["lag"]["cleaning_behind_seconds"] == 0
    assert (summary["production_version"], summary["exporter_pins"]) == (2, {"production": 2, "canary": 3})
    assert summary["images"] == ["asd.png", "band_ratio.png"]
