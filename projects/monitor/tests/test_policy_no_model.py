"""The decision rules for a pinned version the cleaner does not serve (no-model seconds held against it)."""

from __future__ import annotations

import dataclasses

from test_policy import POLICY, quality, run

from deepclean_monitor.no_model_runs import NoModelRun
from deepclean_monitor.policy import Decision, DecisionMachine, Observation

SUSTAIN = POLICY.sustain_seconds


def unserved(machine, start, stop, production, canary, runs, *qualities, speed=1.0):
    """Observe every second from ``start``: the streams in ``runs`` (stream -> pinned version) carry the no-model
    bit since ``start``, all written after the pin was seen, ``speed`` seconds of data per second of wall time;
    the decisions taken (gps, decision)."""
    taken = []
    for gps in range(start, stop):
        seconds = gps - start + 1
        no_model = {stream: NoModelRun(v, start, seconds, seconds / speed) for stream, v in runs.items()}
        measured = {q.version: dataclasses.replace(q, end_gps=gps) for q in qualities}
        decision = machine.observe(Observation(gps + 1, production, canary, measured, no_model))
        if decision:
            taken.append((gps + 1, decision))
    return taken


def test_production_not_served_for_the_sustain_time_is_rolled_back():
    """Production 3 pinned but never loaded (frames: version 0, no-model bit) for sustain_seconds goes back to 2,
    the newest earlier version measured better than raw; the reason and figures give the no-model seconds."""
    machine = DecisionMachine(POLICY)
    run(machine, 0, 100, 2, 3, quality(2, 0.5), quality(3, 0.4))  # 2 good up to GPS 96
    machine.applied(Decision("promote", 3, 2, 100, "test"))
    taken = unserved(machine, 200, 300, 0, 0, {"production": 3, "canary": 3})
    gps, decision = taken[0]
    assert gps == 200 + SUSTAIN
    assert (decision.action, decision.version, decision.previous) == ("rollback", 2, 3)
    assert decision.reason.startswith(f"production version 3 not served: {SUSTAIN} s of no-model seconds since GPS 200")
    assert "version 2 was better than raw up to GPS 96" in decision.reason
    assert decision.figures["3"] == {
        "version": 3,
        "stream": "production",
        "no_model_seconds": SUSTAIN,
        "no_model_since": 200,
        "no_model_wall_seconds": SUSTAIN,
        "served_version": 0,
        "end_gps": gps,
    }
    machine.applied(decision)
    assert 3 in machine.bad and machine.settling == (2, gps)


def test_production_pin_the_cleaner_does_not_take_up_is_rolled_back_to_what_it_serves():
    """Production 3 pinned while the cleaner keeps cleaning with 2 (3 fails to load when it moves slot): after
    sustain_seconds the pin goes back to 2, which is measured better than raw all along, and the reason says so."""
    machine = DecisionMachine(POLICY)
    run(machine, 0, 100, 2, 3, quality(2, 0.5), quality(3, 0.4))
    machine.applied(Decision("promote", 3, 2, 100, "test"))
    taken = []
    for gps in range(200, 300):
        seconds = gps - 199
        observation = Observation(
            gps + 1,
            2,
            0,
            {2: dataclasses.replace(quality(2, 0.5), end_gps=gps)},
            {"production": NoModelRun(3, 200, seconds, seconds, served=2)},
        )
        decision = machine.observe(observation)
        if decision:
            taken.append((gps + 1, decision))
    gps, decision = taken[0]
    assert gps == 200 + SUSTAIN
    assert (decision.action, decision.version, decision.previous) == ("rollback", 2, 3)
    assert "s of seconds written by version 2 instead" in decision.reason
    assert decision.figures["3"]["served_version"] == 2 and decision.figures["2"]["better_than_raw"]


def test_production_not_served_with_nothing_to_go_back_to_is_unpinned():
    """With no earlier version measured better than raw, an unserved production is unpinned."""
    machine = DecisionMachine(POLICY)
    gps, decision = unserved(machine, 0, 100, 0, 0, {"production": 1})[0]
    assert (decision.action, decision.version, decision.previous, gps) == ("unpin", 0, 1, SUSTAIN)
    assert "production version 1 not served" in decision.reason
    assert "raw strain until a better canary" in decision.reason


def test_a_few_no_model_seconds_of_a_load_are_not_a_failure():
    """No-model seconds shorter than sustain_seconds (start-up, a new pin) decide nothing, nor does an unpinned
    production (version 0: raw strain on purpose) however long."""
    machine = DecisionMachine(POLICY)
    assert unserved(machine, 0, SUSTAIN - 1, 0, 0, {"production": 3}) == []
    assert unserved(machine, 100, 100 + SUSTAIN - 1, 0, 0, {"production": 3}) == []  # loaded in between
    assert unserved(machine, 200, 1000, 0, 0, {"production": 0, "canary": 0}) == []


def test_a_load_in_a_stream_faster_than_real_time_is_not_a_failure():
    """Loading a model takes wall time: a stream six times faster than real time crosses sustain_seconds of data
    in a fifth of that; the version fails only once the no-model seconds span sustain_seconds of wall time too."""
    machine = DecisionMachine(POLICY)
    taken = unserved(machine, 0, 400, 0, 0, {"production": 3}, speed=6.0)
    assert taken[0][0] == 6 * SUSTAIN and taken[0][1].previous == 3


def test_canary_never_served_is_rejected_and_never_promoted():
    """A canary pinned but never loaded for sustain_seconds is rejected (no pin changed) and, even when later
    served and good, never promoted."""
    machine = DecisionMachine(POLICY)
    run(machine, 0, 100, 1, 1, quality(1, 0.5))
    gps, decision = unserved(machine, 100, 200, 1, 0, {"canary": 4}, quality(1, 0.5))[0]
    assert gps == 100 + SUSTAIN
    assert (decision.action, decision.version, decision.previous, decision.label) == ("reject", 4, 1, "reject 4")
    assert decision.reason == (
        f"canary version 4 not served: {SUSTAIN} s of no-model seconds since GPS 100 (written over {SUSTAIN} s); "
        "never to be promoted"
    )
    assert decision.figures["4"]["stream"] == "canary" and decision.figures["4"]["no_model_seconds"] == SUSTAIN
    machine.applied(decision)
    assert 4 in machine.bad and machine.settling is None
    assert run(machine, 200, 400, 1, 4, quality(1, 0.5), quality(4, 0.1)) == []
    assert unserved(machine, 400, 600, 1, 0, {"canary": 4}, quality(1, 0.5)) == []  # not rejected twice
    replayed = DecisionMachine(POLICY)
    replayed.applied(decision)  # a restart replays the log
    assert run(replayed, 200, 400, 1, 4, quality(1, 0.5), quality(4, 0.1)) == []


def test_two_versions_not_served_at_once_is_the_cleaners_fault():
    """Production and canary, two versions, both unloaded: the cleaner or its backend is at fault, nothing is
    decided; the same version on both streams is production's failure."""
    assert unserved(DecisionMachine(POLICY), 0, 200, 0, 0, {"production": 3, "canary": 4}) == []
    taken = unserved(DecisionMachine(POLICY), 0, 200, 0, 0, {"production": 3, "canary": 3})
    assert [(d.action, d.previous) for _, d in taken][:1] == [("unpin", 3)]


def test_no_model_seconds_interrupt_the_promotion_streak():
    """A canary's stream carrying the no-model bit (its window no longer fed) does not count as judged good: the
    streak restarts, so the canary is promoted only sustain_seconds after it is served again."""
    machine = DecisionMachine(POLICY)
    good = (quality(1, 0.5), quality(2, 0.1))
    assert run(machine, 0, 24, 1, 2, *good) == []
    # the canary's window still shows its last (good) figures while its stream is written raw (backend away)
    assert unserved(machine, 24, 64, 1, 2, {"canary": 0}, *good) == []
    taken = run(machine, 64, 200, 1, 2, *good)
    assert taken[0][0] == 64 + 32 and taken[0][1].version == 2  # 30 s sustained, observed every 8 s


def test_refused_reject_is_not_asked_again():
    """A reject the runner could not carry out is not decided again."""
    machine = DecisionMachine(POLICY)
    decision = unserved(machine, 0, 100, 1, 0, {"canary": 4})[0][1]
    machine.rejected(decision)
    assert unserved(machine, 100, 200, 1, 0, {"canary": 4}) == []
