"""The whole loop, headless, at a high speed-up with tiny settings.

The suite is started the way ``./run.sh --headless --detectors H1`` starts it, on a
copy of the project's configuration whose relative paths point into a temporary
directory: the synthetic detector writes a short history and streams at a
speed-up, the trainer trains once and asks the exporter to export (to H1's model),
the cleaner cleans with the new model as canary, the monitor promotes it, and
production frames fill. One detector (two cores): the services of each are the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from deepclean.frames import FrameName, list_frames, read_frame
from deepclean.signal import spectra
from deepclean.testing.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
SUITE = [sys.executable, "-m", "deepclean.suite"]
DETECTOR = "H1"
MODEL = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["typeo"]["detectors"][DETECTOR]["model_name"]
CLEANED = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION"
STRAIN = "H1:GDS-CALIB_STRAIN"
DQ = "H1:DEEPCLEAN-DQ"
TIMEOUT = 600

PROFILE = """
[tool.typeo.profiles.loop.status]
status_port = {status_port}

[tool.typeo.profiles.loop.detector]
history = 200
speed = 6.0
not_ready_interval = 0

[tool.typeo.profiles.loop.train]
mode = "continuous"
train_duration = 192
retrain_cadence = 100000
min_ready_seconds = 96
max_epochs = 6
steps_per_epoch = 8
batch_size = 8
max_train_seconds = 150.0
num_threads = 1
metrics_port = 0

[tool.typeo.profiles.loop.clean]
start = "live"
metrics_port = 0

[tool.typeo.profiles.loop.monitor]
min_seconds = 24
sustain_seconds = 16
settle_seconds = 1
window_seconds = 32
segment_seconds = 8
report_interval = 5.0
metrics_port = {metrics_port}
status_port = 0
"""


def _required_envs() -> list[str]:
    return [name for name in ("trainer", "exporter", "cleaner", "monitor") if not (ROOT / ".venvs" / name).exists()]


@pytest.fixture
def suite(tmp_path):
    missing = _required_envs()
    if missing:
        pytest.fail(f"service environments missing: {missing}; run ./build.sh")
    port = free_port()
    text = (ROOT / "pyproject.toml").read_text().replace("http://127.0.0.1:5005", f"http://127.0.0.1:{port}")
    config = tmp_path / "pyproject.toml"
    config.write_text(text + PROFILE.format(metrics_port=free_port(), status_port=free_port()))
    env = {**os.environ, "DEEPCLEAN_CONFIG": str(config)}
    started = subprocess.run(
        [*SUITE, "--config", str(config), "start", "--headless", "--profile", "loop", "--detectors", DETECTOR],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    # "started headless (loop profile): exporter, detector-H1, ...; logs in ..."
    names = set(started.stdout.split(": ", 1)[-1].split(";", 1)[0].split(", "))
    expected = {"exporter", "status", *(f"{kind}-{DETECTOR}" for kind in ("detector", "trainer", "cleaner", "monitor"))}
    try:
        assert names == expected, f"started {sorted(names)}, not {sorted(expected)}: {started.stdout}"
        yield tmp_path, f"http://127.0.0.1:{port}"
    finally:
        stopped = subprocess.run(
            [*SUITE, "--config", str(config), "stop"], env=env, capture_output=True, text=True, timeout=90
        )
        logs = tmp_path / "run" / "logs"
        for log in sorted(logs.glob("*.console.log")):  # shown by pytest when the test fails
            print(f"===== {log.name} (last 40 lines) =====\n" + "\n".join(log.read_text().splitlines()[-40:]))
        assert stopped.returncode == 0, stopped.stderr
        assert not list((tmp_path / "run" / "pids").glob("*.pid")), "a service outlived ./run.sh stop"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _production_version(url: str) -> int | None:
    try:
        return _get(f"{url}/models/{MODEL}/production").get("version")
    except OSError:
        return None


def test_loop_trains_exports_promotes_and_cleans(suite):
    """A version is exported and promoted; production frames reduce the in-band noise; no second is lost."""
    run, url = suite
    cleaned_dir = run / "run" / "cleaned" / DETECTOR
    deadline = time.monotonic() + TIMEOUT
    production, production_frames = None, []
    while time.monotonic() < deadline:
        production = _production_version(url)
        if production:
            production_frames = [
                name
                for name in list_frames(cleaned_dir, "H", "H1", "DEEPCLEAN")
                if read_frame(name.path(cleaned_dir), [DQ])[DQ][0] & 1
            ]
            if len(production_frames) >= 32:
                break
        time.sleep(3)
    assert production, "no version was promoted to production in time"
    assert len(production_frames) >= 32, f"only {len(production_frames)} production-cleaned frames in time"

    versions = _get(f"{url}/models/{MODEL}/versions")
    assert any(v["version"] == production for v in versions["versions"])

    # no second missing: every strain frame from the first cleaned second on has one output frame
    strain_dir = run / "run" / "data" / DETECTOR / "llhoft"
    cleaned = [n.gps for n in list_frames(cleaned_dir, "H", "H1", "DEEPCLEAN")]
    strain = [n.gps for n in list_frames(strain_dir, "H", "H1", "llhoft")]
    expected = [gps for gps in strain if cleaned[0] <= gps <= cleaned[-1]]
    assert cleaned == expected

    # the noise goes away in the band and nothing gets worse outside it
    last = production_frames[-32:]
    raw = np.concatenate(
        [read_frame(FrameName(n.gps, "H", "H1", "llhoft").path(strain_dir), [STRAIN])[STRAIN] for n in last]
    )
    clean = np.concatenate([read_frame(n.path(cleaned_dir), [CLEANED])[CLEANED] for n in last])
    band_ratio = spectra.band_asd_ratio(clean, raw, 16384, (58.0, 62.0))
    assert band_ratio < 0.8, f"in-band ASD ratio {band_ratio:.2f}"
