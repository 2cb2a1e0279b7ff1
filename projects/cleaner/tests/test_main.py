"""The service end to end on frame files: restart, gaps, configuration."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import STATE, STRAIN, STRAIN_RATE, WITNESSES, write_input

from deepclean.config import parse_config
from deepclean.figures import DEFAULT_MIN_EXCESS, DEFAULT_SIGMA
from deepclean.frames import read_frame
from deepclean_cleaner import dq
from deepclean_cleaner.main import main

START = 1400000000
ROOT = Path(__file__).resolve().parents[3]
PRODUCTION = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION"


def arguments(tmp_path, repository, **overrides):
    values = {
        "model_repository": repository,
        "model_name": "deepclean",
        "strain_dir": tmp_path / "data" / "llhoft",
        "witness_dir": tmp_path / "data" / "lldetchar",
        "cleaned_dir": tmp_path / "cleaned",
        "site": "H",
        "ifo": "H1",
        "strain_tag": "llhoft",
        "witness_tag": "lldetchar",
        "strain_channel": STRAIN,
        "state_channel": STATE,
        "witness_channels": WITNESSES,
        "strain_sample_rate": 16384,
        "sample_rate": 4096,
        "band": (58.0, 62.0),
        "backend": "embedded",
        "safety": False,
        "metrics_port": 0,
        "strain_timeout": 0.5,
        "witness_timeout": 0.2,
    }
    values.update(overrides)
    return values


def cleaned(tmp_path, gps):
    return read_frame(tmp_path / "cleaned" / f"H-H1_DEEPCLEAN-{gps}-1.gwf")


def test_a_restart_resumes_after_the_last_frame_without_duplicate_or_hole(tmp_path, repository):
    """Stopped at +15 and restarted: every second once, and the resumed seconds match an uninterrupted run."""
    write_input(tmp_path / "data", START, 30)
    main(**arguments(tmp_path, repository, stop_gps=START + 15))
    assert sorted(p.name for p in (tmp_path / "cleaned").iterdir()) == [
        f"H-H1_DEEPCLEAN-{g}-1.gwf" for g in range(START, START + 15)
    ]
    first_run = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cleaned").iterdir()}
    main(**arguments(tmp_path, repository, stop_gps=START + 30))
    names = sorted(p.name for p in (tmp_path / "cleaned").iterdir())
    assert names == [f"H-H1_DEEPCLEAN-{g}-1.gwf" for g in range(START, START + 30)]
    assert all((tmp_path / "cleaned" / n).stat().st_mtime_ns == t for n, t in first_run.items())  # not rewritten

    reference = tmp_path / "reference"
    main(**arguments(tmp_path, repository, cleaned_dir=reference, stop_gps=START + 30))
    for gps in range(START + 15, START + 27):
        resumed = cleaned(tmp_path, gps)
        uninterrupted = read_frame(reference / f"H-H1_DEEPCLEAN-{gps}-1.gwf")
        raw = read_frame(tmp_path / "data" / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf")[STRAIN]
        assert resumed["H1:DEEPCLEAN-DQ"][0] & dq.CLEANED
        estimate = raw - uninterrupted[PRODUCTION]
        difference = resumed[PRODUCTION] - uninterrupted[PRODUCTION]
        assert np.sqrt(np.mean(difference**2) / np.mean(estimate**2)) < 1e-3


def test_a_dropped_strain_frame_has_no_output_and_cleaning_resumes(tmp_path, repository):
    """No cleaned frame for a second whose strain never came; the seconds after it are written."""
    write_input(tmp_path / "data", START, 30, skip_strain={START + 10})
    main(**arguments(tmp_path, repository, stop_gps=START + 30))
    written = sorted(int(p.name.split("-")[2]) for p in (tmp_path / "cleaned").iterdir())
    assert written == [g for g in range(START, START + 30) if g != START + 10]
    assert cleaned(tmp_path, START + 25)["H1:DEEPCLEAN-DQ"][0] & dq.CLEANED


def test_a_missing_witness_frame_is_written_raw_with_the_gap_bit(tmp_path, repository):
    """The strain second whose witness frame never came is written raw with the input-gap bit."""
    write_input(tmp_path / "data", START, 24, skip_witness={START + 12})
    main(**arguments(tmp_path, repository, stop_gps=START + 24))
    frame = cleaned(tmp_path, START + 12)
    raw = read_frame(tmp_path / "data" / "llhoft" / f"H-H1_llhoft-{START + 12}-1.gwf")[STRAIN]
    np.testing.assert_array_equal(frame[PRODUCTION], raw)
    assert np.all(frame["H1:DEEPCLEAN-DQ"] & dq.INPUT_GAP)


def test_the_command_line_reads_the_clean_table_and_names_a_bad_key(tmp_path):
    """deepclean-clean parses the project's table; an out-of-range value stops it naming the key."""
    env = {**os.environ, "DEEPCLEAN_CONFIG": str(ROOT / "pyproject.toml")}

    def cleaner(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "deepclean_cleaner", *arguments],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    result = cleaner("--safety_window", "0")
    assert result.returncode != 0 and "safety_window" in result.stderr
    result = cleaner("--safety_window", "4", "--safety_onset_window", "4")
    assert result.returncode == 2 and "'safety_onset_window' (4) and 'safety_window' (4)" in result.stderr
    result = cleaner("--help")
    assert result.returncode == 0 and "bandpass_lookahead" in result.stdout


def test_bad_safety_and_metrics_settings_stop_the_cleaner_naming_the_key(monkeypatch, capsys):
    """A non-positive safety_sigma or safety_min_excess, or a metrics_port past 65535, is refused by name."""
    monkeypatch.setenv("DEEPCLEAN_CONFIG", str(ROOT / "pyproject.toml"))
    for key, value in (("safety_sigma", "0"), ("safety_min_excess", "-0.01"), ("metrics_port", "70000")):
        with pytest.raises(SystemExit) as stopped:
            parse_config(main, "clean", [f"--{key}", value])
        assert stopped.value.code != 0 and f'"{key}"' in capsys.readouterr().err
    values = parse_config(main, "clean", [])
    assert (values["safety_sigma"], values["safety_min_excess"], values["metrics_port"]) == (
        DEFAULT_SIGMA,
        DEFAULT_MIN_EXCESS,
        9106,
    )


def test_the_triton_backend_without_a_server_stops_with_a_clear_error(tmp_path, repository):
    """backend triton and nobody listening: exit status 1 and a message naming the endpoint."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write_input(tmp_path / "data", START, 2)
    env = {**os.environ, "DEEPCLEAN_CONFIG": str(ROOT / "pyproject.toml")}
    command = [
        sys.executable, "-m", "deepclean_cleaner",
        "--model_repository", str(repository),
        "--strain_dir", str(tmp_path / "data" / "llhoft"),
        "--witness_dir", str(tmp_path / "data" / "lldetchar"),
        "--cleaned_dir", str(tmp_path / "cleaned"),
        "--backend", "triton", "--triton_url", f"127.0.0.1:{port}", "--triton_startup_timeout", "1",
    ]  # fmt: skip
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert f"no Triton server answers at 127.0.0.1:{port}" in result.stderr


def test_start_at_the_live_edge_skips_the_history(tmp_path, repository):
    """start = live begins at the newest input frame instead of resuming or replaying history."""
    write_input(tmp_path / "data", START, 10)
    main(**arguments(tmp_path, repository, start="live", stop_gps=START + 10))
    assert [p.name for p in (tmp_path / "cleaned").iterdir()] == [f"H-H1_DEEPCLEAN-{START + 9}-1.gwf"]


def test_a_witness_second_with_a_nan_is_written_raw_and_does_not_spoil_later_seconds(tmp_path, repository):
    """A NaN witness sample makes its second an input gap; cleaning resumes cleanly after it."""
    write_input(tmp_path / "data", START, 30, nan_witness={START + 10})
    main(**arguments(tmp_path, repository, stop_gps=START + 30))
    gap = cleaned(tmp_path, START + 10)
    assert np.all(gap["H1:DEEPCLEAN-DQ"] & dq.INPUT_GAP)
    later = cleaned(tmp_path, START + 26)
    assert np.all(later["H1:DEEPCLEAN-DQ"] & dq.CLEANED) and np.isfinite(later[PRODUCTION]).all()


def test_non_finite_strain_is_never_written_as_cleaned(tmp_path, repository):
    """0.1 s of NaN strain: those DQ samples say input gap and not cleaned, in both streams; the rest of the
    second and later seconds are cleaned as usual."""
    write_input(tmp_path / "data", START, 30, nan_strain={START + 20})
    main(**arguments(tmp_path, repository, stop_gps=START + 30))
    second = cleaned(tmp_path, START + 20)
    bits = second["H1:DEEPCLEAN-DQ"]
    bad = np.zeros(16, bool)
    bad[8:10] = True  # samples 0.5-0.6 s fall in the 9th and 10th sixteenths
    for shift in (0, dq.CANARY_SHIFT):
        stream = bits >> shift
        assert np.all(stream[bad] & dq.INPUT_GAP) and not np.any(stream[bad] & dq.CLEANED)
        assert not np.any(stream[~bad] & dq.INPUT_GAP)
    assert np.all(bits[~bad] & dq.CLEANED)
    assert np.isnan(second[PRODUCTION]).sum() == STRAIN_RATE // 10
    later = cleaned(tmp_path, START + 26)
    assert np.all(later["H1:DEEPCLEAN-DQ"] & dq.CLEANED) and np.isfinite(later[PRODUCTION]).all()


def test_a_second_cleaner_on_the_same_output_directory_refuses_to_start(tmp_path, repository):
    """While another cleaner holds the cleaned-frame directory this one exits 1 naming it, and writes nothing."""
    from deepclean.single_writer import single_writer

    write_input(tmp_path / "data", START, 10)
    with single_writer(tmp_path / "cleaned", "cleaner"), pytest.raises(SystemExit) as refused:
        main(**arguments(tmp_path, repository, stop_gps=START + 10))
    assert refused.value.code == 1
    assert "already writes to" in str(refused.value) and str(tmp_path / "cleaned") in str(refused.value)
    assert not list((tmp_path / "cleaned").glob("*.gwf"))
    assert main(**arguments(tmp_path, repository, stop_gps=START + 10)) == 0
