"""Carry decisions out through the exporter: log first, call, retry with back-off.

A decision is logged (fsynced) before the exporter is called. If the call
fails, the decision stays pending and is retried after a delay that doubles
up to ``max_delay``; while one is pending no new decision is taken (the
monitor's loop asks :attr:`DecisionRunner.busy`). A decision the exporter
refuses for good (an unknown version, say) is logged as rejected and dropped,
so it cannot block the monitor forever. Before changing the pin the
runner reads it: when it already holds the target (or no production at all,
for an ``unpin``), the call went through but the monitor stopped before
logging it, so the decision is logged as applied without a second call. A
``reject`` (a canary never to be promoted) changes no pin: it is logged and
applied without a call.

For fault tests, ``$DEEPCLEAN_MONITOR_PAUSE_AT`` set to ``call`` (before the
exporter is called for a decision) or ``applied`` (after the call, before it
is logged applied) makes the runner log where it is and sleep
:data:`PAUSE_SECONDS` there, so a test can kill the monitor at that point.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deepclean.exporter_api import ExporterClient, ExporterError

from .decision_log import DecisionLog
from .policy import Decision

log = logging.getLogger(__name__)

PAUSE_ENV = "DEEPCLEAN_MONITOR_PAUSE_AT"
PAUSE_SECONDS = 120.0


@dataclass
class Backoff:
    """Delays between attempts: ``initial`` doubling up to ``maximum`` seconds."""

    initial: float
    maximum: float

    def delay(self, attempt: int) -> float:
        return min(self.maximum, self.initial * 2 ** max(0, attempt - 1))


@dataclass
class _Pending:
    decision: Decision
    attempts: int = 0
    next_attempt: float = 0.0


@dataclass
class DecisionRunner:
    """Applies decisions in order; ``on_applied`` / ``on_rejected`` are told how each one ended."""

    decision_log: DecisionLog
    exporter: ExporterClient
    backoff: Backoff
    on_applied: Callable[[Decision], None]
    on_rejected: Callable[[Decision], None] = lambda decision: None
    clock: Callable[[], float] = time.monotonic
    pending: list[_Pending] = field(default_factory=list)
    failures: int = 0

    @property
    def busy(self) -> bool:
        """True while a decision waits to be carried out."""
        return bool(self.pending)

    def resume(self, decisions: list[Decision]) -> None:
        """Queue decisions found pending in the log (already logged as decided)."""
        for decision in decisions:
            log.warning("decision %s was not carried out before the last stop; retrying", decision.id)
            self.pending.append(_Pending(decision))

    def submit(self, decision: Decision) -> None:
        """Log ``decision`` and try to carry it out now."""
        log.info("decision %s: %s", decision.id, decision.reason)
        self.decision_log.decided(decision)
        self.pending.append(_Pending(decision))
        self.retry_due()

    def retry_due(self) -> None:
        """Attempt the pending decisions, in order, whose back-off has expired."""
        while self.pending:
            entry = self.pending[0]
            if self.clock() < entry.next_attempt:
                return
            entry.attempts += 1
            try:
                _pause_if_asked("call", entry.decision)
                detail = self._apply(entry.decision)
            except ExporterError as exc:
                self.failures += 1
                if exc.permanent:
                    self.decision_log.rejected(entry.decision, str(exc))
                    self.pending.pop(0)
                    log.error("decision %s rejected by the exporter: %s", entry.decision.id, exc)
                    self.on_rejected(entry.decision)
                    continue
                delay = self.backoff.delay(entry.attempts)
                entry.next_attempt = self.clock() + delay
                self.decision_log.attempt_failed(entry.decision, entry.attempts, str(exc))
                log.warning(
                    "decision %s: attempt %d failed (%s); retrying in %.1f s",
                    entry.decision.id,
                    entry.attempts,
                    exc,
                    delay,
                )
                return
            _pause_if_asked("applied", entry.decision)
            self.decision_log.applied(entry.decision, detail)
            self.pending.pop(0)
            log.info("decision %s applied (%s)", entry.decision.id, detail)
            self.on_applied(entry.decision)

    def _apply(self, decision: Decision) -> str:
        if decision.action == "reject":
            return f"canary {decision.version} will not be promoted (the monitor leaves the canary pin alone)"
        current = self.exporter.pin("production")
        if decision.action == "unpin":
            if current is None:
                return "production already unpinned"
            self.exporter.unset_production()
            return f"production {current} -> unpinned"
        if current == decision.version:
            return f"production already {current}"
        self.exporter.set_production(decision.version)
        return f"production {current} -> {decision.version}"


def _pause_if_asked(point: str, decision: Decision) -> None:
    """Sleep at ``point`` when :data:`PAUSE_ENV` names it (fault tests only)."""
    if os.environ.get(PAUSE_ENV) == point:
        log.warning("decision %s: pausing %.0f s before %s (%s)", decision.id, PAUSE_SECONDS, point, PAUSE_ENV)
        time.sleep(PAUSE_SECONDS)
