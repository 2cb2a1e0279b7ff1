"""The whole suite started as ``./run.sh --headless`` starts it, for the loop tests.

The launcher runs on a copy of the project's configuration whose relative paths point
into a temporary directory, with free ports and a ``loop`` profile of tiny settings: the
synthetic detector writes a short history and streams at a speed-up, each trainer trains
once and asks the exporter to export to its detector's model, each cleaner cleans with the
new model as canary, each monitor promotes it, and production frames fill.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepclean.cleaned_frames import default_channels
from deepclean.frames import FrameName, list_frames, read_frame
from deepclean.signal import spectra
from deepclean.testing.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
SUITE = [sys.executable, "-m", "deepclean_tools.suite"]
DETECTORS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["typeo"]["detectors"]

PROFILE = """
[tool.typeo.profiles.loop.status]
status_port = {status_port}

[tool.typeo.profiles.loop.detector]
history = 200
speed = {speed}
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
metrics_port = 0
status_port = 0
"""


@dataclass
class Suite:
    """A running suite: its directory, the exporter's URL and the detectors it cleans."""

    run: Path
    exporter_url: str
    detectors: list[str]

    def model(self, detector: str) -> str:
        return DETECTORS[detector]["model_name"]

    def production_version(self, detector: str) -> int | None:
        try:
            return get_json(f"{self.exporter_url}/models/{self.model(detector)}/production").get("version")
        except OSError:
            return None

    def cleaned_dir(self, detector: str) -> Path:
        return self.run / "run" / "cleaned" / detector

    def strain_dir(self, detector: str) -> Path:
        return self.run / "run" / "data" / detector / "llhoft"

    def _first_samples(self, detector: str, *fields: str) -> list[tuple[FrameName, dict[str, float]]]:
        """Each cleaned frame of ``detector`` with the first sample of its channels ``fields`` (DQ, versions)."""
        site, ifo = DETECTORS[detector]["site"], DETECTORS[detector]["ifo"]
        channels = {field: getattr(default_channels(ifo), field) for field in fields}
        directory = self.cleaned_dir(detector)
        rows = []
        for name in list_frames(directory, site, ifo, "DEEPCLEAN"):
            frame = read_frame(name.path(directory), list(channels.values()))
            rows.append((name, {field: frame[channel][0] for field, channel in channels.items()}))
        return rows

    def production_frames(self, detector: str) -> list[FrameName]:
        """The cleaned frames whose DQ says the production stream is cleaned."""
        return [name for name, first in self._first_samples(detector, "dq") if int(first["dq"]) & 1]

    def canary_seconds(self, detector: str, version: int) -> int:
        """The cleaned seconds whose canary stream ran ``version``."""
        return sum(
            int(first["canary_version"] == version) for _, first in self._first_samples(detector, "canary_version")
        )

    def version_seconds(self, detector: str, version: int) -> int:
        """Stream-seconds ``version`` ran in: cleaned frames whose production or canary version is it."""
        rows = self._first_samples(detector, "production_version", "canary_version")
        return sum(
            int(first["production_version"] == version) + int(first["canary_version"] == version) for _, first in rows
        )

    def log(self, name: str) -> str:
        path = self.run / "run" / "logs" / f"{name}.console.log"
        return path.read_text() if path.exists() else ""


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@contextlib.contextmanager
def running_suite(
    tmp_path: Path,
    detectors: list[str],
    triton: bool = False,
    speed: float = 6.0,
    env: dict[str, str] | None = None,
    replace: dict[str, str] | None = None,
) -> Iterator[Suite]:
    """Start the suite headless for ``detectors`` (and Triton), yield it, stop it and check it stopped.

    ``env`` is added to the services' environment; ``replace`` maps strings of the project's
    configuration to what the copy says instead (ports, say).
    """
    missing = [name for name in ("trainer", "exporter", "cleaner", "monitor") if not (ROOT / ".venvs" / name).exists()]
    if missing:
        raise AssertionError(f"service environments missing: {missing}; run ./build.sh")
    port = free_port()
    text = (ROOT / "pyproject.toml").read_text().replace("http://127.0.0.1:5005", f"http://127.0.0.1:{port}")
    for old, new in (replace or {}).items():
        assert old in text, f"{old!r} is not in the configuration"
        text = text.replace(old, new)
    config = tmp_path / "pyproject.toml"
    config.write_text(text + PROFILE.format(status_port=free_port(), speed=speed))
    environment = {**os.environ, **(env or {}), "DEEPCLEAN_CONFIG": str(config)}
    command = [*SUITE, "--config", str(config), "start", "--headless", "--profile", "loop"]
    command += ["--detectors", ",".join(detectors)] + (["--triton"] if triton else [])
    started = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    # "started headless (loop profile): exporter, detector-H1, ...; logs in ..."
    names = set(started.stdout.split(": ", 1)[-1].split(";", 1)[0].split(", "))
    kinds = ("detector", "trainer", "cleaner", "monitor")
    expected = {"exporter", "status", *(f"{kind}-{d}" for kind in kinds for d in detectors)}
    expected |= {"triton"} if triton else set()
    try:
        assert names == expected, f"started {sorted(names)}, not {sorted(expected)}: {started.stdout}"
        yield Suite(tmp_path, f"http://127.0.0.1:{port}", detectors)
    finally:
        stopped = subprocess.run(
            [*SUITE, "--config", str(config), "stop"], env=environment, capture_output=True, text=True, timeout=90
        )
        for log in sorted((tmp_path / "run" / "logs").glob("*.console.log")):  # shown by pytest when the test fails
            print(f"===== {log.name} (last 40 lines) =====\n" + "\n".join(log.read_text().splitlines()[-40:]))
        assert stopped.returncode == 0, stopped.stderr
        assert not list((tmp_path / "run" / "pids").glob("*.pid")), "a service outlived ./run.sh stop"


def wait_for_production(suite: Suite, frames: int, timeout: float) -> dict[str, list[FrameName]]:
    """Wait until every detector has a production version and ``frames`` production-cleaned frames."""
    deadline = time.monotonic() + timeout
    found: dict[str, list[FrameName]] = {}
    while time.monotonic() < deadline:
        for detector in suite.detectors:
            if len(found.get(detector, [])) < frames and suite.production_version(detector):
                found[detector] = suite.production_frames(detector)
        if all(len(found.get(d, [])) >= frames for d in suite.detectors):
            break
        time.sleep(3)
    for detector in suite.detectors:
        assert suite.production_version(detector), f"{detector}: no version was promoted to production in time"
        count = len(found.get(detector, []))
        assert count >= frames, f"{detector}: only {count} production-cleaned frames in time"
    return found


def check_cleaned_stream(suite: Suite, detector: str, production_frames: list[FrameName]) -> None:
    """No second is missing from the cleaned stream, and the last production seconds remove in-band noise."""
    site, ifo = DETECTORS[detector]["site"], DETECTORS[detector]["ifo"]
    strain_channel = DETECTORS[detector]["strain_channel"]
    cleaned_dir, strain_dir = suite.cleaned_dir(detector), suite.strain_dir(detector)
    cleaned = [n.gps for n in list_frames(cleaned_dir, site, ifo, "DEEPCLEAN")]
    strain = [n.gps for n in list_frames(strain_dir, site, ifo, "llhoft")]
    assert cleaned == [gps for gps in strain if cleaned[0] <= gps <= cleaned[-1]], f"{detector}: a second is missing"

    production = default_channels(ifo).production
    last = production_frames[-32:]
    raw_paths = [FrameName(n.gps, site, ifo, "llhoft").path(strain_dir) for n in last]
    raw = np.concatenate([read_frame(path, [strain_channel])[strain_channel] for path in raw_paths])
    clean = np.concatenate([read_frame(n.path(cleaned_dir), [production])[production] for n in last])
    band_ratio = spectra.band_asd_ratio(clean, raw, 16384, (58.0, 62.0))
    assert band_ratio < 0.8, f"{detector}: in-band ASD ratio {band_ratio:.2f}"
