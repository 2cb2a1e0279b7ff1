"""Per-version windows and their figures (deepclean.figures), and the order frames are read in."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_cleaning import write_seconds

from deepclean.figures import BinPowers, judge_bins
from deepclean_monitor.frame_stream import CleanedFrameStream
from deepclean_monitor.version_windows import FigureSettings, VersionWindows

RATE = 1024
BAND = (58.0, 62.0)
CHECK = (10.0, 400.0)
SETTINGS = FigureSettings(band=BAND, check_range=CHECK, segment_seconds=4, window_seconds=12)


def strain(seconds: int, seed: int = 0, line: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * RATE) / RATE
    mains = line * np.sin(2 * np.pi * 60.0 * t)
    return rng.normal(size=t.size) + mains, mains


def measured(raw: np.ndarray, cleaned: np.ndarray, start: int = 100):
    """The quality of version 7 after feeding ``raw`` and ``cleaned`` second by second."""
    windows = VersionWindows(SETTINGS)
    for i in range(raw.size // RATE):
        second = slice(i * RATE, (i + 1) * RATE)
        windows.add(7, start + i, raw[second], cleaned[second], RATE)
    return windows.quality(7)


def test_window_figures_are_those_of_deepclean_figures():
    """The window's figures equal judge_bins and the BNS ranges of BinPowers.of_strain over the same seconds."""
    raw, mains = strain(12)
    noise = np.random.default_rng(1).normal(scale=1.5, size=raw.size)
    cleaned = raw - 0.9 * mains + noise * (np.arange(raw.size) % RATE < RATE // 2)
    quality = measured(raw, cleaned)
    powers = BinPowers.of_strain(raw, cleaned, RATE)
    expected = judge_bins(powers, BAND, CHECK)
    assert quality.seconds == powers.seconds == 12
    assert quality.band_ratio == pytest.approx(expected.band_ratio, rel=1e-12)
    assert quality.worst_bin == pytest.approx(expected.worst_bin, rel=1e-12)
    assert quality.worst_bin_frequency == expected.worst_bin_frequency
    assert quality.judgement.failing_bins == expected.failing_bins and expected.failing_bins
    assert quality.range_raw == pytest.approx(powers.bns_range_mpc("raw"), rel=1e-12)
    assert quality.range_cleaned == pytest.approx(powers.bns_range_mpc("cleaned"), rel=1e-12)
    assert not quality.better_than_raw
    np.testing.assert_allclose(quality.powers.psd("cleaned"), powers.psd("cleaned"), rtol=1e-12)


def test_removing_the_line_is_better_than_raw():
    """Removing 90 % of the line: band ratio well below 1, no bin with noise added, a longer BNS range."""
    raw, mains = strain(12)
    quality = measured(raw, raw - 0.9 * mains)
    assert quality.band_ratio < 0.8
    assert quality.worst_bin == pytest.approx(1.0, abs=1e-9)
    assert quality.judgement.failing_bins == ()
    assert quality.range_cleaned > quality.range_raw
    assert quality.better_than_raw and quality.worse_than_raw() is None
    figures = quality.figures()
    assert figures["better_than_raw"] is True and figures["failing_bin_count"] == 0
    nothing = measured(raw, raw.copy())  # raw written (fallback): judged passing, equal ranges
    assert nothing.band_ratio == 1.0 and nothing.range_cleaned == nothing.range_raw and nothing.better_than_raw


@pytest.mark.parametrize("level", [0.5, 2.0])
def test_broadband_noise_is_worse_than_raw(level):
    """Broadband noise added is worse than raw: twice the raw level fails many bins; half of it, which single
    bins over 12 s cannot tell from the cross term, still lowers the BNS range."""
    raw, mains = strain(12)
    noise = np.random.default_rng(1).normal(scale=level, size=raw.size)
    quality = measured(raw, raw - 0.9 * mains + noise)
    assert quality.worst_bin > 1.05
    assert quality.range_cleaned < quality.range_raw
    assert not quality.better_than_raw
    problem = quality.worse_than_raw()
    assert "BNS range" in problem
    if level == 2.0:
        assert len(quality.judgement.failing_bins) > 100 and "noise added in" in problem
        figures = quality.figures()
        assert figures["failing_bin_count"] == len(quality.judgement.failing_bins)
        assert len(figures["failing_bins"]) == 16  # the worst ones, by frequency


def test_window_slides_and_gaps_drop_partial_segments():
    """A window keeps window_seconds of complete segments; a gap discards the partial segment."""
    windows = VersionWindows(SETTINGS)
    raw, mains = strain(40)
    seconds = [raw[i * RATE : (i + 1) * RATE] for i in range(40)]
    cleaned = [s - 0.9 * m for s, m in zip(seconds, np.split(mains, 40), strict=True)]
    completed = [gps for gps in range(100, 106) if windows.add(7, gps, seconds[gps - 100], cleaned[gps - 100], RATE)]
    assert completed == [103]
    # a gap at 106: seconds 104-105 are dropped, the next segment is 107-110
    completed = [gps for gps in range(107, 120) if windows.add(7, gps, seconds[gps - 100], cleaned[gps - 100], RATE)]
    assert completed == [110, 114, 118]
    quality = windows.quality(7)
    assert quality.seconds == 12 and quality.end_gps == 119
    assert quality.band_ratio < 0.8
    assert windows.add(7, 118, seconds[0], cleaned[0], RATE) is False  # a second already seen is ignored
    windows.forget_older_than(200)
    assert windows.quality(7) is None


def test_frame_stream_counts_missing_frames(frame_dirs):
    """A hole in the cleaned frames is waited for, then given up as missing."""
    write_seconds(frame_dirs, 1000, 3, production=(1, "clean90"), canary=(0, "none"))
    write_seconds(frame_dirs, 1006, 2, production=(1, "clean90"), canary=(0, "none"))
    now = [0.0]
    stream = CleanedFrameStream(frame_dirs.cleaned_dir, "H", "H1", "DEEPCLEAN", frame_timeout=5.0, clock=lambda: now[0])
    read = []
    for _ in range(3):
        frame, missing = stream.next_frame()
        assert missing == []
        read.append(frame.gps)
        stream.done(frame.gps)
    assert stream.next_frame() == (None, [])  # 1003 is late: wait
    now[0] = 4.9
    assert stream.next_frame() == (None, [])
    now[0] = 5.0
    frame, missing = stream.next_frame()
    assert (frame.gps, missing) == (1006, [1003, 1004, 1005])
    assert read == [1000, 1001, 1002]
