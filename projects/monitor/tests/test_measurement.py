"""Spectra, per-version windows and the order frames are read in."""

from __future__ import annotations

import numpy as np
import pytest
from deepclean_monitor.bns_range import bns_ranges
from deepclean_monitor.frame_stream import CleanedFrameStream
from deepclean_monitor.spectra import (
    SpectrumPair,
    band_asd_ratio,
    spectrum_pair,
    worst_out_of_band_ratio,
)
from deepclean_monitor.version_windows import SpectrumSettings, VersionWindows
from synthetic_cleaning import write_seconds

RATE = 1024
BAND = (58.0, 62.0)
SETTINGS = SpectrumSettings(fftlength=1.0, band=BAND, out_of_band_range=(10.0, 400.0), segment_seconds=4,
                            window_seconds=12)


def strain(seconds: int, seed: int = 0, line: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * RATE) / RATE
    mains = line * np.sin(2 * np.pi * 60.0 * t)
    return rng.normal(size=t.size) + mains, mains


def test_removing_the_line_lowers_the_band_ratio_only():
    """Removing 90 % of the line gives a band ratio well below 1 and leaves the out-of-band ratio at 1."""
    raw, mains = strain(8)
    pair = spectrum_pair(raw, raw - 0.9 * mains, RATE, 1.0)
    assert band_asd_ratio(pair, BAND) < 0.8
    assert worst_out_of_band_ratio(pair, BAND, (10.0, 400.0)) == pytest.approx(1.0, abs=1e-9)
    assert band_asd_ratio(spectrum_pair(raw, raw, RATE, 1.0), BAND) == pytest.approx(1.0)


def test_broadband_noise_shows_out_of_band():
    """Noise added at half the raw level raises the worst out-of-band ratio above sqrt(1.25)."""
    raw, _ = strain(8)
    noise = np.random.default_rng(1).normal(scale=0.5, size=raw.size)
    worst = worst_out_of_band_ratio(spectrum_pair(raw, raw + noise, RATE, 1.0), BAND, (10.0, 400.0))
    assert worst > 1.12


def test_spectrum_rejects_mismatched_or_short_data():
    """Raw and cleaned of different lengths, or shorter than one FFT, are refused with a message."""
    with pytest.raises(ValueError, match="differ in length"):
        spectrum_pair(np.zeros(2048), np.zeros(1024), RATE, 1.0)
    with pytest.raises(ValueError, match="shorter than one FFT"):
        spectrum_pair(np.zeros(512), np.zeros(512), RATE, 1.0)


def test_bns_range_grows_as_the_noise_falls():
    """A PSD four times lower gives twice the BNS range; a flat 4e-24/rtHz gives a few hundred Mpc."""
    frequencies = np.arange(0, 2048.5, 0.5)
    psd = np.full(frequencies.size, (4e-24) ** 2)
    raw_range, cleaned_range = bns_ranges(SpectrumPair(frequencies, psd, psd / 4))
    assert cleaned_range == pytest.approx(2 * raw_range, rel=1e-6)
    assert 300 < raw_range < 700


def test_window_slides_and_gaps_drop_partial_segments():
    """A window keeps window_seconds of complete segments; a gap discards the partial segment."""
    windows = VersionWindows(SETTINGS)
    raw, mains = strain(40)
    seconds = [raw[i * RATE:(i + 1) * RATE] for i in range(40)]
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
    stream = CleanedFrameStream(frame_dirs.cleaned_dir, "H", "H1", "DEEPCLEAN", frame_timeout=5.0,
                                clock=lambda: now[0])
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
