"""Faults between the trainer and the exporter: kill -9 of either, the exporter down at the end of training.

No training result or model version may be lost or left half-written: a
training directory is complete or absent, a version is complete or absent,
and a result trained while the exporter was down is exported once it is back.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import requests
from conftest import (
    auth,
    free_port,
    program,
    record_fault,
    start,
    start_exporter,
    stop,
    synthetic_seconds,
    wait_for,
    write_config,
    write_second,
    write_training_dir,
)

START = 1400000000
TRAINING = {  # a tiny, quick training; any validation ratio is exported
    "train_duration": 48,
    "min_ready_seconds": 32,
    "min_stretch_seconds": 16,
    "edge_seconds": 2.0,
    "window_seconds": 2.0,
    "fftlength": 1.0,
    "batch_size": 4,
    "max_epochs": 2,
    "steps_per_epoch": 2,
    "max_band_asd_ratio": 100.0,
    "export_attempts": 2,
    "num_threads": 1,
    "retrain_cadence": 100000,
    "poll_interval": 1.0,
}


def _complete_versions(model_dir: Path) -> list[int]:
    versions = []
    for entry in model_dir.iterdir() if model_dir.exists() else []:
        if entry.name.isdigit():
            assert (entry / "model.onnx").stat().st_size > 0 and (entry / "metadata.json").exists(), (
                f"half version {entry}"
            )
            versions.append(int(entry.name))
    return sorted(versions)


def test_exporter_killed_mid_export_restarts_with_no_half_version(exporter):
    """kill -9 of deepclean-export during an export: after the restart no staging is left, every version is
    complete, the pins are intact, and the export sent again succeeds."""
    first = write_training_dir(exporter.training_root, "run-1", seed=1)
    second = write_training_dir(exporter.training_root, "run-2", seed=2)
    url, headers = exporter.url, auth()
    assert (
        requests.post(f"{url}/export", json={"training_dir": str(first)}, headers=headers, timeout=60).status_code
        == 201
    )
    assert requests.put(f"{url}/production", json={"version": 1}, headers=headers, timeout=30).ok

    def export():
        try:
            requests.post(f"{url}/export", json={"training_dir": str(second)}, headers=headers, timeout=60)
        except requests.ConnectionError:
            pass  # the server died under it

    thread = threading.Thread(target=export)
    thread.start()
    time.sleep(random.Random(3).uniform(0.2, 1.5))
    os.killpg(exporter.process.pid, signal.SIGKILL)
    exporter.process.wait(timeout=10)
    thread.join()

    restarted = start_exporter(
        exporter.run, int(url.rsplit(":", 1)[1]), exporter.config, log_name="exporter-restarted.log"
    )
    exporter.process = restarted.process  # stopped by the fixture
    staging = [p.name for p in exporter.model_dir.iterdir() if p.name.startswith(".staging")]
    versions = _complete_versions(exporter.model_dir)
    pins = requests.get(f"{url}/versions", timeout=5).json()
    again = requests.post(f"{url}/export", json={"training_dir": str(second)}, headers=headers, timeout=60)
    ok = not staging and pins["production"] == 1 and again.status_code == 201
    record_fault("services: kill -9 of the exporter mid-export", ok)
    assert staging == []
    assert pins["production"] == 1
    assert again.status_code == 201, again.text
    assert _complete_versions(exporter.model_dir) == [*versions, again.json()["version"]]


def _trainer(config: Path, log: Path, *arguments) -> list:
    return [program("trainer", "deepclean-train"), "--config", config, "--profile", "faults", *arguments]


def test_trainer_killed_then_finishing_while_the_exporter_is_down_loses_nothing(tmp_path):
    """kill -9 of the trainer mid-cycle leaves no directory; a cycle finishing while the exporter is down is
    kept pending and exported by the restarted trainer once the exporter is back."""
    port = free_port()
    config = write_config(tmp_path, port, train=TRAINING)
    data = tmp_path / "run" / "data"
    seconds = synthetic_seconds(START, 56)
    for gps in seconds:
        write_second(data, gps, seconds[gps])
    training_root = tmp_path / "run" / "training"
    env = {"DEEPCLEAN_EXPORTER_TOKEN": "fault-suite-token-0123456789"}

    killed_log = tmp_path / "trainer-killed.log"
    killed = start(_trainer(config, killed_log, "--mode", "one-shot", "--max_epochs", "40"), killed_log, env=env)
    wait_for(lambda: "training on" in killed_log.read_text(), 90, "the trainer to start training")
    time.sleep(random.Random(5).uniform(0.0, 2.0))
    assert killed.poll() is None, killed_log.read_text()[-2000:]
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=10)
    leftovers = [p.name for p in training_root.iterdir()] if training_root.exists() else []
    complete = [name for name in leftovers if not name.startswith(".")]
    assert all((training_root / name / "metadata.json").exists() for name in complete), leftovers

    log = tmp_path / "trainer.log"
    one_shot = start(_trainer(config, log, "--mode", "one-shot"), log, env=env)
    wait_for(lambda: one_shot.poll() is not None, 180, "the one-shot trainer to finish")
    directories = [p for p in training_root.iterdir() if not p.name.startswith(".")]
    pending = [p for p in directories if not (p / "exported.json").exists()]
    text = log.read_text()
    assert one_shot.returncode == 0, text[-3000:]
    assert not [p for p in training_root.iterdir() if p.name.startswith(".")], "a temporary directory was left"
    assert pending and "pending" in text, "the result trained while the exporter was down is not kept pending"

    server = start_exporter(tmp_path, port, config)
    continuous_log = tmp_path / "trainer-continuous.log"
    continuous = start(_trainer(config, continuous_log), continuous_log, env=env)
    try:
        wait_for(lambda: all((p / "exported.json").exists() for p in pending), 120, "the pending result to be exported")
        versions = requests.get(f"{server.url}/versions", timeout=5).json()
    finally:
        code = stop(continuous)
        stop(server.process)
    exported = {json.loads((p / "exported.json").read_text())["version"] for p in pending}
    listed = {v["version"]: v["metadata"]["span"] for v in versions["versions"]}
    ok = code == 0 and exported <= set(listed) and versions["canary"] == max(exported)
    stale = [name for name in leftovers if name.startswith(".")]
    stale_removed = not stale or "removed unfinished training directories" in text
    record_fault("services: kill -9 of the trainer mid-cycle", stale_removed)
    record_fault("services: exporter down while the trainer finishes", ok)
    assert stale_removed, f"{stale} left by the killed trainer were not removed with a log line"
    assert code == 0, continuous_log.read_text()[-3000:]
    assert exported <= set(listed)
    assert versions["canary"] == max(exported)
    assert all(
        listed[v] == json.loads((p / "metadata.json").read_text())["span"]
        for p in pending
        for v in [json.loads((p / "exported.json").read_text())["version"]]
    )


def _write_cleaned(data: Path, cleaned: Path, gps: int, second: dict) -> None:
    """The raw frames of ``gps`` and a cleaned frame: production removes half the 60 Hz line, canary 90 %."""
    import numpy as np
    from deepclean.frames import write_frame

    write_second(data, gps, second)
    strain = second["strain"]["H1:GDS-CALIB_STRAIN"]
    line = 1e-21 * np.sin(2 * np.pi * 60.0 * (gps + np.arange(strain.size) / strain.size))
    write_frame(
        cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf",
        {
            "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION": strain - 0.5 * line,
            "H1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY": strain - 0.9 * line,
            "H1:DEEPCLEAN-PRODUCTION_VERSION": np.full(16, 1, dtype=np.int32),
            "H1:DEEPCLEAN-CANARY_VERSION": np.full(16, 2, dtype=np.int32),
            "H1:DEEPCLEAN-DQ": np.full(16, 1 | 1 << 8, dtype=np.int32),
        },
        t0=gps,
    )


def test_monitor_killed_twice_applies_its_promotion_exactly_once(tmp_path, model_repository):
    """kill -9 of the supervised monitor while it measures and right after it decides: the promotion
    reaches the real exporter once, the decision log has one decision and one application."""
    import shutil

    from conftest import children, supervised

    port = free_port()
    config = write_config(
        tmp_path,
        port,
        monitor={
            "segment_seconds": 4,
            "window_seconds": 12,
            "min_seconds": 12,
            "sustain_seconds": 8,
            "settle_seconds": 8,
            "retry_initial_seconds": 0.2,
            "retry_max_seconds": 1.0,
            "start_gps": START,
            "frame_timeout": 2.0,
            "poll_interval": 0.1,
            "report_interval": 3600.0,
            "period_seconds": 16,
            "metrics_port": 0,
            "out_of_band_range": [10.0, 1500.0],
        },
    )
    shutil.copytree(model_repository, tmp_path / "run" / "model-repo")
    server = start_exporter(tmp_path, port, config)
    data, cleaned = tmp_path / "run" / "data", tmp_path / "run" / "cleaned"
    decisions = tmp_path / "run" / "monitor" / "decisions.jsonl"
    seconds = synthetic_seconds(START, 60)
    command = [program("monitor", "deepclean-monitor"), "--config", config, "--profile", "faults"]
    supervisor = start(
        supervised("monitor", command, tmp_path),
        tmp_path / "out.log",
        env={"DEEPCLEAN_EXPORTER_TOKEN": "fault-suite-token-0123456789"},
    )
    kills = 0

    def kill_monitor() -> None:
        nonlocal kills
        for pid in children(supervisor.pid):
            os.kill(pid, signal.SIGKILL)
            kills += 1

    try:
        for gps in list(seconds)[:12]:
            _write_cleaned(data, cleaned, gps, seconds[gps])
        monitor_log = tmp_path / "monitor.log"
        wait_for(
            lambda: monitor_log.exists() and "monitor: cleaned frames" in monitor_log.read_text(),
            60,
            "the monitor to start measuring",
        )
        time.sleep(random.Random(4).uniform(0.0, 1.0))
        kill_monitor()  # while it measures, before any decision
        for gps in list(seconds)[12:]:
            _write_cleaned(data, cleaned, gps, seconds[gps])
            time.sleep(1.0 / 6.0)
        wait_for(lambda: decisions.exists() and '"decided"' in decisions.read_text(), 60, "the monitor to decide")
        kill_monitor()  # right after the decision was logged (before or after it was applied)
        # the restarted monitor reads the same frames again (start_gps) and must not decide again
        wait_for(lambda: monitor_log.read_text().count("monitor: cleaned frames") == 3, 60, "the second restart")
        time.sleep(3.0)
        wait_for(
            lambda: requests.get(f"{server.url}/production", timeout=5).json()["version"] == 2,
            90,
            "the promotion of version 2 to reach the exporter",
        )
        events = [json.loads(line) for line in decisions.read_text().splitlines() if line.strip()]
        pins = json.loads((tmp_path / "run" / "model-repo" / "deepclean" / "pins.json").read_text())
    finally:
        stop(supervisor)
        stop(server.process)
    decided = [e for e in events if e["event"] == "decided"]
    applied = [e for e in events if e["event"] == "applied"]
    ok = len(decided) == 1 and len(applied) == 1 and pins["history"] == [1, 2] and kills >= 1
    record_fault(f"services: kill -9 of the monitor x{kills}", ok)
    assert kills >= 1
    assert [(d["action"], d["version"]) for d in decided] == [("promote", 2)]
    assert [a["id"] for a in applied] == [decided[0]["id"]]
    assert pins["history"] == [1, 2], pins
