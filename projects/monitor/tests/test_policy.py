"""The decision rules on their own: sustained period, margin, minimum data, rollback, no repeats."""

from __future__ import annotations

import numpy as np
import pytest
from deepclean_monitor.policy import Decision, DecisionMachine, Observation, Policy
from deepclean_monitor.spectra import SpectrumPair
from deepclean_monitor.version_windows import VersionQuality

POLICY = Policy(
    min_seconds=60,
    sustain_seconds=30,
    rollback_sustain_seconds=10,
    margin=0.05,
    first_model_max_band_ratio=0.9,
    max_out_of_band_ratio=1.05,
    max_band_ratio=1.0,
    settle_seconds=20,
)
EMPTY = SpectrumPair(np.zeros(1), np.zeros(1), np.zeros(1))


def quality(version: int, band: float, out: float = 1.0, seconds: int = 64) -> VersionQuality:
    return VersionQuality(version, seconds, 0, band, out, 0, EMPTY)


def observe(machine, gps, production, canary, *qualities):
    return machine.observe(Observation(gps, production, canary, {q.version: q for q in qualities}))


def run(machine, start, stop, production, canary, *qualities, step=8):
    """Observe the same figures every ``step`` s; the decisions taken (gps, decision)."""
    taken = []
    for gps in range(start, stop, step):
        decision = observe(machine, gps, production, canary, *qualities)
        if decision:
            taken.append((gps, decision))
    return taken


def test_better_canary_promoted_only_after_the_sustained_period():
    """A canary beating production by more than the margin is promoted once it has done so for sustain_seconds."""
    machine = DecisionMachine(POLICY)
    taken = run(machine, 1000, 1100, 1, 2, quality(1, 0.5), quality(2, 0.4))
    assert len(taken) >= 1
    gps, decision = taken[0]
    assert gps == 1000 + 32  # first at 1000, 30 s later rounded up to the 8 s step
    assert (decision.action, decision.version, decision.previous) == ("promote", 2, 1)
    assert decision.figures["2"]["band_ratio"] == 0.4


def test_interrupted_streak_starts_again():
    """One observation where the canary is not better restarts the sustained period."""
    machine = DecisionMachine(POLICY)
    assert observe(machine, 1000, 1, 2, quality(1, 0.5), quality(2, 0.4)) is None
    assert observe(machine, 1020, 1, 2, quality(1, 0.5), quality(2, 0.49)) is None
    assert observe(machine, 1030, 1, 2, quality(1, 0.5), quality(2, 0.4)) is None
    assert observe(machine, 1050, 1, 2, quality(1, 0.5), quality(2, 0.4)) is None
    assert observe(machine, 1060, 1, 2, quality(1, 0.5), quality(2, 0.4)) is not None


def test_margin_is_required():
    """A canary better than production but by less than the margin is not promoted."""
    machine = DecisionMachine(POLICY)
    assert run(machine, 0, 400, 1, 2, quality(1, 0.5), quality(2, 0.48)) == []


def test_not_enough_data_means_no_promotion():
    """However good, a canary with less than min_seconds of data is not promoted."""
    machine = DecisionMachine(POLICY)
    assert run(machine, 0, 400, 1, 2, quality(1, 0.5), quality(2, 0.1, seconds=56)) == []
    assert run(machine, 0, 400, 0, 2, quality(2, 0.1, seconds=56)) == []


def test_production_without_enough_data_blocks_comparison():
    """The canary is not compared with a production the monitor has not measured enough."""
    machine = DecisionMachine(POLICY)
    assert run(machine, 0, 400, 1, 2, quality(1, 0.9, seconds=8), quality(2, 0.1)) == []


def test_canary_adding_noise_out_of_band_is_not_promoted():
    """A canary that cleans the band better but raises the noise outside it is never promoted."""
    machine = DecisionMachine(POLICY)
    assert run(machine, 0, 400, 1, 2, quality(1, 0.5), quality(2, 0.2, out=1.06)) == []
    assert run(machine, 0, 400, 0, 3, quality(3, 0.2, out=1.5)) == []


@pytest.mark.parametrize(("band", "promoted"), [(0.85, True), (0.95, False)])
def test_first_model_promoted_when_it_cleans(band, promoted):
    """With no production, a canary is promoted if its band ratio is at most first_model_max_band_ratio."""
    machine = DecisionMachine(POLICY)
    taken = run(machine, 0, 100, 0, 1, quality(1, band))
    assert bool(taken) is promoted
    if promoted:
        assert (taken[0][1].action, taken[0][1].version, taken[0][1].previous) == ("promote", 1, 0)


def test_degrading_production_rolled_back_to_previous_good():
    """Production adding noise for rollback_sustain_seconds is rolled back to the last good version."""
    machine = DecisionMachine(POLICY)
    run(machine, 0, 100, 3, 4, quality(3, 0.5), quality(4, 0.5))  # 3 measured good
    machine.applied(Decision("promote", 4, 3, 100, "test"))
    run(machine, 100, 200, 4, 4, quality(4, 0.4))  # 4 good too
    taken = run(machine, 200, 300, 4, 4, quality(4, 1.2), step=5)
    gps, decision = taken[0]
    assert gps == 210
    assert (decision.action, decision.version, decision.previous) == ("rollback", 3, 4)
    assert "band ASD ratio 1.2000 > 1" in decision.reason


def test_out_of_band_noise_triggers_rollback():
    """Production raising the noise outside the band is rolled back even if the band looks fine."""
    machine = DecisionMachine(POLICY, good_history=[2])
    taken = run(machine, 0, 100, 5, 0, quality(5, 0.3, out=1.3), step=5)
    assert taken[0][1].action == "rollback" and taken[0][1].version == 2
    assert "out-of-band" in taken[0][1].reason


def test_no_rollback_without_a_good_version():
    """With no earlier good version there is nothing to roll back to: no decision."""
    machine = DecisionMachine(POLICY)
    assert run(machine, 0, 200, 5, 0, quality(5, 1.5)) == []


def test_decisions_are_not_repeated():
    """After a promotion is applied it is not decided again, and a rolled-back version is never promoted."""
    machine = DecisionMachine(POLICY)
    gps, decision = run(machine, 0, 100, 1, 2, quality(1, 0.5), quality(2, 0.4))[0]
    machine.applied(decision)
    # frames still show the old production (settling), then settle_seconds pass: no repeat
    assert run(machine, gps, gps + 200, 1, 2, quality(1, 0.5), quality(2, 0.4)) == []
    machine.applied(Decision("rollback", 1, 2, gps + 200, "test"))
    assert 2 in machine.bad
    assert run(machine, gps + 300, gps + 600, 1, 2, quality(1, 0.5), quality(2, 0.1)) == []


def test_nothing_decided_while_settling():
    """Until the frames show the new production (or settle_seconds pass), no other decision is taken."""
    machine = DecisionMachine(POLICY, good_history=[1])
    machine.applied(Decision("promote", 2, 1, 1000, "test"))
    # production 1 adds noise but is being replaced: no rollback during the settling time
    assert observe(machine, 1005, 1, 3, quality(1, 1.5), quality(3, 0.1)) is None
    assert machine.settling == (2, 1000)
    observe(machine, 1008, 2, 3, quality(2, 0.4), quality(3, 0.1))
    assert machine.settling is None


def test_rejected_rollback_target_is_not_asked_again():
    """When the exporter refuses a rollback target, the next rollback goes to an older good version."""
    machine = DecisionMachine(POLICY, good_history=[1, 2])
    first = run(machine, 0, 50, 3, 0, quality(3, 1.5), step=5)[0][1]
    assert first.version == 2
    machine.rejected(first)
    second = run(machine, 50, 100, 3, 0, quality(3, 1.5), step=5)[0][1]
    assert (second.action, second.version, second.previous) == ("rollback", 1, 3)


def test_production_mostly_in_safety_fallback_is_rolled_back():
    """A production the cleaner keeps replacing with raw strain is degraded, and such a canary is not promoted."""
    machine = DecisionMachine(POLICY, good_history=[1])
    fallback = VersionQuality(2, 64, 0, 0.98, 1.0, 40, EMPTY)  # 40 of 64 s fell back
    decision = run(machine, 0, 50, 2, 0, fallback, step=5)[0][1]
    assert (decision.action, decision.version) == ("rollback", 1)
    assert "safety fallback in 62%" in decision.reason
    canary = VersionQuality(3, 64, 0, 0.1, 1.0, 40, EMPTY)
    assert run(DecisionMachine(POLICY), 0, 200, 1, 3, quality(1, 0.5), canary) == []
