"""Cleaned frames: names, channels, rates and DQ bits, readable with plain gwpy."""

import numpy as np
import pytest

from deepclean.cleaned_frames import default_channels
from deepclean.frames import read_timeseries
from deepclean_cleaner import dq
from deepclean_cleaner.pipeline import CleanedSecond, SlotOutput
from deepclean_cleaner.writer import CleanedFrameWriter


def test_a_cleaned_frame_reads_back_with_gwpy(tmp_path):
    """gwpy's TimeSeriesDict.read gives back every channel at its rate, with the versions and DQ bits."""
    rng = np.random.default_rng(0)
    raw = rng.normal(size=16384) * 1e-21
    production = SlotOutput(raw - 1e-22, 3, np.full(16, dq.CLEANED, dtype=np.int32))
    canary_bits = np.full(16, dq.SAFETY_FALLBACK, dtype=np.int32)
    canary_bits[4] |= dq.NOT_ANALYSIS_READY
    canary = SlotOutput(raw, 4, canary_bits)
    writer = CleanedFrameWriter(tmp_path, "H", "H1", default_channels("H1"))
    path = writer.write(CleanedSecond(1400000123, raw, 0.0, {"production": production, "canary": canary}))
    assert path.name == "H-H1_DEEPCLEAN-1400000123-1.gwf"
    channels = default_channels("H1")
    data = read_timeseries(
        path,
        [
            channels.production,
            channels.canary,
            channels.production_version,
            channels.canary_version,
            channels.dq,
        ],
    )
    assert data[channels.production].sample_rate.value == 16384
    assert data[channels.production].t0.value == 1400000123
    np.testing.assert_array_equal(data[channels.production].value, production.strain)
    np.testing.assert_array_equal(data[channels.canary].value, raw)
    assert data[channels.dq].sample_rate.value == 16
    assert set(data[channels.production_version].value) == {3} and set(data[channels.canary_version].value) == {4}
    bits = data[channels.dq].value.astype(int)
    assert np.all(bits & dq.CLEANED) and np.all(bits & (dq.SAFETY_FALLBACK << dq.CANARY_SHIFT))
    assert bits[4] & (dq.NOT_ANALYSIS_READY << dq.CANARY_SHIFT) and not bits[5] & (
        dq.NOT_ANALYSIS_READY << dq.CANARY_SHIFT
    )


def test_the_newest_written_frame_is_found_for_resuming(tmp_path):
    """last_written ignores other streams and temporary files."""
    writer = CleanedFrameWriter(tmp_path, "H", "H1", default_channels("H1"))
    assert writer.last_written() is None
    for name in (
        "H-H1_DEEPCLEAN-100-1.gwf",
        "H-H1_DEEPCLEAN-102-1.gwf",
        "H-H1_llhoft-200-1.gwf",
        ".H-H1_DEEPCLEAN-300-1.gwf.x.tmp",
    ):
        (tmp_path / name).write_bytes(b"")
    assert writer.last_written() == 102


def _second(gps):
    raw = np.zeros(16384)
    out = SlotOutput(raw, 0, np.full(16, dq.NO_MODEL, dtype=np.int32))
    return CleanedSecond(gps, raw, 0.0, {"production": out, "canary": out})


def test_the_background_writer_writes_in_order_and_reports_a_failure(tmp_path):
    """Queued frames all land; a write that fails is raised on the streaming thread, not lost."""
    from deepclean_cleaner.writer import BackgroundWriter

    output = BackgroundWriter(CleanedFrameWriter(tmp_path / "cleaned", "H", "H1", default_channels("H1")))
    for gps in range(100, 110):
        output.submit(_second(gps))
    output.close()
    assert sorted(p.name for p in (tmp_path / "cleaned").iterdir()) == [
        f"H-H1_DEEPCLEAN-{g}-1.gwf" for g in range(100, 110)
    ]

    (tmp_path / "blocked").write_text("a file where the directory should be")
    failing = BackgroundWriter(
        CleanedFrameWriter(tmp_path / "blocked", "H", "H1", default_channels("H1")),
        retry_seconds=0.5,
    )
    failing.submit(_second(200))
    with pytest.raises(OSError):
        failing.close()


def test_no_frame_is_written_after_one_that_failed(tmp_path):
    """Frames queued behind a write that failed for good are not written: resuming after the newest leaves no hole."""
    import threading

    from deepclean_cleaner.writer import BackgroundWriter

    queued = threading.Event()

    class DiskFullAt201(CleanedFrameWriter):
        def write(self, second):
            if second.gps == 201:
                queued.wait(10)
                raise OSError("No space left on device")
            return super().write(second)

    output = BackgroundWriter(
        DiskFullAt201(tmp_path / "cleaned", "H", "H1", default_channels("H1")),
        retry_seconds=0.0,
    )
    for gps in range(200, 205):
        output.submit(_second(gps))
    queued.set()
    with pytest.raises(OSError):
        output.close()
    assert [p.name for p in (tmp_path / "cleaned").iterdir()] == ["H-H1_DEEPCLEAN-200-1.gwf"]
