"""./run.sh in real tmux: named panes, live frames readable by gwpy, ./run.sh stop ends everything."""

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
    """Each service gets a named pane; frames have the right names, channels and rates; stop leaves nothing."""
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text().replace("127.0.0.1:5005", "127.0.0.1:0"))
    env = {**os.environ, "DEEPCLEAN_CONFIG": str(config), "DEEPCLEAN_PROFILE": "cpu"}
    started = _run_sh("--detach", "--session", SESSION, "--services", "detector", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        session = libtmux.Server().sessions.get(session_name=SESSION)
        assert [pane.pane_title for pane in session.active_window.panes] == ["detector"]

        strain_dir = tmp_path / "run" / "data" / "llhoft"
        deadline = time.monotonic() + 120
        while len(list(strain_dir.glob("H-H1_llhoft-*-1.gwf"))) < 3:
            assert time.monotonic() < deadline, "no frames from the synthetic detector"
            time.sleep(0.5)
        strain = sorted(strain_dir.glob("H-H1_llhoft-*-1.gwf"))[0]
        gps = strain.name.split("-")[2]
        data = TimeSeriesDict.read(str(strain), ["H1:GDS-CALIB_STRAIN", "H1:GDS-CALIB_STATE_VECTOR"])
        assert data["H1:GDS-CALIB_STRAIN"].sample_rate.value == 16384
        assert data["H1:GDS-CALIB_STATE_VECTOR"].sample_rate.value == 16
        witness = tmp_path / "run" / "data" / "lldetchar" / f"H-H1_lldetchar-{gps}-1.gwf"
        mains = TimeSeriesDict.read(str(witness), ["H1:PEM-CS_MAINSMON_EBAY_1_DQ"])["H1:PEM-CS_MAINSMON_EBAY_1_DQ"]
        assert mains.t0.value == int(gps) and mains.duration.value == 1
    finally:
        stopped = _run_sh("stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not libtmux.Server().has_session(SESSION)
    assert not list((tmp_path / "run" / "pids").glob("*.pid"))
    assert not processes_with(f"DEEPCLEAN_CONFIG={config}"), "processes left after ./run.sh stop"
