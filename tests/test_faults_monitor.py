"""Faults of the monitor: kill -9 between a decision logged and the decision applied.

The monitor logs a decision (fsynced) before it calls the exporter, and logs it
applied after the call. A kill in between must neither lose the decision nor
apply it twice: the restarted monitor replays its log, finds the decision
pending, reads the exporter's pin and makes the call only if it has not gone
through. The kill lands exactly there: ``$DEEPCLEAN_MONITOR_PAUSE_AT`` makes the
monitor's decision runner pause at that point (``call``: before calling the
exporter; ``applied``: after the call, before logging it applied) and log that
it does, and the test kills it then.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
import requests
from conftest import record_fault
from fault_frames import synthetic_seconds, write_cleaned_second
from fault_services import MONITOR_WINDOWS, TOKEN, layout, program, start_exporter, write_config

from deepclean.testing.processes import free_port, start, stop, wait_for

START = 1400000000


def _events(decisions: Path) -> list[dict]:
    return [json.loads(line) for line in decisions.read_text().splitlines()] if decisions.exists() else []


def _last_gps(reports: Path) -> int:
    """The last GPS the monitor read, from its metrics textfile (0 before the first report)."""
    textfile = reports / "monitor.prom"
    text = textfile.read_text() if textfile.exists() else ""
    match = re.search(r"^deepclean_monitor_last_gps (\S+)$", text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


@pytest.mark.parametrize("point", ["call", "applied"])
def test_monitor_killed_between_deciding_and_applying_applies_once(tmp_path, model_repository, point):
    """kill -9 of the monitor after its promotion of canary 2 is logged, before the exporter is called (``call``)
    or after the call, before it is logged applied (``applied``): the restarted monitor carries the promotion out
    once (one PUT at the exporter, one ``applied`` in the log) and decides nothing else."""
    port = free_port()
    # reports every 2 s: the metrics textfile says how far the monitor has read
    config = write_config(tmp_path, port, monitor={**MONITOR_WINDOWS, "start_gps": START, "report_interval": 2.0})
    files = layout(tmp_path)
    shutil.copytree(model_repository, files.model_repository)
    server = start_exporter(tmp_path, port, config)
    data, cleaned, reports, decisions = files.data, files.cleaned, files.reports, files.decisions
    cleaned.mkdir(parents=True)
    seconds = synthetic_seconds(START, 64)
    for gps in range(START, START + 40):
        write_cleaned_second(data, cleaned, gps, seconds[gps], production=1)
    command = [program("monitor", "deepclean-monitor"), "--config", config, "--profile", "faults"]
    token = {"DEEPCLEAN_EXPORTER_TOKEN": TOKEN}
    first_log, second_log = tmp_path / "monitor-1.log", tmp_path / "monitor-2.log"
    first = start(command, first_log, env={**token, "DEEPCLEAN_MONITOR_PAUSE_AT": point})
    second = None
    try:
        wait_for(
            lambda: first.poll() is None and f"before {point}" in first_log.read_text(),
            120,
            f"the monitor to pause before {point}",
        )
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = [e["event"] for e in _events(decisions)]
        production_at_kill = requests.get(f"{server.url}/production", timeout=5).json()["version"]

        second = start(command, second_log, env=token)
        wait_for(lambda: any(e["event"] == "applied" for e in _events(decisions)), 60, "the pending decision applied")
        for gps in range(START + 40, START + 64):  # the cleaner now serves version 2 on both streams
            write_cleaned_second(data, cleaned, gps, seconds[gps], production=2)
        wait_for(lambda: _last_gps(reports) >= START + 63, 60, "the restarted monitor to read every frame")
        code = stop(second)
        events = _events(decisions)
        pins = json.loads((files.model_dir / "pins.json").read_text())
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        stop(server.process)
    exporter_log = server.log.read_text()
    puts = exporter_log.count("production is now version 2")
    decided = [e for e in events if e["event"] == "decided"]
    applied = [e for e in events if e["event"] == "applied"]
    ok = len(decided) == 1 and len(applied) == 1 and puts == 1 and pins["history"] == [1, 2]
    record_fault(f"services: kill -9 of the monitor before {point}", ok)
    assert at_kill == ["decided"], at_kill  # killed between the two records
    assert production_at_kill == (1 if point == "call" else 2)
    assert code == 0, second_log.read_text()[-3000:]
    assert [(d["action"], d["version"], d["previous"]) for d in decided] == [("promote", 2, 1)], events
    assert [a["id"] for a in applied] == [decided[0]["id"]]
    assert applied[0]["detail"] == ("production 1 -> 2" if point == "call" else "production already 2")
    assert "was not carried out before the last stop; retrying" in second_log.read_text()
    assert puts == 1, exporter_log[-3000:]
    assert pins["production"] == 2 and pins["history"] == [1, 2], pins
