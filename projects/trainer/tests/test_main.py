"""Tests of the service entry point: configuration, one-shot runs, export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DURATION, QUICK_SPAN, START
from exporter_stub import TOKEN, ExporterStub

from deepclean.config import ConfigError
from deepclean.single_writer import single_writer
from deepclean.synthetic import H1_WITNESSES
from deepclean.testing.frame_sources import synthetic_frame_source
from deepclean_trainer.main import main
from deepclean_trainer.training_directory import complete_directories

ROOT = Path(__file__).resolve().parents[3]
SHORT_FIT = {"window_seconds": 2.0, "fftlength": 1.0, "batch_size": 8, "max_epochs": 2, "steps_per_epoch": 3}
"""A few steps on short windows: what the service does with a fit is under test here, not how good it is."""


def arguments(root: Path, **overrides) -> dict:
    values = dict(
        **synthetic_frame_source(root),
        training_root=root / "training",
        log_dir=root / "logs",
        witness_channels=list(H1_WITNESSES),
        strain_sample_rate=16384,
        **QUICK_SPAN,
        exporter_url="http://127.0.0.1:9",
        exporter_token_file=None,
        mode="one-shot",
        start=START,
        end=START + DURATION,
        **SHORT_FIT,
        num_threads=2,
        export_attempts=1,
    )
    values.update(overrides)
    return values


def test_one_shot_trains_and_exports(frames, monkeypatch):
    """A one-shot run writes a training directory and sends it to the exporter with the token."""
    monkeypatch.setenv("DEEPCLEAN_EXPORTER_TOKEN", TOKEN)
    with ExporterStub() as stub:
        status = main(**arguments(frames, exporter_url=stub.url, max_band_asd_ratio=1.5))
    assert status == 0
    (directory,) = complete_directories(frames / "training")
    assert stub.requests[0]["body"] == {"training_dir": str(directory.path)}
    assert directory.exported_version == 1
    assert "training cycle on GPS" in (frames / "logs" / "trainer-H1.log").read_text()  # its detector's own file
    assert not (frames / "logs" / "trainer.log").exists()


def test_one_shot_with_bad_data_exits_1_naming_the_reason(frames, caplog):
    """A failed data check ends a one-shot run with status 1 and a log line naming the reason."""
    status = main(**arguments(frames, min_ready_seconds=DURATION + 1))
    assert status == 1
    assert "not enough analysis-ready data" in caplog.text
    assert complete_directories(frames / "training") == []


@pytest.mark.parametrize(
    "override, message",
    [
        ({"band": (62.0, 58.0)}, "band"),
        ({"mains_channel": "H1:NOT-A-WITNESS"}, "mains_channel"),
        ({"window_seconds": 1.0}, "window_seconds"),
        ({"filter_margin": 60.0}, "filter_margin"),
        ({"band_widening": 60.0}, "band_widening"),
        ({"linear_kernel_size": 32}, "linear_kernel_size"),
        ({"latency_mode": "causal", "band": (5.0, 20.0)}, "latency_mode 'causal'.*causal band-pass"),
        ({"start": START}, "start and end"),
    ],
)
def test_inconsistent_configuration_is_a_configuration_error_naming_the_key(tmp_path, override, message):
    """Values that are fine alone but inconsistent together stop the service before it does anything
    (the command line reports a ConfigError with status 2)."""
    values = arguments(tmp_path, **override)
    if "start" in override:
        values["end"] = None
    with pytest.raises(ConfigError, match=message):
        main(**values)
    assert not (tmp_path / "logs").exists() and not (tmp_path / "training").exists()


def test_a_second_trainer_on_one_training_root_exits_1_naming_the_holder(frames):
    """Two trainers on one root would remove each other's unfinished directories: the second is refused."""
    with single_writer(frames / "training", "trainer"), pytest.raises(SystemExit) as refused:
        main(**arguments(frames))
    assert refused.value.code == 1
    message = str(refused.value)
    assert f"another trainer (pid {os.getpid()}" in message and str(frames / "training") in message
    assert complete_directories(frames / "training") == []


def test_cli_rejects_out_of_range_value_naming_the_key(tmp_path):
    """deepclean-train with a negative batch size stops at start-up naming batch_size."""
    completed = subprocess.run(
        [sys.executable, "-m", "deepclean_trainer", "--config", str(ROOT / "pyproject.toml"), "--batch_size", "-3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode != 0
    assert "batch_size" in completed.stderr


CONTINUOUS = {"mode": "continuous", "start": None, "end": None, "train_duration": DURATION, "max_epochs": 1}


def continuous_arguments(root: Path, exporter_url: str, **overrides) -> dict:
    """A continuous run that trains once on the frames under ``root`` (they span less than a cadence)."""
    values = CONTINUOUS | {"exporter_url": exporter_url, "max_band_asd_ratio": 1.5, "poll_interval": 0.1}
    return arguments(root, **(values | overrides))


def run_until_exported(values: dict, on_exported: Callable[[], None] = lambda: None) -> int:
    """Run the trainer with ``values`` until a version is marked exported, call ``on_exported``, stop the
    trainer with SIGTERM; its exit status."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    done = threading.Event()

    def stop_when_exported() -> None:
        deadline = time.monotonic() + 300
        try:
            while not done.is_set() and time.monotonic() < deadline:
                if any(d.exported_version for d in complete_directories(values["training_root"])):
                    on_exported()
                    break
                time.sleep(0.1)
        finally:
            if not done.is_set():
                os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=stop_when_exported, daemon=True)
    watcher.start()
    try:
        return main(**values)
    finally:
        done.set()
        watcher.join(timeout=10)
        for number, handler in previous.items():
            signal.signal(number, handler)


def test_continuous_mode_trains_exports_and_stops_on_sigterm(frames, monkeypatch):
    """Continuous mode trains once enough ready data is there, exports it, and exits 0 on SIGTERM."""
    monkeypatch.setenv("DEEPCLEAN_EXPORTER_TOKEN", TOKEN)
    with ExporterStub() as stub:
        status = run_until_exported(continuous_arguments(frames, stub.url))
    assert status == 0
    (directory,) = complete_directories(frames / "training")
    assert directory.metadata["span"] == {"start": START, "end": START + DURATION}
    assert directory.exported_version == 1
