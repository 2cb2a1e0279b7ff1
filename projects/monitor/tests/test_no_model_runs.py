"""No-model seconds held against the pinned version: the tracker alone, then the monitor on cleaned frames."""

from __future__ import annotations

import json
import os
import time

import numpy as np
from synthetic_cleaning import write_seconds

from deepclean.exporter_api import ExporterError
from deepclean_monitor.cleaned_frames import CLEANED, NO_MODEL, StreamSecond
from deepclean_monitor.main import monitor
from deepclean_monitor.no_model_runs import NoModelRun, NoModelRuns

T0 = 1_400_000_000
RAW = StreamSecond(version=0, cleaned=np.zeros(4), dq_bits=NO_MODEL)
SERVED = StreamSecond(version=4, cleaned=np.zeros(4), dq_bits=CLEANED)


class Pins:
    """The exporter's pins as ``NoModelRuns`` asks them, on a settable clock; ``down`` makes asking fail."""

    def __init__(self, production=None, canary=None) -> None:
        self.pins = {"production": production, "canary": canary}
        self.now, self.asked, self.down = 100.0, 0, False

    def ask(self) -> dict:
        self.asked += 1
        if self.down:
            raise ExporterError("GET /production: ConnectionError", status=None)
        return dict(self.pins)

    def runs(self) -> NoModelRuns:
        return NoModelRuns(self.ask, refresh_seconds=5.0, retry_seconds=30.0, clock=lambda: self.now)


def test_only_seconds_written_after_the_pin_was_seen_count():
    """A backlog written before the monitor learnt the pin says nothing about it; the seconds after do count."""
    pins = Pins(production=3)
    runs = pins.runs()
    runs.add("production", T0, RAW, written=pins.now - 60)  # pins asked now: 3
    runs.add("production", T0 + 1, RAW, written=pins.now - 1)
    assert runs.runs() == {"production": NoModelRun(3, T0 + 1, 0)} and not runs.counting()
    for gps in range(T0 + 2, T0 + 12):
        runs.add("production", gps, RAW, written=pins.now + 1)
    assert runs.runs() == {"production": NoModelRun(3, T0 + 2, 10, 1.0)} and runs.counting()
    assert pins.asked == 1  # the pins are asked at most every refresh_seconds


def test_a_served_second_ends_the_run_and_an_unpinned_stream_counts_nothing():
    """A second with a model ends the run; a loaded version whose backend is away, or nothing pinned, is held
    against no version."""
    pins = Pins(production=None, canary=4)
    runs = pins.runs()
    runs.add("canary", T0, RAW, written=pins.now)
    runs.add("canary", T0 + 1, SERVED, written=pins.now)
    assert runs.runs() == {}
    backend_away = StreamSecond(version=4, cleaned=np.zeros(4), dq_bits=NO_MODEL)
    runs.add("canary", T0 + 2, backend_away, written=pins.now)
    runs.add("production", T0 + 2, RAW, written=pins.now)
    assert runs.runs() == {"canary": NoModelRun(0, T0 + 2, 0), "production": NoModelRun(0, T0 + 2, 0)}
    assert not runs.counting()


def test_seconds_served_by_another_version_count_against_the_pin():
    """The cleaner keeps cleaning with version 1 while 3 is pinned (3 fails to load): those seconds are held
    against 3, naming 1 as served; a second written by 3 ends the run, as does a model with nothing pinned."""
    pins = Pins(production=3)
    runs = pins.runs()
    kept = StreamSecond(version=1, cleaned=np.zeros(4), dq_bits=CLEANED)
    for gps in range(T0, T0 + 10):
        runs.add("production", gps, kept, written=pins.now + 1)
    assert runs.runs() == {"production": NoModelRun(3, T0, 10, 1.0, served=1)} and runs.counting()
    runs.add("production", T0 + 10, StreamSecond(version=3, cleaned=np.zeros(4), dq_bits=CLEANED), pins.now + 1)
    assert runs.runs() == {}
    pins.pins["production"], pins.now = None, pins.now + 6
    runs.add("production", T0 + 11, kept, written=pins.now)
    assert runs.runs() == {}


def test_pins_unknown_after_a_promotion_blame_no_version():
    """Production 4 is promoted to 5 and the exporter then stops answering: the seconds the cleaner rightly
    writes with 5 are not held against the old pin 4 (pins not known count for no version)."""
    pins = Pins(production=4)
    runs = pins.runs()
    runs.add("production", T0, StreamSecond(version=4, cleaned=np.zeros(4), dq_bits=CLEANED), written=pins.now)
    pins.pins["production"], pins.down = 5, True
    runs.forget("production")  # the monitor applied the promotion
    served = StreamSecond(version=5, cleaned=np.zeros(4), dq_bits=CLEANED)
    for gps in range(T0 + 1, T0 + 100):
        pins.now += 1.0
        runs.add("production", gps, served, written=pins.now)
    assert not runs.counting() and runs.runs() == {}


def test_a_new_pin_starts_the_count_again():
    """When the pin changes (an operator, or the monitor itself: forget) the count starts from the new pin."""
    pins = Pins(production=3)
    runs = pins.runs()
    for gps in range(T0, T0 + 10):
        runs.add("production", gps, RAW, written=pins.now)
    pins.pins["production"], pins.now = 2, pins.now + 6  # past refresh_seconds
    runs.add("production", T0 + 10, RAW, written=pins.now)
    assert runs.runs()["production"] == NoModelRun(2, T0 + 10, 1, 0.0)
    pins.pins["production"] = 1
    runs.forget("production")
    runs.add("production", T0 + 11, RAW, written=pins.now)
    assert runs.runs()["production"] == NoModelRun(1, T0 + 11, 1, 0.0) and pins.asked == 3


def test_exporter_not_answering_counts_nothing_and_is_asked_again_later():
    """Without an answer no version is held to account; the exporter is asked again after retry_seconds."""
    pins = Pins(production=3)
    pins.down = True
    runs = pins.runs()
    runs.add("production", T0, RAW, written=pins.now)
    runs.add("production", T0 + 1, RAW, written=pins.now)
    assert runs.runs()["production"].seconds == 0 and pins.asked == 1
    pins.down, pins.now = False, pins.now + 31
    runs.add("production", T0 + 2, RAW, written=pins.now)
    assert runs.runs()["production"] == NoModelRun(3, T0 + 2, 1, 0.0)


def _decisions(settings: dict) -> list[dict]:
    path = settings["decision_log"]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _written_later(frame_dirs, start: int, seconds: int) -> None:
    """Date the cleaned frames of ``seconds`` from ``start`` a minute ahead, one second apart: as if the cleaner
    wrote them live after the monitor read the pins, not before (a backlog)."""
    later = time.time() + 60
    for gps in range(start, start + seconds):
        os.utime(frame_dirs.cleaned_path(gps), (later + gps - start, later + gps - start))


NO_MODEL_BOTH = NO_MODEL | NO_MODEL << 8


def test_production_the_cleaner_cannot_load_is_rolled_back(frame_dirs, exporter, monitor_settings):
    """Production 2 pinned but written raw with the no-model bit (a damaged model the cleaner keeps retrying) for
    sustain_seconds: rolled back to 1, measured better than raw before; the log says why, with the figures."""
    exporter.exporter.production, exporter.exporter.canary = 2, 2
    write_seconds(frame_dirs, T0, 24, production=(1, "clean90"), canary=(1, "clean90"))
    write_seconds(frame_dirs, T0 + 24, 12, production=(0, "none"), canary=(0, "none"), dq=NO_MODEL_BOTH)
    _written_later(frame_dirs, T0 + 24, 12)
    service = monitor(**monitor_settings)
    assert exporter.exporter.puts() == [1]
    events = _decisions(monitor_settings)
    assert [e["event"] for e in events] == ["decided", "applied"]
    decided = events[0]
    sustain = monitor_settings["sustain_seconds"]
    assert (decided["action"], decided["version"], decided["previous"]) == ("rollback", 1, 2)
    assert decided["reason"].startswith(
        f"production version 2 not served: {sustain} s of no-model seconds since GPS {T0 + 24}"
    )
    assert decided["figures"]["2"]["no_model_seconds"] == sustain and decided["gps"] == T0 + 24 + sustain
    assert decided["figures"]["1"]["better_than_raw"] is True
    assert 2 in service.machine.bad
    text = (monitor_settings["reports_dir"] / "monitor.prom").read_text()
    assert "deepclean_monitor_rollbacks_total 1.0" in text


def test_canary_the_cleaner_cannot_load_is_rejected_without_a_call(frame_dirs, exporter, monitor_settings):
    """Canary 3 never loaded for sustain_seconds is rejected: logged decided and applied, no pin changed, and a
    restart does not decide it again."""
    exporter.exporter.production, exporter.exporter.canary = 1, 3
    write_seconds(frame_dirs, T0, 24, production=(1, "clean90"), canary=(0, "none"), dq=1 | NO_MODEL << 8)
    _written_later(frame_dirs, T0, 24)
    service = monitor(**monitor_settings)
    assert exporter.exporter.accepted == []
    assert not [call for call in exporter.exporter.calls if call[0] != "GET"]
    events = _decisions(monitor_settings)
    assert [(e["event"], e.get("action"), e.get("version")) for e in events] == [
        ("decided", "reject", 3),
        ("applied", None, None),
    ]
    assert "canary version 3 not served" in events[0]["reason"] and 3 in service.machine.bad
    text = (monitor_settings["reports_dir"] / "monitor.prom").read_text()
    assert "deepclean_monitor_canary_rejections_total 1.0" in text
    assert "<b>reject 3</b> (canary; production 1)" in (monitor_settings["reports_dir"] / "index.html").read_text()

    monitor(**monitor_settings)  # restart: replayed, not decided again
    assert len(_decisions(monitor_settings)) == 2


def test_no_model_seconds_read_from_a_backlog_decide_nothing(frame_dirs, exporter, monitor_settings):
    """The same unserved production, but frames written before the monitor saw the pins: nothing is decided."""
    exporter.exporter.production, exporter.exporter.canary = 2, 2
    write_seconds(frame_dirs, T0, 24, production=(1, "clean90"), canary=(1, "clean90"))
    write_seconds(frame_dirs, T0 + 24, 24, production=(0, "none"), canary=(0, "none"), dq=NO_MODEL_BOTH)
    monitor(**monitor_settings)
    assert exporter.exporter.accepted == [] and _decisions(monitor_settings) == []
