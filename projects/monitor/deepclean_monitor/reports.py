"""Write the reports: plots, the status page, the metrics textfile; apply retention.

Files in ``reports_dir``::

    index.html         status page (refreshes itself), shows the two plots
    status.json        the page's figures (deepclean_monitor.status_summary)
    asd.png            raw vs cleaned ASD around the band, production and canary
    band_ratio.png     band ratio per version over time, decisions marked
    monitor.prom       Prometheus textfile
    history/band_ratio-<gps>.png   the plot as it was at the end of each period (from <gps>),
                                   removed after report_retention_seconds
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deepclean.exporter_api import ExporterError

from .frame_stream import CleanedFrameStream
from .metrics import MonitorMetrics
from .monitor_loop import Monitor, gps_now
from .plots import plot_asds, plot_band_ratio
from .retention import remove_old_frames, remove_old_snapshots
from .status_page import StatusSnapshot, write_status_page
from .status_summary import write_status_summary
from .stream_lag import StreamLag, measure_lag

log = logging.getLogger(__name__)

PAGE = "index.html"
SUMMARY = "status.json"
IMAGES = ("asd.png", "band_ratio.png")


@dataclass
class Reports:
    """Writes every report from the monitor's state."""

    monitor: Monitor
    reports_dir: Path
    band: tuple[float, float]
    refresh_seconds: int
    period_seconds: int
    cleaned_retention_seconds: int
    report_retention_seconds: int
    metrics_textfile: bool

    def write(self) -> None:
        """Refresh every report; a failure is logged, never fatal to the monitor."""
        try:
            self._write()
        except Exception:  # a full disk or a plotting error must not stop the measurements
            log.exception("writing the reports in %s failed", self.reports_dir)

    def _write(self) -> None:
        state = self.monitor.state
        metrics: MonitorMetrics = self.monitor.metrics
        self.monitor.update_lag()
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        plot_asds(
            {
                "production": state.qualities.get(state.production_version),
                "canary": state.qualities.get(state.canary_version),
            },
            self.band,
            self.reports_dir / IMAGES[0],
        )
        pending = [p.decision for p in self.monitor.runner.pending]
        ratio_plot = plot_band_ratio(list(state.points), state.decisions, self.reports_dir / IMAGES[1], pending)
        now = time.time()
        snapshot = StatusSnapshot(
            updated=datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            updated_unix=now,
            last_gps=state.last_gps,
            production_version=state.production_version,
            canary_version=state.canary_version,
            qualities=state.qualities,
            decisions=state.decisions,
            pending=pending,
            frames_missing=state.frames_missing,
            lag=self._lag(now),
            images=list(IMAGES),
            exporter_pins=self._exporter_pins(),
        )
        write_status_page(self.reports_dir / PAGE, snapshot, self.refresh_seconds)
        write_status_summary(self.reports_dir / SUMMARY, snapshot)
        if self.metrics_textfile:
            metrics.write_textfile(self.reports_dir / "monitor.prom")
        if state.last_gps is not None:
            self._snapshot(ratio_plot, state.last_gps)
            self._retention(self.monitor.cleaned, state.last_gps)

    def _lag(self, wall_now: float) -> StreamLag:
        monitor = self.monitor
        return measure_lag(monitor.raw, monitor.cleaned, monitor.state.last_gps, gps_now(), wall_now)

    def _exporter_pins(self) -> dict[str, int | None] | None:
        try:
            answer = self.monitor.runner.exporter.versions()
        except ExporterError as exc:
            log.warning("status page: exporter not answering: %s", exc)
            return None
        return {"production": answer.get("production"), "canary": answer.get("canary")}

    def _snapshot(self, ratio_plot: Path, gps: int) -> None:
        """Keep the band-ratio plot of each period: the last one written in it."""
        period = gps - gps % self.period_seconds
        history = self.reports_dir / "history"
        history.mkdir(exist_ok=True)
        shutil.copyfile(ratio_plot, history / f"band_ratio-{period}.png")

    def _retention(self, cleaned: CleanedFrameStream, newest: int) -> None:
        remove_old_frames(
            cleaned.directory, cleaned.site, cleaned.ifo, cleaned.tag, newest, self.cleaned_retention_seconds
        )
        remove_old_snapshots(self.reports_dir / "history", newest, self.report_retention_seconds)
