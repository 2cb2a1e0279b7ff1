"""A promotion the cleaner does not take up: the monitor rolls production back to the version it serves.

The cleaner checks a version's files again when it moves from the canary slot to
production; if they no longer check out it keeps cleaning with the version it
has, and the production pin names a version nobody serves. The real exporter and
monitor run here; the cleaned frames are written as such a cleaner writes them:
production version 1 throughout, canary version 2 (which cleans better and is
promoted).
"""

from __future__ import annotations

import json
import shutil
import time

import requests
from conftest import record_fault
from fault_frames import synthetic_seconds, write_cleaned_second
from fault_services import MONITOR_WINDOWS, TOKEN, layout, program, start_exporter, write_config

from deepclean.testing.processes import free_port, start, stop, wait_for

START = 1400000000
SECONDS = 96


def _decided(decisions) -> list[dict]:
    events = [json.loads(line) for line in decisions.read_text().splitlines()] if decisions.exists() else []
    applied = {e["id"] for e in events if e["event"] == "applied"}
    return [e for e in events if e["event"] == "decided" and e["id"] in applied]


def test_a_promoted_version_the_cleaner_does_not_serve_is_rolled_back(tmp_path, model_repository):
    """The monitor promotes canary 2; the frames go on naming version 1 on the production stream; after
    sustain_seconds of such data (and as much wall time) production goes back to 1, the reason and figures name
    the version served, and version 2 is not promoted again."""
    port = free_port()
    config = write_config(tmp_path, port, monitor={**MONITOR_WINDOWS, "start_gps": START})
    files = layout(tmp_path)
    shutil.copytree(model_repository, files.model_repository)
    server = start_exporter(tmp_path, port, config)
    data, cleaned, decisions = files.data, files.cleaned, files.decisions
    cleaned.mkdir(parents=True)
    seconds = synthetic_seconds(START, SECONDS)
    log = tmp_path / "monitor.log"
    monitor = start(
        [program("monitor", "deepclean-monitor"), "--config", config, "--profile", "faults"],
        log,
        env={"DEEPCLEAN_EXPORTER_TOKEN": TOKEN},
    )
    try:
        gps = START
        while not any(d["action"] == "promote" for d in _decided(decisions)):
            assert gps < START + 48, f"canary 2 was not promoted within 48 s of data:\n{log.read_text()[-3000:]}"
            write_cleaned_second(data, cleaned, gps, seconds[gps], production=1)
            gps += 1
            time.sleep(0.25)  # live: the monitor reads each frame as it lands
        promoted_at = gps
        while not any(d["action"] == "rollback" for d in _decided(decisions)) and gps < START + SECONDS:
            write_cleaned_second(data, cleaned, gps, seconds[gps], production=1)  # 2 never taken up
            gps += 1
            time.sleep(0.25)
        wait_for(lambda: any(d["action"] == "rollback" for d in _decided(decisions)), 30, "a rollback")
        for late in range(gps, min(gps + 16, START + SECONDS)):  # production 1 again, as pinned
            write_cleaned_second(data, cleaned, late, seconds[late], production=1)
            time.sleep(0.1)
        time.sleep(2.0)
        production = requests.get(f"{server.url}/production", timeout=5).json()["version"]
    finally:
        stop(monitor)
        stop(server.process)
    decided = _decided(decisions)
    actions = [(d["action"], d["version"], d["previous"]) for d in decided]
    rollback = next((d for d in decided if d["action"] == "rollback"), None)
    ok = actions == [("promote", 2, 1), ("rollback", 1, 2)] and production == 1
    record_fault("services: a promoted version the cleaner does not take up", ok)
    assert actions == [("promote", 2, 1), ("rollback", 1, 2)], actions
    assert production == 1
    assert "production version 2 not served" in rollback["reason"], rollback["reason"]
    assert "seconds written by version 1 instead" in rollback["reason"], rollback["reason"]
    figures = rollback["figures"]
    assert (
        figures["2"]["served_version"] == 1 and figures["2"]["no_model_seconds"] >= MONITOR_WINDOWS["sustain_seconds"]
    )
    assert figures["1"]["better_than_raw"] is True
    assert rollback["gps"] - promoted_at <= 48, f"rolled back {rollback['gps'] - promoted_at} s of data after"
