"""The monitor end to end on frames made for the purpose, against a served fake exporter."""

from __future__ import annotations

import json

import pytest
from synthetic_cleaning import write_seconds

from deepclean.cleaned_frames import NO_MODEL
from deepclean_monitor.main import monitor

T0 = 1_400_000_000


def decision_events(settings: dict) -> list[dict]:
    with open(settings["decision_log"]) as f:
        return [json.loads(line) for line in f]


def test_better_canary_is_promoted(frame_dirs, exporter, monitor_settings):
    """A canary that removes 90 % of the line replaces a production that removes 50 %."""
    exporter.exporter.production, exporter.exporter.canary = 1, 2
    write_seconds(frame_dirs, T0, 40, production=(1, "clean50"), canary=(2, "clean90"))
    service = monitor(**monitor_settings)
    assert exporter.exporter.puts() == [2]
    decided = [e for e in decision_events(monitor_settings) if e["event"] == "decided"]
    assert len(decided) == 1
    figures = decided[0]["figures"]
    assert figures["2"]["band_ratio"] < 0.95 * figures["1"]["band_ratio"]
    assert figures["2"]["seconds"] >= monitor_settings["min_seconds"]
    # the decision waited for the window (12 s) and the sustained period (8 s)
    assert decided[0]["gps"] >= T0 + 12 + 8
    assert service.state.decisions[0].version == 2


@pytest.mark.parametrize("canary_kind", ["clean50", "noisy"])
def test_worse_or_noisy_canary_is_not_promoted(frame_dirs, exporter, monitor_settings, canary_kind):
    """A canary that cleans less, or cleans the band but adds noise outside it, stays a canary."""
    exporter.exporter.production, exporter.exporter.canary = 1, 2
    production = "clean90" if canary_kind == "clean50" else "clean50"
    write_seconds(frame_dirs, T0, 40, production=(1, production), canary=(2, canary_kind))
    service = monitor(**monitor_settings)
    assert exporter.exporter.puts() == []
    assert not monitor_settings["decision_log"].exists() or decision_events(monitor_settings) == []
    canary = service.state.qualities[2]
    if canary_kind == "noisy":
        assert canary.band_ratio < service.state.qualities[1].band_ratio
        assert not canary.better_than_raw and canary.range_cleaned < canary.range_raw


def test_first_model_is_promoted_when_it_cleans(frame_dirs, exporter, monitor_settings):
    """With no production yet, a canary that cleans at all becomes production; one that does not, does not."""
    exporter.exporter.canary = 1
    write_seconds(frame_dirs, T0, 24, production=(0, "none"), canary=(1, "none"))
    monitor(**monitor_settings)
    assert exporter.exporter.puts() == []
    write_seconds(frame_dirs, T0 + 24, 24, production=(0, "none"), canary=(2, "clean90"))
    monitor(**{**monitor_settings, "start_gps": T0 + 24})
    assert exporter.exporter.puts() == [2]


@pytest.mark.parametrize("degradation", ["adds", "noisy"])
def test_degrading_production_is_rolled_back(frame_dirs, exporter, monitor_settings, degradation):
    """Production that starts adding noise (in band, or out of band) is rolled back to the previous version
    measured better than raw."""
    exporter.exporter.production, exporter.exporter.canary = 1, 2
    write_seconds(frame_dirs, T0, 24, production=(1, "clean50"), canary=(2, "clean90"))
    write_seconds(frame_dirs, T0 + 24, 16, production=(2, "clean90"), canary=(2, "clean90"))
    write_seconds(frame_dirs, T0 + 40, 24, production=(2, degradation), canary=(2, degradation))
    monitor(**monitor_settings)
    assert exporter.exporter.puts() == [2, 1]
    decided = [e for e in decision_events(monitor_settings) if e["event"] == "decided"]
    assert [(d["action"], d["version"], d["previous"]) for d in decided] == [("promote", 2, 1), ("rollback", 1, 2)]
    assert decided[1]["gps"] > T0 + 40
    reason = decided[1]["reason"]
    assert "production 2 not better than raw" in reason and "version 1 was better than raw" in reason
    assert ("noise added" if degradation == "adds" else "BNS range") in reason
    assert decided[1]["figures"]["2"]["better_than_raw"] is False


def test_production_worse_than_raw_with_nothing_to_go_back_to_is_unpinned(frame_dirs, exporter, monitor_settings):
    """Production 1 adds noise and no earlier version was good: production is unpinned (raw strain), a canary
    better than raw then becomes the first model, and a restart repeats neither decision."""
    exporter.exporter.production, exporter.exporter.canary = 1, 1
    write_seconds(frame_dirs, T0, 20, production=(1, "noisy"), canary=(1, "noisy"))
    no_model = NO_MODEL
    write_seconds(frame_dirs, T0 + 20, 28, production=(0, "none"), canary=(2, "clean90"), dq=no_model | (1 << 8))
    service = monitor(**monitor_settings)
    assert exporter.exporter.puts() == [None, 2]
    decided = [e for e in decision_events(monitor_settings) if e["event"] == "decided"]
    assert [(d["action"], d["version"], d["previous"]) for d in decided] == [("unpin", 0, 1), ("promote", 2, 0)]
    unpin, promote = decided
    assert "no earlier version measured better than raw" in unpin["reason"]
    figures = unpin["figures"]["1"]
    assert figures["better_than_raw"] is False and figures["range_cleaned_mpc"] < figures["range_raw_mpc"]
    assert {"band_ratio", "worst_bin", "worst_bin_frequency", "failing_bins", "fallback_seconds"} <= set(figures)
    assert "no production model" in promote["reason"] and promote["figures"]["2"]["better_than_raw"] is True
    assert [d.label for d in service.state.decisions] == ["unpin", "promote 2"]
    text = (monitor_settings["reports_dir"] / "monitor.prom").read_text()
    assert "deepclean_monitor_unpins_total 1.0" in text and "deepclean_monitor_promotions_total 1.0" in text
    page = (monitor_settings["reports_dir"] / "index.html").read_text()
    assert "<b>unpin</b> (from 1)" in page

    monitor(**monitor_settings)  # restart: the log is replayed, nothing is decided again
    assert exporter.exporter.puts() == [None, 2]
    assert [e["event"] for e in decision_events(monitor_settings)] == ["decided", "applied"] * 2


def test_exporter_down_delays_but_does_not_lose_the_decision(frame_dirs, exporter, monitor_settings):
    """A promotion decided while the exporter is down is logged, retried, and applied once it is back."""
    exporter.exporter.production, exporter.exporter.canary = 1, 2
    exporter.exporter.down = True
    write_seconds(frame_dirs, T0, 32, production=(1, "clean50"), canary=(2, "clean90"))
    service = monitor(**monitor_settings)
    assert exporter.exporter.puts() == []
    assert [p.decision.version for p in service.runner.pending] == [2]
    events = [e["event"] for e in decision_events(monitor_settings)]
    assert events[0] == "decided" and "attempt_failed" in events and "applied" not in events

    text = (monitor_settings["reports_dir"] / "monitor.prom").read_text()
    failures = sum(e == "attempt_failed" for e in events)
    assert f"deepclean_monitor_exporter_failures_total {float(failures)}" in text
    assert "deepclean_monitor_pending_decisions 1.0" in text

    exporter.exporter.down = False  # back up; the monitor restarts and retries from its log
    monitor(**monitor_settings)
    assert exporter.exporter.puts() == [2]
    events = [e["event"] for e in decision_events(monitor_settings)]
    assert events.count("decided") == 1 and events.count("applied") == 1


def test_exporter_recovering_while_running_gets_the_decision(frame_dirs, exporter, monitor_settings):
    """The running monitor retries with back-off and applies the decision once the exporter answers."""
    exporter.exporter.production, exporter.exporter.canary = 1, 2
    exporter.exporter.down = True
    write_seconds(frame_dirs, T0, 32, production=(1, "clean50"), canary=(2, "clean90"))
    calls = exporter.exporter.calls

    import threading

    def recover():
        while len(calls) < 3:  # let a few attempts fail first
            threading.Event().wait(0.01)
        exporter.exporter.down = False

    helper = threading.Thread(target=recover, daemon=True)
    helper.start()
    monitor(**{**monitor_settings, "exit_when_idle": False, "run_seconds": 3.0})
    helper.join(timeout=5)
    assert exporter.exporter.puts() == [2]
    events = [e["event"] for e in decision_events(monitor_settings)]
    assert events.count("attempt_failed") >= 2 and events.count("applied") == 1


def test_restart_does_not_repeat_a_decision(frame_dirs, exporter, monitor_settings):
    """Reading the same frames again after a restart takes no decision twice."""
    exporter.exporter.production, exporter.exporter.canary = 1, 2
    write_seconds(frame_dirs, T0, 40, production=(1, "clean50"), canary=(2, "clean90"))
    monitor(**monitor_settings)
    exporter.exporter.production = 1  # even if someone set production back by hand
    monitor(**monitor_settings)
    assert exporter.exporter.puts() == [2]
    assert [e["event"] for e in decision_events(monitor_settings)] == ["decided", "applied"]
