"""Frame names and GWF reading/writing."""

import numpy as np
import pytest

from deepclean.frames import (
    FrameError,
    FrameName,
    MissingChannelError,
    list_frames,
    read_frame,
    read_timeseries,
    write_frame,
)


def _frame(tmp_path, gps=1400000000, tag="llhoft"):
    data = {
        "H1:GDS-CALIB_STRAIN": np.random.default_rng(gps).normal(size=16384),
        "H1:GDS-CALIB_STATE_VECTOR": np.full(16, 3, dtype=np.int32),
        "H1:ASC-INP1_P_OUT_DQ": np.random.default_rng(1).normal(size=512),
    }
    path = write_frame(FrameName(gps, "H", "H1", tag).path(tmp_path), data, gps)
    return path, data


def test_names_round_trip_and_reject_others():
    """Frame names parse and format; other names are rejected."""
    name = FrameName.parse("H-H1_llhoft-1400000000-1.gwf")
    assert (name.site, name.ifo, name.tag, name.gps, name.duration) == ("H", "H1", "llhoft", 1400000000, 1)
    assert name.filename == "H-H1_llhoft-1400000000-1.gwf"
    for bad in ("H-H1_llhoft-1400000000-1.gwf.tmp", ".H-H1_llhoft-1.gwf.x.tmp", "notes.txt"):
        with pytest.raises(ValueError):
            FrameName.parse(bad)


def test_write_read_round_trip_exact(tmp_path):
    """Channels come back exactly, with their own sample rates and dtypes."""
    path, data = _frame(tmp_path)
    frame = read_frame(path)
    assert frame.t0 == 1400000000 and frame.duration == 1
    for name, samples in data.items():
        np.testing.assert_array_equal(frame[name], samples)
        assert frame[name].dtype == samples.dtype
    assert frame.sample_rate("H1:ASC-INP1_P_OUT_DQ") == 512


def test_plain_gwpy_reads_written_frames(tmp_path):
    """Users read the frames with gwpy: same samples, rate and start."""
    path, data = _frame(tmp_path)
    series = read_timeseries(path, ["H1:GDS-CALIB_STRAIN", "H1:GDS-CALIB_STATE_VECTOR"])
    np.testing.assert_array_equal(series["H1:GDS-CALIB_STRAIN"].value, data["H1:GDS-CALIB_STRAIN"])
    assert series["H1:GDS-CALIB_STRAIN"].sample_rate.value == 16384
    assert series["H1:GDS-CALIB_STATE_VECTOR"].t0.value == 1400000000


def test_missing_channel_and_truncated_file(tmp_path):
    """A missing channel and a truncated file raise errors naming the file."""
    path, _ = _frame(tmp_path)
    with pytest.raises(MissingChannelError, match="H1:NOPE"):
        read_frame(path, ["H1:GDS-CALIB_STRAIN", "H1:NOPE"])
    truncated = tmp_path / "H-H1_llhoft-1400000001-1.gwf"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(FrameError, match=truncated.name):
        read_frame(truncated)
    with pytest.raises(FileNotFoundError):
        read_frame(tmp_path / "H-H1_llhoft-1400000002-1.gwf")


def test_writes_are_atomic_and_listing_is_ordered(tmp_path):
    """No temporary file is left behind; listing skips other streams and sorts by GPS."""
    for gps in (1400000002, 1400000000, 1400000001):
        _frame(tmp_path, gps)
    _frame(tmp_path, 1400000000, tag="lldetchar")
    (tmp_path / "junk.txt").write_text("x")
    names = list_frames(tmp_path, "H", "H1", "llhoft")
    assert [n.gps for n in names] == [1400000000, 1400000001, 1400000002]
    assert not list(tmp_path.glob(".*tmp"))


def test_write_rejects_non_integer_rates(tmp_path):
    """A channel whose length does not give an integer rate over the duration is refused."""
    with pytest.raises(ValueError, match="H1:X"):
        write_frame(tmp_path / "H-H1_x-1400000000-2.gwf", {"H1:X": np.zeros(3)}, 1400000000, duration=2)
    assert not list(tmp_path.iterdir())
