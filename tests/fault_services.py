"""The services of the fault tests, run from their own environments on a copy of the configuration.

The copy (:func:`write_config`) adds a ``faults`` profile: the four witnesses
of :mod:`fault_frames` and the exporter on a port of the test's choosing.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from fault_frames import WITNESS_RATES, WITNESSES

from deepclean.testing import training_directory
from deepclean.testing.processes import start, wait_for
from deepclean.testing.training_directory import training_metadata

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venvs"
TOKEN = "fault-suite-token-0123456789"
ARCHITECTURE = {"kernel_size": 7, "mains_index": 0, "linear_kernel_size": 31}
MONITOR_WINDOWS = {
    "segment_seconds": 4,
    "window_seconds": 12,
    "min_seconds": 12,
    "sustain_seconds": 8,
    "settle_seconds": 8,
    "retry_initial_seconds": 0.2,
    "retry_max_seconds": 1.0,
    "frame_timeout": 2.0,
    "poll_interval": 0.1,
    "period_seconds": 16,
    "metrics_port": 0,
    "out_of_band_range": [10.0, 1500.0],
}
"""The monitor's short windows: a promotion of canary 2 over production 1 is decided about 20 s of data in."""


# ---------------------------------------------------------------- processes


def program(env: str, script: str) -> Path:
    """A console script of a service environment; the test fails if it is not built."""
    path = VENVS / env / "bin" / script
    if not path.exists():
        pytest.fail(f"{path} missing; run ./build.sh {env}")
    return path


def supervised(name: str, command: list, run: Path) -> list:
    """The command line of ``command`` under the suite's supervisor (as ``./run.sh`` starts it)."""
    return [
        VENVS / "library" / "bin" / "python",
        "-m",
        "deepclean.suite",
        "supervise",
        "--name",
        name,
        "--log-file",
        run / f"{name}.log",
        "--pid-file",
        run / f"{name}.pid",
        "--",
        *command,
    ]


def write_config(directory: Path, exporter_port: int, **tables: dict) -> Path:
    """A copy of the project's configuration in ``directory`` with a ``faults`` profile.

    Relative paths then point into ``directory``; the profile narrows the witnesses to
    four channels and points every service at ``exporter_port``; ``tables`` add
    per-script overrides (``clean={"witness_timeout": 1.0}``).
    """
    text = (ROOT / "pyproject.toml").read_text().replace("http://127.0.0.1:5005", f"http://127.0.0.1:{exporter_port}")
    overrides: dict[str, dict] = {script: {"witness_channels": WITNESSES} for script in ("export", "train", "clean")}
    overrides["train"]["mains_channel"] = WITNESSES[0]
    for script, values in tables.items():
        overrides.setdefault(script, {}).update(values)
    lines = []
    for script, values in overrides.items():
        lines.append(f"\n[tool.typeo.profiles.faults.{script}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
    config = directory / "pyproject.toml"
    config.write_text(text + "\n".join(lines) + "\n")
    return config


def cleaner_command(config: Path, *arguments) -> list:
    """deepclean-clean on ``config`` (the ``faults`` profile), embedded backend, debug log (frame writes)."""
    return [
        program("cleaner", "deepclean-clean"),
        "--config",
        config,
        "--profile",
        "faults",
        "--backend",
        "embedded",
        "--log_level",
        "DEBUG",
        *arguments,
    ]


# ---------------------------------------------------------------- the exporter and its models


def write_training_dir(root: Path, name: str, seed: int = 0) -> Path:
    """A complete training directory (random weights, contract metadata) for the four test witnesses."""
    metadata = training_metadata(
        WITNESS_RATES, ARCHITECTURE, sample_rate=1024, filter_band=(57.0, 63.0), target_std=1e-22
    )
    return training_directory.write_training_dir(root / name, metadata, seed)


@dataclass
class Exporter:
    """A running ``deepclean-export`` (real waitress) and where its files are."""

    url: str
    config: Path
    run: Path
    process: subprocess.Popen
    log: Path

    @property
    def model_dir(self) -> Path:
        return self.run / "run" / "model-repo" / "deepclean"

    @property
    def training_root(self) -> Path:
        return self.run / "run" / "training"


def start_exporter(run: Path, port: int, config: Path, log_name: str = "exporter.log") -> Exporter:
    """Start deepclean-export on ``config`` and wait for /healthz."""
    import requests

    log = run / log_name
    process = start(
        [program("exporter", "deepclean-export"), "--config", config, "--profile", "faults"],
        log,
        env={"DEEPCLEAN_EXPORTER_TOKEN": TOKEN},
    )
    url = f"http://127.0.0.1:{port}"

    def healthy():
        if process.poll() is not None:
            pytest.fail(f"deepclean-export exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            return requests.get(f"{url}/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    wait_for(healthy, 60, "the exporter's /healthz")
    return Exporter(url, config, run, process, log)


def auth() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}
