"""The services of the fault tests, run from their own environments on a copy of the configuration.

The copy (:func:`write_config`) cleans one detector, :data:`DETECTOR`, on the four
witnesses of :mod:`fault_frames`, with the exporter on a port of the test's choosing and a
``faults`` profile of per-script overrides; :func:`layout` says where that detector's files are.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
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
DETECTOR = "H1"
"""The detector of the fault tests: the only one their configuration copies list (the frames are H1's)."""
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
    "status_port": 0,
    "out_of_band_range": [10.0, 1500.0],
}
"""The monitor's short windows: a promotion of canary 2 over production 1 is decided about 20 s of data in
(no metrics or status page served: the suite's ports stay free)."""


# ---------------------------------------------------------------- the detector's files


def _project_typeo() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["typeo"]


MODEL_NAME = _project_typeo()["detectors"][DETECTOR]["model_name"]
"""The model of :data:`DETECTOR` (its directory in the repository, its Triton name, its exporter routes)."""


@dataclass(frozen=True)
class Layout:
    """Where :data:`DETECTOR`'s files are in a configuration copy in ``root`` (the base directories of
    pyproject.toml: each detector's under its own, the model repository and logs shared)."""

    root: Path

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def data(self) -> Path:
        """The frames' directory: ``llhoft/``, ``lldetchar/`` (:mod:`fault_frames` writes under it)."""
        return self.run / "data" / DETECTOR

    @property
    def cleaned(self) -> Path:
        return self.run / "cleaned" / DETECTOR

    @property
    def reports(self) -> Path:
        return self.run / "reports" / DETECTOR

    @property
    def decisions(self) -> Path:
        return self.run / "monitor" / DETECTOR / "decisions.jsonl"

    @property
    def training(self) -> Path:
        """The trainer's training root (the exporter's, :attr:`Exporter.training_root`, holds it)."""
        return self.run / "training" / DETECTOR

    @property
    def model_repository(self) -> Path:
        return self.run / "model-repo"

    @property
    def model_dir(self) -> Path:
        return self.model_repository / MODEL_NAME

    @property
    def logs(self) -> Path:
        return self.run / "logs"


def layout(root: Path) -> Layout:
    """Where the files of a configuration copy written in ``root`` (:func:`write_config`) are."""
    return Layout(root)


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
        "deepclean_tools.suite",
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


def toml_lines(table: dict, path: tuple[str, ...] = ()) -> list[str]:
    """``table`` (as tomllib reads it: nested tables of strings, numbers, booleans and lists) as TOML lines."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    lines = [f"[{'.'.join(path)}]", *(f"{k} = {json.dumps(v)}" for k, v in scalars.items()), ""] if path else []
    for key, value in table.items():
        if isinstance(value, dict):
            lines.extend(toml_lines(value, (*path, key)))
    return lines


def write_typeo(directory: Path, typeo: dict) -> Path:
    """``typeo`` as ``[tool.typeo]`` of ``directory/pyproject.toml``, checked to read back as written."""
    text = "\n".join(toml_lines({"tool": {"typeo": typeo}}))
    if tomllib.loads(text) != {"tool": {"typeo": typeo}}:
        raise AssertionError("the configuration copy does not read back as written")
    config = directory / "pyproject.toml"
    config.write_text(text)
    return config


def one_detector_typeo(exporter_port: int) -> dict:
    """The project's ``[tool.typeo]`` for :data:`DETECTOR` alone on the four test witnesses.

    The detector's table gets the witnesses, so every service and the exporter's channels of its
    model (``model_witness_channels``) follow them; the exporter listens on ``exporter_port``.
    """
    typeo = _project_typeo()
    typeo["base"].update({"detectors": [DETECTOR], "exporter_url": f"http://127.0.0.1:{exporter_port}"})
    typeo["detectors"][DETECTOR]["witness_channels"] = WITNESSES
    return typeo


def write_config(directory: Path, exporter_port: int, **tables: dict) -> Path:
    """A copy of the project's configuration in ``directory`` for :data:`DETECTOR` with a ``faults`` profile.

    Relative paths then point into ``directory`` (:func:`layout`); only :data:`DETECTOR` is
    configured, on the four test witnesses (:func:`one_detector_typeo`), every service pointed at
    ``exporter_port``; the profile makes the trainer's mains channel the first witness and adds
    ``tables``, per-script overrides (``clean={"witness_timeout": 1.0}``).
    """
    typeo = one_detector_typeo(exporter_port)
    overrides: dict[str, dict] = {"train": {"mains_channel": WITNESSES[0]}}
    for script, values in tables.items():
        overrides.setdefault(script, {}).update(values)
    typeo.setdefault("profiles", {})["faults"] = overrides
    return write_typeo(directory, typeo)


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
        """The directory of :data:`MODEL_NAME`, the model the exporter serves."""
        return layout(self.run).model_dir

    @property
    def training_root(self) -> Path:
        """The exporter's training root (every detector's trainer writes under it)."""
        return layout(self.run).run / "training"


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
