"""How long each stream has gone without the model version pinned for it.

Two ways a pinned version goes unserved. The cleaner fails to load it (a
damaged model, retried every 30 s) and has nothing else for the stream: the
seconds are written as raw strain with the no-model bit and version 0, which
the cleaned frames cannot tell from no version pinned at all. Or the cleaner
fails to load a new pin while it still holds an older version for the stream
(a promotion whose files no longer check out): it keeps cleaning with the older
one, and the version channel names a version other than the pinned one. The
exporter's pins tell both apart from a stream that is as it should be; they are
asked at most every ``refresh_seconds`` of wall time (after a failure, every
``retry_seconds``, and until an answer no version is held to account), and such
seconds are held against the version pinned for the stream. Only seconds the
cleaner wrote after the monitor saw that pin count (the cleaned frame's
modification time): a monitor reading a backlog learns
today's pins, which say nothing of the seconds written before them. A second
written by the pinned version, one that changes version within it, or one
whose version channel names a version while flagged no-model (loaded, its
inference backend away: no fault of the version) ends the run. A run also says
over how much wall time it was written: loading a model takes wall time, which
a stream run faster than real time (tests, benchmarks) crosses in more seconds
of data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deepclean.exporter_api import ExporterError

from .cleaned_frames import NO_MODEL, StreamSecond

log = logging.getLogger(__name__)

STREAMS = ("production", "canary")


@dataclass(frozen=True)
class NoModelRun:
    """The no-model seconds a stream ends with, held against the version pinned for it.

    ``version`` is the version pinned for the stream that the cleaner has not loaded (0: none
    pinned, the pin not known, or a loaded version whose inference backend is away); ``seconds``
    of them, from GPS ``since``, were written while the monitor knew that pin, the latest one
    ``wall_seconds`` after the monitor first saw it; ``served`` is the version the latest of them
    was written with instead (0: none, raw strain with the no-model bit).
    """

    version: int
    since: int
    seconds: int
    wall_seconds: float = 0.0
    served: int = 0

    def figures(self, stream: str, gps: int) -> dict[str, int | float | str]:
        """The run as plain numbers (for the decision log)."""
        return {
            "version": self.version,
            "stream": stream,
            "no_model_seconds": self.seconds,
            "no_model_since": self.since,
            "no_model_wall_seconds": round(self.wall_seconds, 1),
            "served_version": self.served,
            "end_gps": gps,
        }


@dataclass
class _Run:
    pinned: int = 0
    seen_at: float = 0.0  # wall time of the answer that first showed ``pinned``
    since: int | None = None
    seconds: int = 0
    last_gps: int = 0
    last_written: float = 0.0
    served: int = 0


@dataclass
class NoModelRuns:
    """The runs of both streams; ``ask_pins`` answers ``{"production": v, "canary": v}`` (None: unset)."""

    ask_pins: Callable[[], dict[str, int | None]]
    refresh_seconds: float = 5.0
    retry_seconds: float = 30.0
    clock: Callable[[], float] = time.time
    _runs: dict[str, _Run] = field(default_factory=dict)
    _pins: dict[str, int] = field(default_factory=dict)
    _asked_at: float = 0.0
    _next_ask: float = 0.0

    def add(self, stream: str, gps: int, second: StreamSecond, written: float) -> None:
        """Account for ``stream``'s ``second`` at ``gps``, whose frame was written at ``written`` (file time)."""
        if second.dq_bits & NO_MODEL and second.version != 0:
            self._runs[stream] = _Run(last_gps=gps)
            return
        pinned = self._pinned(stream)
        # served as pinned, or a model written with none pinned (the pins are being changed): no run
        if not second.dq_bits & NO_MODEL and (second.version in (pinned, -1) or not pinned):
            self._runs.pop(stream, None)
            return
        run = self._runs.setdefault(stream, _Run())
        run.last_gps = gps
        if pinned != run.pinned:
            run = self._runs[stream] = _Run(pinned=pinned, seen_at=self._asked_at, last_gps=gps)
        run.served = max(second.version, 0)
        if run.pinned and written >= run.seen_at:
            run.since = gps if run.since is None else run.since
            run.seconds += 1
            run.last_written = max(run.last_written, written)

    def runs(self) -> dict[str, NoModelRun]:
        """The runs the streams end with, by stream (a stream whose latest second was served as pinned has none)."""
        return {
            stream: NoModelRun(
                run.pinned,
                run.last_gps if run.since is None else run.since,
                run.seconds,
                run.last_written - run.seen_at if run.seconds else 0.0,
                run.served,
            )
            for stream, run in self._runs.items()
        }

    def counting(self) -> bool:
        """Whether a pinned version is being held to account (some run has seconds)."""
        return any(run.seconds for run in self._runs.values())

    def forget(self, stream: str) -> None:
        """Start ``stream`` afresh and ask the pins again (the monitor has just changed them)."""
        self._runs.pop(stream, None)
        self._next_ask = 0.0

    def _pinned(self, stream: str) -> int:
        now = self.clock()
        if now >= self._next_ask:
            try:
                answer = self.ask_pins()
                self._pins = {s: int(answer.get(s) or 0) for s in STREAMS}
            except (ExporterError, TypeError, ValueError) as exc:
                log.warning("cannot read the exporter's pins (retrying in %.0f s): %s", self.retry_seconds, exc)
                # Pins not known now count for no version: the last ones may predate a change (a promotion
                # the exporter took just before it went away), and would blame a version the cleaner rightly
                # stopped serving.
                self._pins = {}
                self._next_ask = now + self.retry_seconds
            else:
                self._asked_at, self._next_ask = now, now + self.refresh_seconds
        return self._pins.get(stream, 0)
