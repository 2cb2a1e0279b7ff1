"""When to promote the canary, roll production back, or leave no model in production.

A small state machine. Pure logic: it is fed one :class:`Observation` at a time
(the versions live in the latest frame and the figures of each version over its
window) and answers with at most one :class:`Decision`. It does no I/O; the
decision runner carries decisions out and tells the machine when one has been
applied.

Every model is judged against the raw strain, not only against another model:
with no model in production the cleaner writes the raw strain (flagged
no-model), and a model worse than that is worse than nothing.

Rules
-----
- A version's figures count only once its window holds ``min_seconds`` of data:
  nothing is decided about a version the monitor has not seen enough of.
- A version is *better than raw* over its window when the judgement of its 1 Hz
  bins against the raw strain passed (:func:`deepclean.figures.judge_bins`: no
  bin with noise added, band mean ASD ratio at most 1), its cleaned BNS range is
  not below the raw strain's (:func:`deepclean.figures.range_lost`, which
  allows only rounding: :data:`deepclean.figures.RANGE_TOLERANCE`), and the cleaner's safety fallback replaced at most
  ``max_fallback_fraction`` of the window with raw strain (a model so bad the
  cleaner refuses it looks harmless in the figures, which then show raw data).
- For every version the machine remembers the end GPS of its last window measured
  better than raw; a window measured not better than raw forgets it.
- Promote the canary when, for ``sustain_seconds`` without interruption, it is
  better than raw and its band ratio is at most ``(1 - margin)`` times
  production's. With no production (none yet, or unpinned) its band ratio must
  be at most ``first_model_max_band_ratio`` instead.
- When production has not been better than raw for ``rollback_sustain_seconds``,
  roll it back to the newest earlier version (a lower version number) measured
  better than raw within the last ``rollback_memory_seconds`` of data and not
  rolled back from; the decision carries the figures of the window it was last
  measured better than raw on (its current ones when it runs as the canary).
  With no such version, unpin production: the cleaner then writes the raw strain
  with the no-model bit until a canary better than raw is promoted as a first
  model.
- A pinned version the cleaner does not serve (:class:`NoModelRun`: its stream
  written with the no-model bit and no version, or by another version the
  cleaner kept, because the pinned one fails to load) for
  ``sustain_seconds`` of data written after the monitor saw the pin, and over as
  many seconds of wall time, is a failure: production is replaced as above
  (rollback, else unpin), a canary is rejected (never promoted; the monitor does
  not change the canary pin). The sustain time covers the few no-model seconds of
  a legitimate load (start-up, a new pin); loading takes wall time, hence both.
  When production and canary, two different versions, are both not served, the
  cleaner or its backend is at fault, not a version: nothing is decided.
- Seconds with the no-model bit count for no version: they are not measured,
  and a canary stream carrying the bit interrupts the canary's promotion streak.
- A version promoted once is not promoted again by this rule; a version rolled
  back from (or unpinned, or rejected) is never promoted again.
- After a decision is applied, nothing else is decided until the frames show
  the new production version (0 after unpinning), or ``settle_seconds`` of data
  have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .no_model_runs import NoModelRun
from .version_windows import VersionQuality

Action = Literal["promote", "rollback", "unpin", "reject"]
NO_PRODUCTION = 0
"""The version of an unpinned production (what the cleaned frames say: no model)."""


@dataclass(frozen=True)
class Policy:
    """The thresholds of the decisions (see the module docstring)."""

    min_seconds: int
    sustain_seconds: int
    rollback_sustain_seconds: int
    margin: float
    first_model_max_band_ratio: float
    settle_seconds: int
    rollback_memory_seconds: int = 1800
    max_fallback_fraction: float = 0.5


@dataclass(frozen=True)
class Observation:
    """What the monitor knows at ``gps``: the live versions (0: none), figures per version, and the
    streams whose latest second carried the no-model bit (``"production"``, ``"canary"``)."""

    gps: int
    production_version: int
    canary_version: int
    qualities: dict[int, VersionQuality]
    no_model: dict[str, NoModelRun] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """Set production to ``version`` (0: unpin; ``action`` says why); ``previous`` is production before.

    A ``reject`` changes no pin: ``version`` is the canary never to be promoted. ``figures`` holds
    :meth:`VersionQuality.figures` (or :meth:`NoModelRun.figures`) of the versions concerned, by version.
    """

    action: Action
    version: int
    previous: int
    gps: int
    reason: str
    figures: dict[str, dict] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.action}-{self.version}-from-{self.previous}-at-{self.gps}"

    @property
    def label(self) -> str:
        """``promote 3``, ``rollback 1``, ``unpin`` or ``reject 4``."""
        return "unpin" if self.action == "unpin" else f"{self.action} {self.version}"


@dataclass
class DecisionMachine:
    """The decision state; see the module docstring for the rules."""

    policy: Policy
    promoted: set[int] = field(default_factory=set)
    bad: set[int] = field(default_factory=set)
    last_good: dict[int, int] = field(default_factory=dict)
    """Version -> end GPS of its last window measured better than raw."""
    good_figures: dict[int, dict] = field(default_factory=dict)
    """Version -> the figures of that window: a rollback to it carries them, as every decision carries
    the figures it rests on."""
    settling: tuple[int, int] | None = None  # (expected production version, gps applied)
    _promote_since: dict[int, int] = field(default_factory=dict)
    _rollback_since: dict[int, int] = field(default_factory=dict)

    def observe(self, observation: Observation) -> Decision | None:
        """Update the memory and the streaks with ``observation``; the decision it calls for, if any."""
        for quality in observation.qualities.values():
            if quality.seconds >= self.policy.min_seconds:
                good = self.worse_than_raw(quality) is None
                self._remember(quality.version, quality.end_gps, good, quality.figures() if good else None)
        if self._still_settling(observation):
            return None
        not_served = self._not_served(observation)
        if not_served is not None:
            return not_served
        production = self._trusted(observation, observation.production_version)
        rollback = self._rollback(observation, production)
        if rollback is not None:
            return rollback
        return self._promotion(observation, production)

    def worse_than_raw(self, quality: VersionQuality) -> str | None:
        """Why ``quality`` is not better than raw under this policy (None when it is)."""
        problem = quality.worse_than_raw()
        if problem is not None:
            return problem
        fallback = quality.fallback_seconds / quality.seconds
        if fallback > self.policy.max_fallback_fraction:
            return f"safety fallback in {fallback:.0%} of the window > {self.policy.max_fallback_fraction:.0%}"
        return None

    def applied(self, decision: Decision) -> None:
        """Record that ``decision`` has been carried out (also used to replay the log)."""
        for key, figures in decision.figures.items():
            if "better_than_raw" in figures and "end_gps" in figures:
                self._remember(int(key), int(figures["end_gps"]), bool(figures["better_than_raw"]), figures)
        if decision.action == "reject":
            self.bad.add(decision.version)
            self._promote_since.clear()
            return  # no pin changed: nothing to settle
        if decision.action == "promote":
            self.promoted.add(decision.version)
        else:
            self.bad.add(decision.previous)
        self.settling = (decision.version, decision.gps)
        self._promote_since.clear()
        self._rollback_since.clear()

    def rejected(self, decision: Decision) -> None:
        """Record that the exporter refused ``decision``: do not ask for the same change again."""
        if decision.action == "promote":
            self.promoted.add(decision.version)
        elif decision.action == "rollback":
            self.bad.add(decision.version)  # the rollback target is unusable; another may be tried
        elif decision.action == "reject":
            self.bad.add(decision.version)
        else:
            self.bad.add(decision.previous)  # unpinning refused: a better canary is the way out
        self._promote_since.clear()
        self._rollback_since.clear()

    def rollback_target(self, current: int, gps: int) -> int | None:
        """The newest version before ``current`` measured better than raw within the memory, not rolled back from."""
        oldest = gps - self.policy.rollback_memory_seconds
        targets = [v for v, end in self.last_good.items() if v < current and v not in self.bad and end >= oldest]
        return max(targets, default=None)

    def _remember(self, version: int, end_gps: int, good: bool, figures: dict | None = None) -> None:
        if good:
            if end_gps >= self.last_good.get(version, end_gps) and figures is not None:
                self.good_figures[version] = dict(figures)
            self.last_good[version] = max(end_gps, self.last_good.get(version, end_gps))
        elif end_gps >= self.last_good.get(version, end_gps):
            self.last_good.pop(version, None)
            self.good_figures.pop(version, None)

    def _still_settling(self, observation: Observation) -> bool:
        if self.settling is None:
            return False
        expected, since = self.settling
        if observation.production_version == expected or observation.gps - since >= self.policy.settle_seconds:
            self.settling = None
            return False
        return True

    def _trusted(self, observation: Observation, version: int) -> VersionQuality | None:
        if version == NO_PRODUCTION:
            return None
        quality = observation.qualities.get(version)
        if quality is None or quality.seconds < self.policy.min_seconds:
            return None
        return quality

    def _rollback(self, observation: Observation, production: VersionQuality | None) -> Decision | None:
        if production is None or production.version in self.bad:
            self._rollback_since.clear()
            return None
        problem = self.worse_than_raw(production)
        if problem is None:
            self._rollback_since.pop(production.version, None)
            return None
        since = self._rollback_since.setdefault(production.version, observation.gps)
        if observation.gps - since < self.policy.rollback_sustain_seconds:
            return None
        reason = f"production {production.version} not better than raw since GPS {since}: {problem}"
        figures = {str(production.version): production.figures()}
        return self._replace_production(production.version, observation, reason, figures)

    def _not_served(self, observation: Observation) -> Decision | None:
        """Replace a production, or reject a canary, that the cleaner has not served for ``sustain_seconds``."""
        runs = {
            stream: run
            for stream, run in observation.no_model.items()
            if run.version != NO_PRODUCTION and run.version not in self.bad
        }
        production, canary = runs.get("production"), runs.get("canary")
        if production is not None and canary is not None and production.version != canary.version:
            return None  # two versions failing at once: the cleaner or its backend, not a version
        gps = observation.gps
        if production is not None and self._sustained(production):
            reason = f"production version {production.version} not served: {_describe(production)}"
            figures = {str(production.version): production.figures("production", gps)}
            return self._replace_production(production.version, observation, reason, figures)
        if canary is not None and self._sustained(canary) and production is None:
            return Decision(
                action="reject",
                version=canary.version,
                previous=observation.production_version,
                gps=gps,
                reason=f"canary version {canary.version} not served: {_describe(canary)}; never to be promoted",
                figures={str(canary.version): canary.figures("canary", gps)},
            )
        return None

    def _sustained(self, run: NoModelRun) -> bool:
        return run.seconds >= self.policy.sustain_seconds and run.wall_seconds >= self.policy.sustain_seconds

    def _replace_production(
        self, previous: int, observation: Observation, reason: str, figures: dict[str, dict]
    ) -> Decision:
        """Roll production ``previous`` back to the newest earlier version good within the memory, else unpin."""
        target = self.rollback_target(previous, observation.gps)
        if target is None:
            return Decision(
                action="unpin",
                version=NO_PRODUCTION,
                previous=previous,
                gps=observation.gps,
                reason=f"{reason}; no earlier version measured better than raw in the last "
                f"{self.policy.rollback_memory_seconds} s: raw strain until a better canary",
                figures=figures,
            )
        target_quality = observation.qualities.get(target)
        if target_quality is not None and target_quality.seconds >= self.policy.min_seconds:
            figures[str(target)] = target_quality.figures()
        elif target in self.good_figures:
            figures[str(target)] = self.good_figures[target]  # not running now: the window it was judged on
        return Decision(
            action="rollback",
            version=target,
            previous=previous,
            gps=observation.gps,
            reason=f"{reason}; version {target} was better than raw up to GPS {self.last_good[target]}",
            figures=figures,
        )

    def _promotion(self, observation: Observation, production: VersionQuality | None) -> Decision | None:
        candidate = observation.canary_version
        if candidate in (0, observation.production_version) or candidate in self.bad | self.promoted:
            self._promote_since.clear()
            return None
        canary = self._trusted(observation, candidate)
        unserved = observation.no_model.get("canary")
        # no-model canary seconds leave its window older than this second: not judged good
        interrupted = unserved is not None and not unserved.served
        if canary is None or interrupted or (observation.production_version != NO_PRODUCTION and production is None):
            self._promote_since.pop(candidate, None)
            return None
        reason = self._why_promote(canary, production)
        if reason is None:
            self._promote_since.pop(candidate, None)
            return None
        since = self._promote_since.setdefault(candidate, observation.gps)
        if observation.gps - since < self.policy.sustain_seconds:
            return None
        figures = {str(canary.version): canary.figures()}
        if production is not None:
            figures[str(production.version)] = production.figures()
        return Decision(
            action="promote",
            version=canary.version,
            previous=observation.production_version,
            gps=observation.gps,
            reason=f"{reason}, sustained since GPS {since}",
            figures=figures,
        )

    def _why_promote(self, canary: VersionQuality, production: VersionQuality | None) -> str | None:
        policy = self.policy
        if self.worse_than_raw(canary) is not None:
            return None
        ranges = f"BNS range {canary.range_cleaned:.4g} Mpc, raw {canary.range_raw:.4g} Mpc"
        if production is None:
            if canary.band_ratio <= policy.first_model_max_band_ratio:
                return (
                    f"no production model; better than raw ({ranges}), band ASD ratio "
                    f"{canary.band_ratio:.4f} <= {policy.first_model_max_band_ratio:g}"
                )
            return None
        limit = (1.0 - policy.margin) * production.band_ratio
        if canary.band_ratio <= limit:
            return (
                f"better than raw ({ranges}); band ASD ratio {canary.band_ratio:.4f} <= (1 - {policy.margin:g}) "
                f"x production's {production.band_ratio:.4f}"
            )
        return None


def _describe(run: NoModelRun) -> str:
    instead = f"seconds written by version {run.served} instead" if run.served else "no-model seconds"
    return f"{run.seconds} s of {instead} since GPS {run.since} (written over {run.wall_seconds:.0f} s)"
