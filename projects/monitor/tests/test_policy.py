"""The decision rules on their own: judged against raw, sustained period, margin, rollback target, unpinning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deepclean.figures import BinJudgement, BinPowers
from deepclean_monitor.policy import Decision, DecisionMachine, Observation, Policy
from deepclean_monitor.version_windows import VersionQuality

POLICY = Policy(
    min_seconds=60,
    sustain_seconds=30,
    rollback_sustain_seconds=10,
    margin=0.05,
    first_model_max_band_ratio=0.9,
    settle_seconds=20,
    rollback_memory_seconds=1800,
)
EMPTY = BinPowers(1, 1, np.zeros(1), np.zeros(1), np.zeros(1))


def quality(
    version: int,
    band: float,
    failing: tuple[float, ...] = (),
    range_raw: float = 100.0,
    range_cleaned: float = 101.0,
    seconds: int = 64,
    fallback: int = 0,
) -> VersionQuality:
    """Figures of ``version``: band ratio ``band``, noise added in the ``failing`` bins (Hz)."""
    judgement = BinJudgement(
        band_ratio=band,
        worst_band_bin=band,
        worst_bin=1.12 if failing else 1.001,
        worst_bin_frequency=failing[0] if failing else 120.0,
        failing_bins=failing,
        failing_ratios=tuple(1.12 for _ in failing),
        band_failed=band > 1.0,
    )
    return VersionQuality(version, seconds, 0, fallback, judgement, range_raw, range_cleaned, EMPTY)


def observe(machine, gps, production, canary, *qualities):
    """One observation at ``gps``; each window ends at ``gps``."""
    measured = {q.version: dataclasses.replace(q, end_gps=gps) for q in qualities}
    return machine.observe(Observation(gps, production, canary, measured))


def run(machine, start, stop, production, canary, *qualities, step=8):
    """Observe the same figures every ``step`` s; the decisions taken (gps, decision)."""
    taken = []
    for gps in range(start, stop, step):
        decision = observe(machine, gps, production, canary, *qualities)
        if decision:
            taken.append((gps, decision))
    return taken


def test_better_canary_promoted_only_after_the_sustained_period():
    """A canary better than raw and beating production by more than the margin is promoted after sustain_seconds."""
    machine = DecisionMachine(POLICY)
    taken = run(machine, 1000, 1100, 1, 2, quality(1, 0.5), quality(2, 0.4))
    assert len(taken) >= 1
    gps, decision = taken[0]
    assert gps == 1000 + 32  # first at 1000, 30 s later rounded up to the 8 s step
    assert (decision.action, decision.version, decision.previous) == ("promote", 2, 1)
    figures = decision.figures["2"]
    assert figures["band_ratio"] == 0.4 and figures["better_than_raw"] is True
    assert (figures["range_raw_mpc"], figures["range_cleaned_mpc"]) == (100.0, 101.0)
    assert (figures["worst_bin"], figures["worst_bin_frequency"], figures["failing_bins"]) == (1.001, 120.0, [])
    assert decision.figures["1"]["band_ratio"] == 0.5


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


@pytest.mark.parametrize(
    "canary",
    [
        quality(2, 0.2, failing=(67.0,)),  # noise added in one bin next to the band
        quality(2, 0.2, range_raw=100.0, range_cleaned=99.0),  # a BNS range 1 % below raw's
    ],
    ids=["one-bin", "range"],
)
def test_canary_better_than_production_but_worse_than_raw_is_not_promoted(canary):
    """A canary that beats production in the band but is worse than raw in one bin, or in range, stays a canary."""
    machine = DecisionMachine(POLICY)
    assert run(machine, 0, 400, 1, 2, quality(1, 0.5), canary) == []
    assert run(DecisionMachine(POLICY), 0, 400, 0, 2, canary) == []


@pytest.mark.parametrize(("band", "promoted"), [(0.85, True), (0.95, False)])
def test_first_model_promoted_when_it_cleans(band, promoted):
    """With no production, a canary better than raw is promoted if band ratio <= first_model_max_band_ratio."""
    machine = DecisionMachine(POLICY)
    taken = run(machine, 0, 100, 0, 1, quality(1, band))
    assert bool(taken) is promoted
    if promoted:
        assert (taken[0][1].action, taken[0][1].version, taken[0][1].previous) == ("promote", 1, 0)


def test_degrading_production_rolled_back_to_previous_good():
    """Production not better than raw for rollback_sustain_seconds goes back to the version measured good before it."""
    machine = DecisionMachine(POLICY)
    run(machine, 0, 100, 3, 4, quality(3, 0.5), quality(4, 0.5))  # 3 measured better than raw
    machine.applied(Decision("promote", 4, 3, 100, "test"))
    run(machine, 100, 200, 4, 4, quality(4, 0.4))  # 4 good too
    taken = run(machine, 200, 300, 4, 4, quality(4, 1.2), step=5)
    gps, decision = taken[0]
    assert gps == 210
    assert (decision.action, decision.version, decision.previous) == ("rollback", 3, 4)
    assert "band ASD ratio 1.2000 above tolerance" in decision.reason
    assert decision.figures["4"]["band_ratio"] == 1.2 and decision.figures["4"]["better_than_raw"] is False


def test_rollback_does_not_land_on_a_predecessor_worse_than_raw_it_unpins():
    """Production 1 worse than raw, canary 3 promoted over it, then 3 adds noise: production is unpinned, not 1."""
    machine = DecisionMachine(POLICY)
    taken = run(machine, 0, 200, 1, 3, quality(1, 1.28), quality(3, 0.43))
    assert [(d.action, d.version, d.previous) for _, d in taken][:1] == [("unpin", 0, 1)]
    # the field case: promotion of 3 over 1 (the exporter did it; 1 was worse than raw all along)
    machine = DecisionMachine(POLICY)
    run(machine, 0, 40, 1, 3, quality(1, 1.28), quality(3, 0.43))
    machine.applied(Decision("promote", 3, 1, 40, "test"))
    run(machine, 40, 100, 3, 0, quality(3, 0.43))
    taken = run(machine, 100, 200, 3, 0, quality(3, 0.43, failing=(120.0,)), step=5)
    gps, decision = taken[0]
    assert (decision.action, decision.version, decision.previous) == ("unpin", 0, 3)
    assert "noise added in 1 bin(s): 120 Hz x1.120" in decision.reason
    figures = decision.figures["3"]
    assert figures["failing_bins"] == [[120.0, 1.12]] and figures["failing_bin_count"] == 1
    assert figures["worst_bin_frequency"] == 120.0 and figures["seconds"] == 64
    assert decision.label == "unpin" and decision.id == f"unpin-0-from-3-at-{gps}"


def test_rollback_lands_on_the_newest_earlier_version_good_within_memory():
    """Of the earlier versions measured better than raw, the newest one still within rollback_memory_seconds wins."""
    machine = DecisionMachine(POLICY)
    run(machine, 0, 100, 1, 2, quality(1, 0.6), quality(2, 0.5))  # 1 and 2 good up to GPS 96
    run(machine, 2000, 2100, 3, 5, quality(3, 0.5), quality(5, 0.55))  # 3 and 5 good up to GPS 2096
    run(machine, 2100, 2200, 4, 0, quality(4, 0.4))  # 4 good up to GPS 2196
    taken = run(machine, 2200, 2300, 4, 0, quality(4, 0.4, range_cleaned=90.0), step=5)
    decision = taken[0][1]
    # 5 is newer than production, 1 and 2 were last good more than 1800 s of data ago
    assert (decision.action, decision.version, decision.previous) == ("rollback", 3, 4)
    assert "BNS range 90 Mpc, 10.00% below raw 100 Mpc" in decision.reason
    assert machine.rollback_target(4, 2210) == 3
    assert machine.rollback_target(4, 2096 + 1801) is None  # 3 too falls out of the memory
    # 3 is not running: the decision carries the figures it was last judged better than raw on
    assert decision.figures["3"]["better_than_raw"] and decision.figures["3"]["end_gps"] == 2096
    assert decision.figures["4"]["better_than_raw"] is False


def test_a_version_measured_worse_than_raw_is_forgotten_as_a_target():
    """A later window not better than raw erases a version's good record: it is no rollback target."""
    machine = DecisionMachine(POLICY)
    run(machine, 0, 100, 1, 2, quality(1, 0.5), quality(2, 0.4))
    assert machine.rollback_target(3, 100) == 2
    run(machine, 100, 200, 1, 2, quality(1, 0.5), quality(2, 0.4, failing=(300.0,)))
    assert machine.rollback_target(3, 200) == 1


def test_no_earlier_good_version_unpins_and_a_good_canary_is_then_promoted():
    """With nothing to go back to production is unpinned; a canary better than raw then becomes the first model."""
    machine = DecisionMachine(POLICY)
    decision = run(machine, 0, 200, 5, 0, quality(5, 1.5))[0][1]
    assert (decision.action, decision.version, decision.previous) == ("unpin", 0, 5)
    machine.applied(decision)
    assert machine.settling == (0, decision.gps) and 5 in machine.bad
    # the frames show no production model: settled; canary 6 is better than raw
    taken = run(machine, 300, 400, 0, 6, quality(6, 0.6))
    assert [(d.action, d.version, d.previous) for _, d in taken][:1] == [("promote", 6, 0)]
    assert "no production model" in taken[0][1].reason
    # the unpinned version is never promoted again, however good it looks
    assert run(DecisionMachine(POLICY, bad={5}), 0, 200, 0, 5, quality(5, 0.1)) == []


def test_refused_unpin_is_not_asked_again():
    """When the exporter refuses to unpin, the same production is not asked about again."""
    machine = DecisionMachine(POLICY)
    decision = run(machine, 0, 200, 5, 0, quality(5, 1.5))[0][1]
    machine.rejected(decision)
    assert run(machine, 200, 400, 5, 0, quality(5, 1.5)) == []


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
    machine = DecisionMachine(POLICY, last_good={1: 990})
    machine.applied(Decision("promote", 2, 1, 1000, "test"))
    # production 1 adds noise but is being replaced: no rollback during the settling time
    assert observe(machine, 1005, 1, 3, quality(1, 1.5), quality(3, 0.1)) is None
    assert machine.settling == (2, 1000)
    observe(machine, 1008, 2, 3, quality(2, 0.4), quality(3, 0.1))
    assert machine.settling is None


def test_rejected_rollback_target_is_not_asked_again():
    """When the exporter refuses a rollback target, the next rollback goes to an older good version."""
    machine = DecisionMachine(POLICY, last_good={1: 0, 2: 0})
    first = run(machine, 0, 50, 3, 0, quality(3, 1.5), step=5)[0][1]
    assert first.version == 2
    machine.rejected(first)
    second = run(machine, 50, 100, 3, 0, quality(3, 1.5), step=5)[0][1]
    assert (second.action, second.version, second.previous) == ("rollback", 1, 3)


def test_production_mostly_in_safety_fallback_is_rolled_back():
    """A production the cleaner keeps replacing with raw is not better than raw; such a canary is not promoted."""
    machine = DecisionMachine(POLICY, last_good={1: 0})
    fallback = quality(2, 0.98, fallback=40)  # 40 of 64 s fell back
    decision = run(machine, 0, 50, 2, 0, fallback, step=5)[0][1]
    assert (decision.action, decision.version) == ("rollback", 1)
    assert "safety fallback in 62%" in decision.reason
    canary = quality(3, 0.1, fallback=40)
    assert run(DecisionMachine(POLICY), 0, 200, 1, 3, quality(1, 0.5), canary) == []


def test_replayed_decisions_restore_what_was_measured_good():
    """Applying logged decisions (a restart) restores the versions' last good windows from their figures."""
    first = DecisionMachine(POLICY)
    decision = run(first, 0, 100, 1, 2, quality(1, 0.5), quality(2, 0.4))[0][1]
    restarted = DecisionMachine(POLICY)
    restarted.applied(decision)
    assert restarted.last_good == {1: decision.gps, 2: decision.gps}
    assert restarted.rollback_target(2, decision.gps + 100) == 1


def test_a_range_below_raw_beyond_rounding_is_lost():
    """A cleaned range below raw by less than RANGE_TOLERANCE (rounding) is not a loss and that canary is
    promoted; 0.05 % below raw is a loss."""
    canary = quality(2, 0.4, range_raw=100.0, range_cleaned=100.0 * (1 - 1e-6))
    assert canary.better_than_raw and not quality(2, 0.4, range_raw=100.0, range_cleaned=99.95).better_than_raw
    assert run(DecisionMachine(POLICY), 0, 100, 1, 2, quality(1, 0.5), canary)[0][1].version == 2
