"""The decision log: JSON lines, appended and fsynced before anything is done.

Each decision (``promote``, ``rollback``, ``unpin`` or ``reject``) writes a ``decided``
record (the decision and the figures behind it) before the exporter is called, then ``attempt_failed`` records while the
call fails, and an ``applied`` record once it succeeded, or ``rejected`` when
the exporter refused it for good. Replaying the log at start-up gives the
decisions already settled (not to be redone) and those still pending (to be
retried), so a restart neither loses nor repeats one. A line torn by a crash
is skipped; the first record written after it starts on a line of its own.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .policy import Decision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replay:
    """What the log says: applied and rejected decisions in order, and those still pending."""

    applied: list[Decision]
    pending: list[Decision]
    rejected: list[Decision]


class DecisionLog:
    """Append-only JSON-lines log of decisions at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._line_started = False

    def decided(self, decision: Decision) -> None:
        """Record a new decision (before acting on it)."""
        self._append({"event": "decided", "id": decision.id, **asdict(decision)})

    def attempt_failed(self, decision: Decision, attempt: int, error: str) -> None:
        """Record a failed call to the exporter for ``decision``."""
        self._append({"event": "attempt_failed", "id": decision.id, "attempt": attempt, "error": error})

    def applied(self, decision: Decision, detail: str = "") -> None:
        """Record that ``decision`` has been carried out."""
        self._append({"event": "applied", "id": decision.id, "detail": detail})

    def rejected(self, decision: Decision, error: str) -> None:
        """Record that the exporter refused ``decision`` for good (it will not be retried)."""
        self._append({"event": "rejected", "id": decision.id, "error": error})

    def records(self) -> list[dict[str, Any]]:
        """Every record in the log; a torn last line (a crash mid-write) is skipped."""
        if not self.path.exists():
            return []
        records = []
        with open(self.path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    log.warning("decision log %s: line %d is not JSON (torn write?); skipped", self.path, number)
        return records

    def replay(self) -> Replay:
        """Applied and pending decisions, each in the order they were decided."""
        decided: dict[str, Decision] = {}
        settled: dict[str, str] = {}  # id -> "applied" | "rejected", in the order they settled
        for record in self.records():
            event, decision_id = record.get("event"), record.get("id")
            if event == "decided":
                fields = {k: record[k] for k in ("action", "version", "previous", "gps", "reason", "figures")}
                decided[decision_id] = Decision(**fields)
            elif event in ("applied", "rejected") and decision_id in decided and decision_id not in settled:
                settled[decision_id] = event
        return Replay(
            applied=[decided[i] for i, how in settled.items() if how == "applied"],
            pending=[d for i, d in decided.items() if i not in settled],
            rejected=[decided[i] for i, how in settled.items() if how == "rejected"],
        )

    def _append(self, record: dict[str, Any]) -> None:
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **record}
        line = json.dumps(record, sort_keys=False) + "\n"
        if not self._line_started:
            line = self._after_torn_line() + line
            self._line_started = True
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _after_torn_line(self) -> str:
        """A newline if the log ends mid-line (torn by a crash): appended to, it would lose the new record too."""
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() == 0:
                    return ""
                f.seek(-1, os.SEEK_END)
                return "" if f.read(1) == b"\n" else "\n"
        except FileNotFoundError:
            return ""
