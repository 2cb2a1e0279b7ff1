"""The monitor service: judge every model version against raw strain, promote, roll back or unpin, report.

See ``monitor_loop`` for the pipeline and ``policy`` for the decision rules.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from jsonargparse.typing import (
    ClosedUnitInterval,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)

from deepclean.cleaned_frames import configured_channel_names, default_strain_channel
from deepclean.config import ConfigError, from_keys
from deepclean.entry_point import configure_logging, hold_output, stop_on_signals
from deepclean.exporter_api import ExporterClient
from deepclean.figures import DEFAULT_MIN_EXCESS, DEFAULT_SIGMA
from deepclean.metrics_http import Port, serve_metrics

from .cleaned_frames import CANARY_SHIFT, CleanedChannels, StreamChannels
from .decision_log import DecisionLog
from .decision_runner import Backoff, DecisionRunner
from .frame_stream import CleanedFrameStream
from .metrics import MonitorMetrics
from .monitor_loop import Monitor, RawStream, run_loop
from .no_model_runs import NoModelRuns
from .policy import DecisionMachine, Policy
from .reports import Reports
from .status_server import serve_status_page
from .summaries import PeriodSummaries
from .version_windows import FigureSettings, VersionWindows

log = logging.getLogger("deepclean_monitor")


def monitor(
    cleaned_dir: Path,
    strain_dir: Path,
    reports_dir: Path,
    decision_log: Path,
    summary_file: Path,
    exporter_url: str,
    exporter_token_file: Path | None = None,
    model_name: str | None = None,
    site: str = "H",
    ifo: str = "H1",
    strain_tag: str = "llhoft",
    cleaned_tag: str = "DEEPCLEAN",
    strain_channel: str | None = None,
    production_channel: str | None = None,
    canary_channel: str | None = None,
    production_version_channel: str | None = None,
    canary_version_channel: str | None = None,
    dq_channel: str | None = None,
    band: tuple[PositiveFloat, PositiveFloat] = (55.0, 65.0),
    out_of_band_range: tuple[NonNegativeFloat, PositiveFloat] = (10.0, 2000.0),
    sigma: PositiveFloat = DEFAULT_SIGMA,
    min_excess: NonNegativeFloat = DEFAULT_MIN_EXCESS,
    segment_seconds: PositiveInt = 8,
    window_seconds: PositiveInt = 64,
    min_seconds: PositiveInt = 64,
    sustain_seconds: NonNegativeInt = 64,
    rollback_sustain_seconds: NonNegativeInt = 32,
    settle_seconds: PositiveInt = 60,
    margin: ClosedUnitInterval = 0.02,
    first_model_max_band_ratio: PositiveFloat = 0.9,
    max_fallback_fraction: ClosedUnitInterval = 0.5,
    rollback_memory_seconds: PositiveInt = 1800,
    exporter_timeout: PositiveFloat = 5.0,
    retry_initial_seconds: PositiveFloat = 1.0,
    retry_max_seconds: PositiveFloat = 60.0,
    start_gps: NonNegativeInt = 0,
    poll_interval: PositiveFloat = 0.5,
    frame_timeout: NonNegativeFloat = 10.0,
    report_interval: PositiveFloat = 30.0,
    period_seconds: PositiveInt = 3600,
    cleaned_retention_seconds: PositiveInt = 86400,
    report_retention_seconds: PositiveInt = 604800,
    metrics_port: Port = 0,
    status_port: Port = 0,
    metrics_textfile: bool = True,
    run_seconds: NonNegativeFloat = 0.0,
    exit_when_idle: bool = False,
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO",
) -> Monitor:
    """Validate the canary, promote, roll back or unpin through the exporter, and report the cleaning.

    Reads cleaned frames from ``cleaned_dir`` and the raw strain from
    ``strain_dir`` in GPS order from ``start_gps`` (0: the newest
    ``window_seconds`` on disk), keeps a sliding window of ``window_seconds``
    per model version and judges it against the raw strain with the figures of
    ``deepclean.figures`` (1 Hz bins of 1 s segments over ``out_of_band_range``
    and the ``band``; ``sigma`` and ``min_excess`` set when a bin has had noise
    added), decides with the rules in ``deepclean_monitor.policy`` (production
    unpinned when no version better than raw is left), logs every decision to
    ``decision_log`` before calling the exporter, and writes plots, a status
    page (also served on 127.0.0.1:``status_port``, 0: not served), metrics and per-period summaries.
    ``run_seconds`` (0: forever) and ``exit_when_idle`` stop the loop.

    Parameters
    ----------
    cleaned_dir, strain_dir
        Directories of the cleaned frames and of the raw strain frames.
    reports_dir
        Where the plots, the status page and the metrics textfile go.
    decision_log
        JSON-lines log of every decision, written before the exporter is called
        (the monitor resumes from it); its directory is held by one monitor.
    summary_file
        JSON-lines file of the per-period summaries.
    exporter_url, exporter_token_file
        The exporter's URL and the file of its token (``$DEEPCLEAN_EXPORTER_TOKEN`` wins).
    model_name
        The exporter's model whose pins this monitor changes (None: the exporter's default model).
    site, ifo, strain_tag, cleaned_tag
        Frame file name parts (``<site>-<ifo>_<tag>-<gps>-1.gwf``).
    strain_channel
        Raw strain channel (None: ``deepclean.cleaned_frames.default_strain_channel(ifo)``).
    production_channel, canary_channel, production_version_channel, canary_version_channel, dq_channel
        Channels of the cleaned frames; by default those of ``deepclean.cleaned_frames.default_channels(ifo)``.
    band
        The cleaning band (Hz).
    out_of_band_range
        Frequencies (Hz) whose 1 Hz bins are judged for noise added.
    sigma, min_excess
        A bin has had noise added when its ASD ratio exceeds raw by more than ``sigma``
        standard deviations of the chance cross term and by more than ``min_excess``.
    segment_seconds, window_seconds
        Length of the segments the figures average over, and of each version's sliding window (s).
    min_seconds
        Seconds a version's window must hold before its figures count.
    sustain_seconds
        Seconds without interruption a canary must be better than raw (and than production by
        ``margin``) to be promoted, or a pinned version not served to count as a failure.
    rollback_sustain_seconds
        Seconds production must be not better than raw before it is rolled back or unpinned.
    settle_seconds
        Seconds of data after a decision before the next one when the frames do not show it yet.
    margin
        A canary's band ratio must be at most ``(1 - margin)`` times production's.
    first_model_max_band_ratio
        Largest band ratio of a canary promoted when there is no production.
    max_fallback_fraction
        Largest fraction of a window the cleaner's safety gate may have written raw for a better-than-raw verdict.
    rollback_memory_seconds
        A rollback target must have been measured better than raw within this many seconds of data.
    exporter_timeout
        Seconds to wait for the exporter's answer.
    retry_initial_seconds, retry_max_seconds
        First and longest wait before retrying a decision the exporter did not apply.
    start_gps
        First GPS second to read (0: the newest ``window_seconds`` on disk).
    poll_interval
        Seconds between looks for new cleaned frames when none is waiting.
    frame_timeout
        Seconds of wall time to wait for a missing cleaned frame while a later one exists.
    report_interval
        Seconds between two reports (plots, status page, metrics textfile).
    period_seconds
        Length of a summary period (s).
    cleaned_retention_seconds, report_retention_seconds
        Cleaned frames and report snapshots more than this many GPS seconds older than the newest
        frame read are deleted.
    metrics_port
        Serve Prometheus metrics on 127.0.0.1:``metrics_port`` (0: not at all).
    status_port
        Serve the status page on 127.0.0.1:``status_port`` (0: not at all).
    metrics_textfile
        Also write the metrics as a node-exporter textfile (``monitor.prom`` in ``reports_dir``).
    run_seconds
        Stop after this many seconds of wall time (0: run until stopped).
    exit_when_idle
        Stop once no cleaned frame is left to read.
    log_level
        Logging level.
    """
    check_settings(band, out_of_band_range, segment_seconds, window_seconds, min_seconds)
    figures = from_keys(FigureSettings, locals(), band=tuple(band), check_range=tuple(out_of_band_range))
    policy = from_keys(Policy, locals())
    names = configured_channel_names(locals())
    configure_logging("monitor", log_level)
    writer_lock = hold_output(Path(decision_log).parent, "monitor")
    metrics = MonitorMetrics()
    stop_serving = serve_metrics(metrics, metrics_port)
    stop_status_page = serve_status_page(Path(reports_dir), status_port)
    cleaned = CleanedFrameStream(cleaned_dir, site, ifo, cleaned_tag, frame_timeout)
    if start_gps:
        cleaned.start_at(start_gps)
    else:
        frames = cleaned.available()
        if frames:
            cleaned.start_at(max(frames[0].gps, frames[-1].gps - window_seconds + 1))
    windows = VersionWindows(figures)
    log_file = DecisionLog(decision_log)
    exporter = ExporterClient(
        exporter_url, token_file=exporter_token_file, model_name=model_name, timeout=exporter_timeout
    )
    runner = DecisionRunner(
        decision_log=log_file,
        exporter=exporter,
        backoff=Backoff(retry_initial_seconds, retry_max_seconds),
        on_applied=lambda decision: None,  # replaced by the Monitor
    )
    channels = CleanedChannels(
        raw_strain=strain_channel or default_strain_channel(ifo),
        production=StreamChannels(names.production, names.production_version, 0),
        canary=StreamChannels(names.canary, names.canary_version, CANARY_SHIFT),
        dq=names.dq,
    )
    summaries = PeriodSummaries(summary_file, period_seconds)
    service = Monitor(
        cleaned,
        RawStream(strain_dir, site, ifo, strain_tag),
        channels,
        windows,
        DecisionMachine(policy),
        log_file,
        runner,
        metrics,
        summaries,
        NoModelRuns(lambda: {pin: exporter.pin(pin) for pin in ("production", "canary")}),
    )
    service.resume_from_log()
    reports = Reports(
        service,
        reports_dir,
        tuple(band),
        max(1, round(report_interval)),
        period_seconds,
        cleaned_retention_seconds,
        report_retention_seconds,
        metrics_textfile,
    )
    log.info(
        "monitor: cleaned frames %s, raw %s, exporter %s (model %s)",
        cleaned_dir,
        strain_dir,
        exporter_url,
        model_name or "default",
    )
    try:  # the loop writes the final reports when a signal interrupts it
        with stop_on_signals("monitor", interrupt=True):
            run_loop(service, reports.write, poll_interval, report_interval, run_seconds, exit_when_idle)
    finally:
        stop_serving()
        stop_status_page()
        writer_lock.release()
        if service.state.last_gps is not None:
            summaries.flush(service.state.last_gps + 1)
    return service


def check_settings(
    band: tuple[float, float],
    out_of_band_range: tuple[float, float],
    segment_seconds: int,
    window_seconds: int,
    min_seconds: int,
) -> None:
    """Raise ConfigError, naming the keys, for settings that cannot work together."""
    if not band[0] < band[1]:
        raise ConfigError(f"band {list(band)}: the low edge must be below the high edge")
    if not out_of_band_range[0] < out_of_band_range[1]:
        raise ConfigError(f"out_of_band_range {list(out_of_band_range)}: the low edge must be below the high edge")
    if segment_seconds > window_seconds:
        raise ConfigError(f"segment_seconds ({segment_seconds}) must not exceed window_seconds ({window_seconds})")
    if min_seconds > window_seconds:
        raise ConfigError(
            f"min_seconds ({min_seconds}) exceeds window_seconds ({window_seconds}): no version could ever be trusted"
        )
