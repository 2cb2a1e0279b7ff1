"""When to promote the canary and when to roll production back: a small state machine.

Pure logic: it is fed one :class:`Observation` at a time (the versions live in
the latest frame and the figures of each version over its window) and answers
with at most one :class:`Decision`. It does no I/O; the decision runner
carries decisions out and tells the machine when one has been applied.

Rules
-----
- A version's figures count only once its window holds ``min_seconds`` of data:
  nothing is decided about a version the monitor has not seen enough of.
- Promote the canary when, for ``sustain_seconds`` without interruption, its
  band ratio is at most ``(1 - margin)`` times production's and its worst
  out-of-band ratio is at most ``max_out_of_band_ratio``. With no production
  yet, the canary only has to clean at all: band ratio at most
  ``first_model_max_band_ratio``.
- Roll production back to the newest previous good version when, for
  ``rollback_sustain_seconds``, production degrades: it adds noise (worst
  out-of-band ratio above ``max_out_of_band_ratio`` or band ratio above
  ``max_band_ratio``), or the cleaner's safety fallback replaced more than
  ``max_fallback_fraction`` of its window with raw strain (a model so bad the
  cleaner refuses it looks harmless in the figures, which then show raw data).
  A canary over that fraction is not promoted either.
- A version promoted once is not promoted again by this rule; a version rolled
  back from is never promoted again.
- After a decision is applied, nothing else is decided until the frames show
  the new production version, or ``settle_seconds`` of data have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .version_windows import VersionQuality

Action = Literal["promote", "rollback"]


@dataclass(frozen=True)
class Policy:
    """The thresholds of the decisions (see the module docstring)."""

    min_seconds: int
    sustain_seconds: int
    rollback_sustain_seconds: int
    margin: float
    first_model_max_band_ratio: float
    max_out_of_band_ratio: float
    max_band_ratio: float
    settle_seconds: int
    max_fallback_fraction: float = 0.5


@dataclass(frozen=True)
class Observation:
    """What the monitor knows at ``gps``: the live versions (0: none) and figures per version."""

    gps: int
    production_version: int
    canary_version: int
    qualities: dict[int, VersionQuality]


@dataclass(frozen=True)
class Decision:
    """Set production to ``version`` (``action`` says why); ``previous`` is production before."""

    action: Action
    version: int
    previous: int
    gps: int
    reason: str
    figures: dict[str, dict] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.action}-{self.version}-from-{self.previous}-at-{self.gps}"


@dataclass
class DecisionMachine:
    """The decision state; see the module docstring for the rules."""

    policy: Policy
    promoted: set[int] = field(default_factory=set)
    bad: set[int] = field(default_factory=set)
    good_history: list[int] = field(default_factory=list)
    settling: tuple[int, int] | None = None  # (expected production version, gps applied)
    _promote_since: dict[int, int] = field(default_factory=dict)
    _rollback_since: dict[int, int] = field(default_factory=dict)

    def observe(self, observation: Observation) -> Decision | None:
        """Update the streaks with ``observation``; the decision it calls for, if any."""
        if self._still_settling(observation):
            return None
        production = self._trusted(observation, observation.production_version)
        if production is not None and self._degraded(production) is None:
            self._mark_good(production.version)
        rollback = self._rollback(observation, production)
        if rollback is not None:
            return rollback
        return self._promotion(observation, production)

    def applied(self, decision: Decision) -> None:
        """Record that ``decision`` has been carried out (also used to replay the log)."""
        if decision.action == "promote":
            self.promoted.add(decision.version)
        else:
            self.bad.add(decision.previous)
            if decision.previous in self.good_history:
                self.good_history.remove(decision.previous)
        self._mark_good(decision.version)
        self.settling = (decision.version, decision.gps)
        self._promote_since.clear()
        self._rollback_since.clear()

    def rejected(self, decision: Decision) -> None:
        """Record that the exporter refused ``decision``: do not ask for the same change again."""
        if decision.action == "promote":
            self.promoted.add(decision.version)
        else:
            self.bad.add(decision.version)  # the rollback target is unusable; another may be tried
            if decision.version in self.good_history:
                self.good_history.remove(decision.version)
        self._promote_since.clear()
        self._rollback_since.clear()

    def rollback_target(self, current: int) -> int | None:
        """The newest good version other than ``current`` that was not rolled back from."""
        for version in reversed(self.good_history):
            if version != current and version not in self.bad:
                return version
        return None

    def _still_settling(self, observation: Observation) -> bool:
        if self.settling is None:
            return False
        expected, since = self.settling
        if observation.production_version == expected or observation.gps - since >= self.policy.settle_seconds:
            self.settling = None
            return False
        return True

    def _trusted(self, observation: Observation, version: int) -> VersionQuality | None:
        if version == 0:
            return None
        quality = observation.qualities.get(version)
        if quality is None or quality.seconds < self.policy.min_seconds:
            return None
        return quality

    def _degraded(self, quality: VersionQuality) -> str | None:
        if quality.out_of_band_ratio > self.policy.max_out_of_band_ratio:
            return (
                f"out-of-band ASD ratio {quality.out_of_band_ratio:.4f} > {self.policy.max_out_of_band_ratio:g}"
            )
        if quality.band_ratio > self.policy.max_band_ratio:
            return f"band ASD ratio {quality.band_ratio:.4f} > {self.policy.max_band_ratio:g}"
        fallback = quality.fallback_seconds / quality.seconds
        if fallback > self.policy.max_fallback_fraction:
            return f"safety fallback in {fallback:.0%} of the window > {self.policy.max_fallback_fraction:.0%}"
        return None

    def _mark_good(self, version: int) -> None:
        if version in self.bad or version == 0:
            return
        if version in self.good_history:
            self.good_history.remove(version)
        self.good_history.append(version)

    def _rollback(self, observation: Observation, production: VersionQuality | None) -> Decision | None:
        if production is None or production.version in self.bad:
            self._rollback_since.clear()
            return None
        problem = self._degraded(production)
        if problem is None:
            self._rollback_since.pop(production.version, None)
            return None
        since = self._rollback_since.setdefault(production.version, observation.gps)
        if observation.gps - since < self.policy.rollback_sustain_seconds:
            return None
        target = self.rollback_target(production.version)
        if target is None:
            return None  # nothing to go back to; a better canary is the way out
        return Decision(
            action="rollback",
            version=target,
            previous=production.version,
            gps=observation.gps,
            reason=f"production {production.version} degraded since GPS {since}: {problem}",
            figures={str(production.version): production.figures()},
        )

    def _promotion(self, observation: Observation, production: VersionQuality | None) -> Decision | None:
        candidate = observation.canary_version
        if candidate in (0, observation.production_version) or candidate in self.bad | self.promoted:
            self._promote_since.clear()
            return None
        canary = self._trusted(observation, candidate)
        if canary is None or (observation.production_version != 0 and production is None):
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
        if canary.out_of_band_ratio > policy.max_out_of_band_ratio:
            return None
        if canary.fallback_seconds > policy.max_fallback_fraction * canary.seconds:
            return None
        if production is None:
            if canary.band_ratio <= policy.first_model_max_band_ratio:
                return f"first model: band ASD ratio {canary.band_ratio:.4f} <= {policy.first_model_max_band_ratio:g}"
            return None
        limit = (1.0 - policy.margin) * production.band_ratio
        if canary.band_ratio <= limit:
            return (
                f"band ASD ratio {canary.band_ratio:.4f} <= (1 - {policy.margin:g}) x production's "
                f"{production.band_ratio:.4f}"
            )
        return None

