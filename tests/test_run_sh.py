"""./run.sh in real tmux: a window per detector, named panes, live frames readable by gwpy, ./run.sh stop ends
everything; --detectors starts a subset."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import libtmux
import pytest
from gwpy.timeseries import TimeSeriesDict

from deepclean.testing.processes import processes_with

ROOT = Path(__file__).resolve().parents[1]
SESSION = "deepclean-test-run-sh"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _run_sh(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "run.sh"), *args], env=env, capture_output=True, text=True, timeout=300)


def test_run_sh_tmux_panes_frames_and_stop(tmp_path):
    """Each detector's service gets a named pane in its window; frames have each detector's names, channels and
    rates; stop leaves nothing."""
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text().replace("127.0.0.1:5005", "127.0.0.1:0"))
    env = {**os.environ, "DEEPCLEAN_CONFIG": str(config), "DEEPCLEAN_PROFILE": "cpu"}
    started = _run_sh("--detach", "--session", SESSION, "--services", "detector", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        session = libtmux.Server().sessions.get(session_name=SESSION)
        panes = {window.window_name: [pane.pane_title for pane in window.panes] for window in session.windows}
        assert panes == {"H1": ["detector-H1"], "L1": ["detector-L1"]}

        for site, ifo in (("H", "H1"), ("L", "L1")):
            strain_dir = tmp_path / "run" / "data" / ifo / "llhoft"
            deadline = time.monotonic() + 120
            while len(list(strain_dir.glob(f"{site}-{ifo}_llhoft-*-1.gwf"))) < 3:
                assert time.monotonic() < deadline, f"no {ifo} frames from the synthetic detector"
                time.sleep(0.5)
            strain = sorted(strain_dir.glob(f"{site}-{ifo}_llhoft-*-1.gwf"))[0]
            gps = strain.name.split("-")[2]
            data = TimeSeriesDict.read(str(strain), [f"{ifo}:GDS-CALIB_STRAIN", f"{ifo}:GDS-CALIB_STATE_VECTOR"])
            assert data[f"{ifo}:GDS-CALIB_STRAIN"].sample_rate.value == 16384
            assert data[f"{ifo}:GDS-CALIB_STATE_VECTOR"].sample_rate.value == 16
            witness = tmp_path / "run" / "data" / ifo / "lldetchar" / f"{site}-{ifo}_lldetchar-{gps}-1.gwf"
            mains_channel = f"{ifo}:PEM-CS_MAINSMON_EBAY_1_DQ"
            mains = TimeSeriesDict.read(str(witness), [mains_channel])[mains_channel]
            assert mains.t0.value == int(gps) and mains.duration.value == 1
    finally:
        stopped = _run_sh("stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not libtmux.Server().has_session(SESSION)
    assert not list((tmp_path / "run" / "pids").glob("*.pid"))
    assert not processes_with(f"DEEPCLEAN_CONFIG={config}"), "processes left after ./run.sh stop"


def test_run_sh_detectors_subset(tmp_path):
    """--detectors L1 starts only L1's services; an unknown detector is refused naming the configured ones."""
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text().replace("127.0.0.1:5005", "127.0.0.1:0"))
    env = {**os.environ, "DEEPCLEAN_CONFIG": str(config), "DEEPCLEAN_PROFILE": "cpu"}
    refused = _run_sh("--headless", "--detectors", "V1", env=env)
    assert refused.returncode == 2 and "configured detectors: H1, L1" in refused.stderr
    started = _run_sh("--headless", "--services", "detector", "--detectors", "L1", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        status = _run_sh("status", env=env)
        assert [line.split()[0] for line in status.stdout.splitlines()] == ["detector-L1"]
    finally:
        stopped = _run_sh("stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not processes_with(f"DEEPCLEAN_CONFIG={config}"), "processes left after ./run.sh stop"
