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
from conftest import record_fault, verdict
from fault_frames import synthetic_seconds, write_cleaned_second, write_second
from fault_services import (
    MONITOR_WINDOWS,
    auth,
    layout,
    program,
    start_exporter,
    supervised,
    write_config,
    write_training_dir,
)

from deepclean.testing.processes import children, free_port, start, stop, wait_for

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


SLOW_CHECK_SAMPLES = 262144
"""``check_samples`` of the exporter killed mid-export: its ONNX check then keeps the version staged for
about 2 s (0.3 s at the default 4096), a window a kill polled for cannot miss."""


def _staged(model_dir: Path) -> list[str]:
    """Names of the staging directories that already hold a model file (a version half written)."""
    if not model_dir.exists():
        return []
    return sorted(p.name for p in model_dir.glob(".staging-*") if (p / "model.onnx").exists())


def test_exporter_killed_mid_export_restarts_with_no_half_version(tmp_path):
    """kill -9 of deepclean-export while its version is staged (``.staging-<n>`` holds model.onnx): the
    restarted exporter removes the staging directory with a log line, publishes no half version, keeps the
    pins, and the same export sent again leaves exactly one complete version of that training directory."""
    port = free_port()
    config = write_config(tmp_path, port, export={"check_samples": SLOW_CHECK_SAMPLES})
    (tmp_path / "run" / "training").mkdir(parents=True)
    server = start_exporter(tmp_path, port, config)
    url, headers = server.url, auth()
    try:
        first = write_training_dir(server.training_root, "run-1", seed=1)
        second = write_training_dir(server.training_root, "run-2", seed=2)
        answer = requests.post(f"{url}/export", json={"training_dir": str(first)}, headers=headers, timeout=60)
        assert answer.status_code == 201, answer.text
        assert requests.put(f"{url}/production", json={"version": 1}, headers=headers, timeout=30).ok
        before = requests.get(f"{url}/versions", timeout=5).json()

        def export():
            try:
                requests.post(f"{url}/export", json={"training_dir": str(second)}, headers=headers, timeout=60)
            except requests.RequestException:
                pass  # the server died under it

        thread = threading.Thread(target=export)
        thread.start()
        # the moment a model file is staged, kill -9 (polled every 2 ms; the check after it takes ~2 s)
        wait_for(lambda: _staged(server.model_dir) or not thread.is_alive(), 60, "the export to stage a version", 0.002)
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        thread.join()
        # the exporter is dead: what is on disk now is what the kill left
        staged_at_kill = _staged(server.model_dir)
        published_at_kill = _complete_versions(server.model_dir)

        server = start_exporter(tmp_path, port, config, log_name="exporter-restarted.log")
        staging_after = [p.name for p in server.model_dir.iterdir() if p.name.startswith(".staging")]
        versions_after = _complete_versions(server.model_dir)
        pins = requests.get(f"{url}/versions", timeout=5).json()
        restarted_log = server.log.read_text()
        again = requests.post(f"{url}/export", json={"training_dir": str(second)}, headers=headers, timeout=60)
        listed = requests.get(f"{url}/versions", timeout=5).json()
        versions_final = _complete_versions(server.model_dir)
    finally:
        stop(server.process)
    from_second = [
        v["version"]
        for v in listed["versions"]
        if v["metadata"] and Path(v["metadata"]["source"]).resolve() == second.resolve()
    ]
    retried = again.json().get("version") if again.status_code in (200, 201) else None
    checks = {
        "the kill landed while a version was staged": len(staged_at_kill) == 1 and published_at_kill == [1],
        "the restart removed the staging directory, with a log line": staging_after == []
        and all(f"{name} left by an interrupted export" in restarted_log for name in staged_at_kill),
        "no half version after the restart; the pins as before the kill": versions_after == [1]
        and (pins["production"], pins["canary"]) == (before["production"], before["canary"]) == (1, 1),
        "the retried export succeeded (200 or 201)": retried is not None,
        "exactly one complete version of the retried training directory": from_second == [retried]
        and versions_final == [1, retried],
        "production still version 1; a version created by the retry is the canary": listed["production"] == 1
        and (again.status_code != 201 or listed["canary"] == retried),
    }
    verdict(
        "services: kill -9 of the exporter mid-export",
        checks,
        f"staged at the kill {staged_at_kill}, published {published_at_kill}; after the restart "
        f"staging {staging_after}, versions {versions_after}, pins {pins['production'], pins['canary']}; "
        f"retry {again.status_code} {again.text[:200]}; versions of {second.name}: {from_second}, "
        f"on disk {versions_final}",
    )


def _trainer(config: Path, log: Path, *arguments) -> list:
    return [program("trainer", "deepclean-train"), "--config", config, "--profile", "faults", *arguments]


def test_trainer_killed_then_finishing_while_the_exporter_is_down_loses_nothing(tmp_path):
    """kill -9 of the trainer mid-cycle leaves no directory; a cycle finishing while the exporter is down is
    kept pending and exported by the restarted trainer once the exporter is back."""
    port = free_port()
    config = write_config(tmp_path, port, train=TRAINING)
    data = layout(tmp_path).data
    seconds = synthetic_seconds(START, 56)
    for gps in seconds:
        write_second(data, gps, seconds[gps])
    training_root = layout(tmp_path).training
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


def test_monitor_killed_twice_applies_its_promotion_exactly_once(tmp_path, model_repository):
    """kill -9 of the supervised monitor while it measures and right after it decides: the promotion
    reaches the real exporter once, the decision log has one decision and one application."""
    import shutil

    port = free_port()
    config = write_config(
        tmp_path,
        port,
        monitor={**MONITOR_WINDOWS, "start_gps": START, "report_interval": 3600.0},
    )
    files = layout(tmp_path)
    shutil.copytree(model_repository, files.model_repository)
    server = start_exporter(tmp_path, port, config)
    data, cleaned, decisions = files.data, files.cleaned, files.decisions
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
            write_cleaned_second(data, cleaned, gps, seconds[gps])
        monitor_log = tmp_path / "monitor.log"
        wait_for(
            lambda: monitor_log.exists() and "monitor: cleaned frames" in monitor_log.read_text(),
            60,
            "the monitor to start measuring",
        )
        time.sleep(random.Random(4).uniform(0.0, 1.0))
        kill_monitor()  # while it measures, before any decision
        for gps in list(seconds)[12:]:
            write_cleaned_second(data, cleaned, gps, seconds[gps])
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
        pins = json.loads((files.model_dir / "pins.json").read_text())
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
