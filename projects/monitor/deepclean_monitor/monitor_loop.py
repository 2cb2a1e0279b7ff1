"""The monitor's loop: read frames, measure each version, decide, report.

::

    cleaned frame + raw frame --> PairedSecond --> VersionWindows (per version)
            |                           |                | segment complete
            v                           v                v
    CleanedFrameStream           NoModelRuns -------> Observation --> DecisionMachine
    (order, missing)        (pins asked of the     (also each second a pinned
                             exporter)              version is not served)
                                                                        | decision
                                                                        v
                                         DecisionLog <-- DecisionRunner --> exporter
    Reports (plots, page, metrics, summaries, retention) read the state every report_interval.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from deepclean.frames import FrameError, FrameName, MissingChannelError, StreamFiles

from .cleaned_frames import CleanedChannels, PairedSecond, read_paired_second
from .decision_log import DecisionLog
from .decision_runner import DecisionRunner
from .frame_stream import CleanedFrameStream
from .metrics import MonitorMetrics
from .no_model_runs import NoModelRuns
from .plots import RatioPoint
from .policy import Decision, DecisionMachine, Observation
from .summaries import PeriodSummaries
from .version_windows import VersionQuality, VersionWindows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawStream(StreamFiles):
    """Where the raw strain frames are."""

    def path(self, gps: int) -> Path:
        return FrameName(gps=gps, site=self.site, ifo=self.ifo, tag=self.tag, duration=self.duration).path(
            self.directory
        )


@dataclass
class MonitorState:
    """What the reports show, kept up to date by the loop."""

    production_version: int = 0
    canary_version: int = 0
    last_gps: int | None = None
    frame_lag: float | None = None
    frames_missing: int = 0
    qualities: dict[int, VersionQuality] = field(default_factory=dict)
    points: deque[RatioPoint] = field(default_factory=lambda: deque(maxlen=4096))
    decisions: list[Decision] = field(default_factory=list)


class Monitor:
    """Reads frames in order, keeps the windows, feeds the decision machine."""

    def __init__(
        self,
        cleaned: CleanedFrameStream,
        raw: RawStream,
        channels: CleanedChannels,
        windows: VersionWindows,
        machine: DecisionMachine,
        decision_log: DecisionLog,
        runner: DecisionRunner,
        metrics: MonitorMetrics,
        summaries: PeriodSummaries,
        no_model: NoModelRuns,
    ) -> None:
        self.cleaned = cleaned
        self.raw = raw
        self.channels = channels
        self.windows = windows
        self.machine = machine
        self.decision_log = decision_log
        self.runner = runner
        self.metrics = metrics
        self.summaries = summaries
        self.no_model = no_model
        self.state = MonitorState()
        self._failures_counted = 0
        runner.on_applied = self._applied
        runner.on_rejected = self.machine.rejected

    def resume_from_log(self) -> None:
        """Replay the decision log: settled decisions set the state, pending ones are retried."""
        replay = self.decision_log.replay()
        for decision in replay.rejected:
            self.machine.rejected(decision)
        for decision in replay.applied:
            self.machine.applied(decision)
            self.state.decisions.append(decision)
        self.runner.resume(replay.pending)
        if replay.applied or replay.pending:
            log.info(
                "decision log %s: %d applied, %d pending",
                self.decision_log.path,
                len(replay.applied),
                len(replay.pending),
            )

    def process_available(self, limit: int = 256) -> int:
        """Read the frames that are ready, in order, at most ``limit``; the number read.

        The limit lets a monitor catching up on a backlog still retry decisions
        and refresh its reports in between.
        """
        count = 0
        while count < limit:
            frame, missing = self.cleaned.next_frame()
            if missing:
                self._missing("cleaned", missing, "never arrived")
            if frame is None:
                return count
            try:
                second = read_paired_second(
                    frame.gps, self.cleaned.path(frame), self.raw.path(frame.gps), self.channels
                )
            except (MissingChannelError, ValueError) as exc:
                self._missing("cleaned", [frame.gps], str(exc))
                self.cleaned.done(frame.gps)
                continue
            except (FileNotFoundError, FrameError) as exc:
                if not self.cleaned.retry_later():
                    return count
                stream = "raw" if not self.raw.path(frame.gps).exists() else "cleaned"
                self._missing(stream, [frame.gps], str(exc))
                self.cleaned.done(frame.gps)
                continue
            self._handle(second)
            self.cleaned.done(frame.gps)
            count += 1
        return count

    def _handle(self, second: PairedSecond) -> None:
        state = self.state
        state.last_gps = second.gps
        self.metrics.frames_read.inc()
        self.metrics.last_gps.set(second.gps)
        if second.production.version >= 0:
            state.production_version = second.production.version
        if second.canary.version >= 0:
            state.canary_version = second.canary.version
        self.metrics.live_version.labels(stream="production").set(state.production_version)
        self.metrics.live_version.labels(stream="canary").set(state.canary_version)
        completed = False
        for name, stream in (("production", second.production), ("canary", second.canary)):
            if stream.measurable:
                completed |= self.windows.add(
                    stream.version, second.gps, second.raw, stream.cleaned, second.sample_rate, stream.fell_back
                )
            self.no_model.add(name, second.gps, stream, second.written)
        runs = self.no_model.runs()
        for name in ("production", "canary"):
            self.metrics.no_model_seconds.labels(stream=name).set(runs[name].seconds if name in runs else 0)
        if completed or self.no_model.counting():
            self._evaluate(second.gps + 1)

    def _evaluate(self, gps: int) -> None:
        state = self.state
        forget_before = gps - 2 * self.windows.settings.window_seconds
        for version, window in list(self.windows.windows.items()):
            if window.last_gps is not None and window.last_gps < forget_before:
                self.metrics.forget_version(version)
        self.windows.forget_older_than(forget_before)
        qualities = {}
        for version in self.windows.windows:
            quality = self.windows.quality(version)
            if quality is not None:
                qualities[version] = quality
                self.metrics.record_quality(quality)
        state.qualities = qualities
        for stream, version in (("production", state.production_version), ("canary", state.canary_version)):
            quality = qualities.get(version)
            if stream == "canary" and version == state.production_version:
                continue  # one version on both streams: one point
            if quality is not None and quality.end_gps == gps:
                point = RatioPoint(gps, version, stream, quality.band_ratio, quality.worst_bin)
                state.points.append(point)
                self.summaries.add_point(point)
        if self.runner.busy:
            return
        observation = Observation(gps, state.production_version, state.canary_version, qualities, self.no_model.runs())
        decision = self.machine.observe(observation)
        if decision is not None:
            self.runner.submit(decision)
            self._count_attempts()

    def update_lag(self) -> None:
        """Seconds from the end of the last frame read to now (GPS); grows while the stream stalls."""
        if self.state.last_gps is not None:
            self.state.frame_lag = gps_now() - (self.state.last_gps + 1)
            self.metrics.frame_lag.set(self.state.frame_lag)

    def retry_decisions(self) -> None:
        """Retry pending decisions whose back-off has expired."""
        self.runner.retry_due()
        self._count_attempts()

    def _count_attempts(self) -> None:
        self.metrics.exporter_failures.inc(self.runner.failures - self._failures_counted)
        self._failures_counted = self.runner.failures
        self.metrics.pending_decisions.set(len(self.runner.pending))

    def _applied(self, decision: Decision) -> None:
        if decision.action != "reject":
            self.no_model.forget("production")  # a new pin: its no-model seconds start from nothing
        self.machine.applied(decision)
        self.state.decisions.append(decision)
        self.metrics.count_decision(decision.action)
        self.summaries.add_decision(decision.action, decision.gps)

    def _missing(self, stream: str, seconds: list[int], why: str) -> None:
        log.warning("%s frame(s) %s given up: %s", stream, _span(seconds), why)
        self.metrics.frames_missing.labels(stream=stream).inc(len(seconds))
        self.state.frames_missing += len(seconds)
        self.summaries.add_missing(seconds[0], len(seconds))


def run_loop(
    monitor: Monitor,
    write_reports,
    poll_interval: float,
    report_interval: float,
    run_seconds: float,
    exit_when_idle: bool,
) -> None:
    """Poll for frames until stopped; reports every ``report_interval`` s and at the end.

    ``run_seconds`` > 0 stops after that long; ``exit_when_idle`` stops once no
    frame is left to read (pending decisions stay in the log for the next start).
    """
    started = last_report = time.monotonic()
    try:
        while True:
            read = monitor.process_available()
            monitor.update_lag()
            monitor.retry_decisions()
            now = time.monotonic()
            if now - last_report >= report_interval:
                write_reports()
                last_report = now
            if exit_when_idle and read == 0 and not monitor.cleaned.available():
                break
            if run_seconds and now - started >= run_seconds:
                break
            if read == 0:
                time.sleep(poll_interval)
    finally:
        write_reports()


def gps_now() -> float:
    """The current GPS time (leap seconds from LAL)."""
    import lal

    return float(lal.GPSTimeNow())


def _span(seconds: list[int]) -> str:
    return str(seconds[0]) if len(seconds) == 1 else f"{seconds[0]}-{seconds[-1]}"
