"""Shared pieces of the cross-service tests, and the fault-injection summary.

The fault tests (``tests/test_faults_*.py``) run the services from their own
environments on a copy of the project's configuration in a temporary
directory, inject one fault each and record in :data:`LEDGER` what was
injected, whether the services survived it and how many cleaned frames were
expected, written and written twice. :func:`pytest_terminal_summary` prints it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import pytest

from deepclean.frames import write_frame

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venvs"
STRAIN = "H1:GDS-CALIB_STRAIN"
STATE = "H1:GDS-CALIB_STATE_VECTOR"
WITNESS_RATES = {
    "H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024,
    "H1:ASC-INP1_P_OUT_DQ": 256,
    "H1:ASC-INP1_Y_OUT_DQ": 512,
    "H1:ASC-MICH_P_OUT_DQ": 2048,
}
WITNESSES = list(WITNESS_RATES)
STRAIN_RATE = 16384
TOKEN = "fault-suite-token-0123456789"


@dataclass
class FaultRecord:
    """What one fault test injected and what came of it."""

    fault: str
    survived: bool
    expected: int | None = None
    written: int | None = None
    duplicated: int | None = None


LEDGER: list[FaultRecord] = []


def record_fault(
    fault: str, survived: bool, expected: int | None = None, written: int | None = None, duplicated: int | None = None
) -> None:
    """Add one line to the summary printed at the end of the run."""
    LEDGER.append(FaultRecord(fault, survived, expected, written, duplicated))


def pytest_terminal_summary(terminalreporter) -> None:
    """Faults injected, survived, and frames expected/written/duplicated."""
    if not LEDGER:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault injection summary")
    write(f"{'fault':58s} {'survived':>8s} {'expected':>8s} {'written':>8s} {'twice':>6s}")
    for r in LEDGER:
        cells = ["-" if v is None else str(v) for v in (r.expected, r.written, r.duplicated)]
        write(f"{r.fault[:58]:58s} {'yes' if r.survived else 'NO':>8s} {cells[0]:>8s} {cells[1]:>8s} {cells[2]:>6s}")
    frames = [r for r in LEDGER if r.expected is not None]
    write(
        f"faults injected {len(LEDGER)}, survived {sum(r.survived for r in LEDGER)}; frames expected "
        f"{sum(r.expected or 0 for r in frames)}, written {sum(r.written or 0 for r in frames)}, "
        f"duplicated {sum(r.duplicated or 0 for r in frames)}"
    )


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def program(env: str, script: str) -> Path:
    """A console script of a service environment; the test fails if it is not built."""
    path = VENVS / env / "bin" / script
    if not path.exists():
        pytest.fail(f"{path} missing; run ./build.sh {env}")
    return path


def start(command: list, log: Path, env: dict | None = None) -> subprocess.Popen:
    """Start ``command`` in a process group of its own, output appended to ``log``."""
    with open(log, "a") as out:
        return subprocess.Popen(
            [str(c) for c in command],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )


def stop(process: subprocess.Popen, timeout: float = 20.0) -> int:
    """SIGTERM the process group, SIGKILL it after ``timeout``; returns the exit code."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    return process.returncode


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


def wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    """Poll ``condition`` until it returns something true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


# ---------------------------------------------------------------- configuration


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


# ---------------------------------------------------------------- input frames


def synthetic_seconds(start: int, duration: int, seed: int = 0) -> dict[int, dict]:
    """Per GPS second: strain (noise + a 60 Hz line), ready state vector, witnesses at their own rates."""
    rng = np.random.default_rng(seed)
    seconds = {}
    for gps in range(start, start + duration):
        t = gps + np.arange(STRAIN_RATE) / STRAIN_RATE
        mains = np.sin(2 * np.pi * 60.0 * t)
        witnesses = {c: rng.normal(size=rate) for c, rate in WITNESS_RATES.items()}
        witnesses[WITNESSES[0]] = mains[:: STRAIN_RATE // 1024] + 0.01 * rng.normal(size=1024)
        seconds[gps] = {
            "strain": {
                STRAIN: 1e-22 * rng.normal(size=STRAIN_RATE) + 1e-21 * mains,
                STATE: np.full(16, 3, dtype=np.int32),
            },
            "witness": witnesses,
        }
    return seconds


def strain_path(data: Path, gps: int) -> Path:
    return data / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf"


def witness_path(data: Path, gps: int) -> Path:
    return data / "lldetchar" / f"H-H1_lldetchar-{gps}-1.gwf"


def write_second(data: Path, gps: int, second: dict, strain: bool = True, witness: bool = True) -> None:
    """Write the witness frame, then the strain frame of one second (each atomically)."""
    if witness:
        write_frame(witness_path(data, gps), second["witness"], t0=gps)
    if strain:
        write_frame(strain_path(data, gps), second["strain"], t0=gps)


# ---------------------------------------------------------------- cleaned frames


def cleaned_seconds(cleaned_dir: Path) -> list[int]:
    return sorted(int(p.name.split("-")[2]) for p in cleaned_dir.glob("H-H1_DEEPCLEAN-*-1.gwf"))


def writes_per_second(*logs: Path) -> Counter:
    """How often each cleaned second was written, from the cleaner's debug lines ``wrote <file>``."""
    counts: Counter = Counter()
    for log in logs:
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if " wrote H-H1_DEEPCLEAN-" in line:
                    counts[int(line.split(" wrote H-H1_DEEPCLEAN-")[1].split("-")[0])] += 1
    return counts


# ---------------------------------------------------------------- models


def write_training_dir(root: Path, name: str, seed: int = 0) -> Path:
    """A complete training directory (random weights, contract metadata) for the four test witnesses."""
    import torch

    from deepclean.architecture import DeepClean

    torch.manual_seed(seed)
    kwargs = {"num_witnesses": len(WITNESSES), "kernel_size": 7, "mains_index": 0, "linear_kernel_size": 31}
    directory = root / name
    directory.mkdir(parents=True)
    torch.save(DeepClean(**kwargs).state_dict(), directory / "weights.pt")
    metadata = {
        "ifo": "H1",
        "strain_channel": STRAIN,
        "witness_channels": WITNESSES,
        "witness_sample_rates": WITNESS_RATES,
        "sample_rate": 1024,
        "strain_sample_rate": STRAIN_RATE,
        "band": [58.0, 62.0],
        "filter": {"kind": "butter-sos-zero-phase", "order": 8, "band": [57.0, 63.0]},
        "scaler": {"witness_mean": [0.0] * 4, "witness_std": [1.0] * 4, "target_mean": 0.0, "target_std": 1e-22},
        "architecture": {"name": "DeepClean", "kwargs": kwargs},
        "span": {"start": 1400000000, "end": 1400001024},
        "validation": {"loss": 0.05, "band_asd_ratio": 0.2},
        "library_version": "0.1.0",
        "training_seconds": 1.0,
        "created": "2026-11-29T10:00:00Z",
    }
    (directory / "metadata.json").write_text(json.dumps(metadata))
    return directory


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


@pytest.fixture
def exporter(tmp_path):
    """deepclean-export on a fresh configuration copy in ``tmp_path``, stopped at the end."""
    port = free_port()
    config = write_config(tmp_path, port)
    (tmp_path / "run" / "training").mkdir(parents=True)
    server = start_exporter(tmp_path, port, config)
    yield server
    stop(server.process)


def auth() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory) -> Path:
    """A model repository made by the real exporter: versions 1 (production) and 2 (canary).

    Tests copy it (``shutil.copytree``) before changing anything in it.
    """
    import requests

    run = tmp_path_factory.mktemp("exported")
    port = free_port()
    config = write_config(run, port)
    (run / "run" / "training").mkdir(parents=True)
    server = start_exporter(run, port, config)
    try:
        for seed in (1, 2):
            directory = write_training_dir(server.training_root, f"run-{seed}", seed=seed)
            response = requests.post(
                f"{server.url}/export", json={"training_dir": str(directory)}, headers=auth(), timeout=120
            )
            assert response.status_code == 201, response.text
        assert requests.put(f"{server.url}/production", json={"version": 1}, headers=auth(), timeout=30).ok
    finally:
        stop(server.process)
    return run / "run" / "model-repo"


class LiveFeed:
    """Writes the seconds ``[start, start + duration)`` at ``rate`` frames per wall second on a thread.

    ``history`` seconds are written at once before the thread starts (already on disk).
    """

    def __init__(self, data: Path, start: int, duration: int, rate: float, history: int = 10) -> None:
        import threading

        self.data, self.start_gps, self.duration, self.rate = data, start, duration, rate
        (data / "llhoft").mkdir(parents=True, exist_ok=True)
        (data / "lldetchar").mkdir(parents=True, exist_ok=True)
        self.seconds = synthetic_seconds(start, duration)
        for gps in range(start, start + history):
            write_second(data, gps, self.seconds[gps])
        self.history = history
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for gps in range(self.start_gps + self.history, self.start_gps + self.duration):
            if self.stopping.wait(1.0 / self.rate):
                return
            write_second(self.data, gps, self.seconds[gps])

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.stopping.set()
        self.thread.join()

    @property
    def end(self) -> int:
        return self.start_gps + self.duration


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


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid``."""
    result = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in result.stdout.split()]
