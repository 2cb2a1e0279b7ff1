"""The trainer service: train DeepClean on analysis-ready data and hand it to the exporter.

``mode="one-shot"`` trains once on ``[start, end)`` (default: the last
``train_duration`` seconds present) and exits; ``mode="continuous"`` retrains
every ``retrain_cadence`` seconds of new analysis-ready data until SIGTERM or
SIGINT. A cycle whose data fails a check is skipped with a log line naming
the reason; the next cycle tries again.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Literal

import torch
from jsonargparse.typing import (
    ClosedUnitInterval,
    NonNegativeFloat,
    OpenUnitInterval,
    PositiveFloat,
    PositiveInt,
)

from deepclean.config import ConfigError
from deepclean.exporter_api import ExporterClient
from deepclean.single_writer import AlreadyRunningError, hold

from .checks import DataCheckError
from .cycle import CycleSettings, run_cycle
from .dataset import FrameSource
from .export_queue import ExportWorker, is_eligible, send_pending
from .fitting import FitSettings, TrainingInterrupted
from .logs import setup_logging
from .schedule import ContinuousSchedule, default_span, run_continuously
from .training_directory import complete_directories, remove_stale_temporaries

MAINS_MONITOR = "PEM-CS_MAINSMON_EBAY_1_DQ"
"""The mains voltage monitor's channel (after ``<ifo>:``): ``mains_channel = "auto"``."""

log = logging.getLogger(__name__)


def main(
    strain_dir: Path,
    witness_dir: Path,
    training_root: Path,
    log_dir: Path,
    site: str,
    ifo: str,
    strain_tag: str,
    witness_tag: str,
    strain_channel: str,
    state_channel: str,
    witness_channels: list[str],
    strain_sample_rate: PositiveInt,
    sample_rate: PositiveInt,
    band: tuple[float, float],
    exporter_url: str,
    exporter_token_file: Path | None = None,
    mode: Literal["continuous", "one-shot"] = "continuous",
    start: int | None = None,
    end: int | None = None,
    train_duration: PositiveInt = 4096,
    retrain_cadence: PositiveInt = 2048,
    min_ready_seconds: PositiveInt = 512,
    min_stretch_seconds: PositiveInt = 32,
    max_saturated_fraction: ClosedUnitInterval = 0.01,
    validation_fraction: OpenUnitInterval = 0.125,
    edge_seconds: NonNegativeFloat = 4.0,
    filter_order: PositiveInt = 8,
    filter_margin: NonNegativeFloat = 1.0,
    mains_channel: str | None = "auto",
    kernel_size: PositiveInt = 7,
    linear_kernel_size: PositiveInt | None = 31,
    linear_init: Literal["least_squares", "zero"] = "least_squares",
    linear_recency: list[PositiveFloat] | None = (512.0, 256.0, 128.0),
    window_seconds: PositiveFloat = 4.0,
    recency_seconds: PositiveFloat | None = None,
    fftlength: PositiveFloat = 2.0,
    loss_weighting: Literal["power", "per_bin"] = "power",
    batch_size: PositiveInt = 16,
    max_epochs: PositiveInt = 100,
    steps_per_epoch: PositiveInt = 10,
    learning_rate: PositiveFloat = 1e-3,
    weight_decay: NonNegativeFloat = 1e-4,
    lr_patience: PositiveInt = 3,
    lr_factor: OpenUnitInterval = 0.3,
    early_stop_patience: PositiveInt = 8,
    max_train_seconds: PositiveFloat | None = None,
    budget_clock: Literal["wall", "cpu"] = "wall",
    warm_start: bool = True,
    warm_start_lr_factor: OpenUnitInterval = 0.3,
    max_band_asd_ratio: PositiveFloat = 0.9,
    export: bool = True,
    export_attempts: PositiveInt = 5,
    poll_interval: PositiveFloat = 30.0,
    retry_after: PositiveInt = 256,
    seed: int = 0,
    num_threads: PositiveInt | None = None,
    device: Literal["auto", "cpu", "cuda"] = "auto",
) -> int:
    """Train DeepClean on analysis-ready data and ask the exporter to export each new version.

    Parameters
    ----------
    mode
        "one-shot": train once on [start, end) and exit; "continuous": retrain
        every retrain_cadence seconds of new analysis-ready data.
    start, end
        One-shot GPS span (default: the last train_duration seconds present).
    train_duration
        Seconds of data (ready or not) each continuous cycle looks back over.
    retrain_cadence
        Seconds of new analysis-ready data between continuous cycles.
    min_ready_seconds
        Fewest analysis-ready seconds (in stretches of at least
        min_stretch_seconds) a cycle trains on.
    max_saturated_fraction
        Largest fraction of a channel's samples stuck at its extreme value.
    validation_fraction
        Most recent fraction of the ready data held out for validation.
    edge_seconds
        Seconds dropped at both ends of each ready stretch (filter transients).
    filter_margin
        Hz added on each side of ``band`` for the zero-phase Butterworth filter
        of the target and the estimate (and the loss): a filter with its edges
        at the band's edges passes only half of the noise there, so the band
        sits in the flat part of a slightly wider filter.
    mains_channel
        Witness whose products with every other witness the network forms
        (``auto``: ``<ifo>:PEM-CS_MAINSMON_EBAY_1_DQ``, the mains monitor; None: the
        original network without products).
    linear_kernel_size
        Odd kernel length of the network's linear path from the witnesses and
        products straight to the output (None: no linear path).
    linear_init
        "least_squares": the linear path starts at the least-squares fit to the
        training data (deepclean_trainer/linear_init.py); "zero": from zero.
    linear_recency
        Spans (s) of the most recent training data on which the least-squares
        start is also fitted; one replaces the fit on all training data only
        when it leaves at most half as much of the validation target (a
        coupling step; deepclean_trainer/linear_init.py). None or []: all data.
    window_seconds, batch_size
        Length and number of the random training windows per step.
    recency_seconds
        Training windows are drawn with weight exp(-age / recency_seconds),
        age counted back from the newest training data (None: uniformly);
        recent data describes the drifting couplings best.
    fftlength
        Welch segment length of the PSD-ratio loss and the validation ASDs.
    loss_weighting
        "power": the loss is the fraction of the in-band noise power left;
        "per_bin": the PSD ratio averaged over the band's bins (the original
        DeepClean loss).
    max_epochs, steps_per_epoch
        An epoch is steps_per_epoch steps followed by a validation pass.
    lr_patience, lr_factor, early_stop_patience
        Learning-rate reduction on a validation plateau; early stopping.
    max_train_seconds
        Time budget of the optimisation (None: no budget).
    budget_clock
        "wall": max_train_seconds of wall time; "cpu": of process CPU time
        divided by the torch threads (what the run would take on an unshared
        machine; used by the benchmark on a busy one).
    warm_start, warm_start_lr_factor
        Start from the newest compatible version with the learning rate scaled.
    max_band_asd_ratio
        A version is exported only if its validation in-band ASD ratio is at
        most this (clearly below 1).
    export_attempts
        One-shot mode: tries while the exporter is down before leaving the
        version pending (continuous mode retries until it is up).
    poll_interval
        Seconds between looks at the frame directories in continuous mode.
    retry_after
        Seconds of new data to wait before retrying after a failed cycle.
    num_threads
        Torch CPU threads (None: torch's default).
    device
        "auto" uses a GPU when one is present.

    Returns
    -------
    int
        Exit status: 0 when a one-shot cycle trained (or continuous mode
        stopped cleanly), 1 when a one-shot cycle failed, 2 on a configuration error
        or when another trainer holds ``training_root``.
    """
    setup_logging(log_dir)
    try:
        settings = _cycle_settings(**locals())
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    try:  # two trainers would each clean up the other's unfinished directories
        writer_lock = hold(Path(training_root), "trainer")
    except AlreadyRunningError as exc:
        log.error("%s", exc)
        return 2
    try:
        if num_threads:
            torch.set_num_threads(num_threads)
        removed = remove_stale_temporaries(training_root)
        if removed:
            log.info("removed unfinished training directories left by a crash: %s", [p.name for p in removed])
        stop = threading.Event()
        _stop_on_signals(stop)
        client = ExporterClient(exporter_url, exporter_token_file)

        if mode == "one-shot":
            if (start is None) != (end is None):
                log.error("configuration error: give both start and end, or neither")
                return 2
            try:
                span = (start, end) if start is not None else default_span(settings.source, train_duration)
                result = run_cycle(settings, *span, stop)
            except DataCheckError as exc:
                log.error("training skipped: %s", exc)
                return 1
            except TrainingInterrupted as exc:
                log.warning("training interrupted (%s); nothing written", exc)
                return 1
            if not is_eligible(result.directory, max_band_asd_ratio):
                log.warning(
                    "not exported: validation in-band ASD ratio %.3f is above max_band_asd_ratio %.3f",
                    result.band_asd_ratio,
                    max_band_asd_ratio,
                )
            if export:
                send_pending(client, training_root, max_band_asd_ratio, stop, max_attempts=export_attempts)
            return 0

        worker = ExportWorker(client, training_root, max_band_asd_ratio, stop) if export else None
        if worker:
            worker.start()
        newest = complete_directories(training_root)
        schedule = ContinuousSchedule(
            settings.source,
            train_duration,
            retrain_cadence,
            min_ready_seconds,
            retry_after,
            last_end=newest[-1].metadata["span"]["end"] if newest else None,
        )

        def train_span(span_start: int, span_end: int) -> bool:
            try:
                result = run_cycle(settings, span_start, span_end, stop)
            except DataCheckError as exc:
                log.warning("cycle on GPS %d-%d skipped: %s", span_start, span_end, exc)
                return False
            except TrainingInterrupted as exc:
                log.warning("cycle on GPS %d-%d interrupted (%s); nothing written", span_start, span_end, exc)
                return False
            if not is_eligible(result.directory, max_band_asd_ratio):
                log.warning(
                    "%s not exported: validation in-band ASD ratio %.3f is above %.3f",
                    result.directory.path.name,
                    result.band_asd_ratio,
                    max_band_asd_ratio,
                )
            elif worker:
                worker.wake()
            return True

        run_continuously(schedule, train_span, stop, poll_interval)
        if worker:
            worker.join(timeout=10)
        log.info("stopped")
        return 0
    finally:
        writer_lock.release()


def _cycle_settings(**values) -> CycleSettings:
    """Validate the cross-key constraints and gather a cycle's settings."""
    band = tuple(float(f) for f in values["band"])
    if not 0 < band[0] < band[1] < values["sample_rate"] / 2:
        raise ConfigError(f"band {list(band)} must satisfy 0 < low < high < sample_rate/2")
    filter_band = (band[0] - values["filter_margin"], band[1] + values["filter_margin"])
    if not 0 < filter_band[0] < filter_band[1] < values["sample_rate"] / 2:
        raise ConfigError(
            f"filter_margin {values['filter_margin']} puts the filter band {list(filter_band)} outside (0, "
            f"sample_rate/2)"
        )
    channels = list(values["witness_channels"])
    if not channels or len(set(channels)) != len(channels):
        raise ConfigError(f"witness_channels must be non-empty and unique, got {channels}")
    mains = values["mains_channel"]
    if mains == "auto":
        mains = f"{values['ifo']}:{MAINS_MONITOR}"
    if mains is not None and mains not in channels:
        raise ConfigError(f"mains_channel {mains!r} is not one of witness_channels")
    if values["window_seconds"] < 2 * values["fftlength"]:
        raise ConfigError(
            f"window_seconds ({values['window_seconds']}) must be at least twice fftlength ({values['fftlength']})"
        )
    architecture = {"num_witnesses": len(channels), "kernel_size": values["kernel_size"]}
    if mains is not None:
        architecture["mains_index"] = channels.index(mains)
    if values["linear_kernel_size"] is not None:
        if values["linear_kernel_size"] % 2 != 1:
            raise ConfigError(f"linear_kernel_size must be odd, got {values['linear_kernel_size']}")
        architecture["linear_kernel_size"] = values["linear_kernel_size"]
    device = values["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return CycleSettings(
        source=FrameSource(
            strain_dir=values["strain_dir"],
            witness_dir=values["witness_dir"],
            site=values["site"],
            ifo=values["ifo"],
            strain_tag=values["strain_tag"],
            witness_tag=values["witness_tag"],
            strain_channel=values["strain_channel"],
            state_channel=values["state_channel"],
            witness_channels=tuple(channels),
            strain_sample_rate=values["strain_sample_rate"],
        ),
        training_root=values["training_root"],
        sample_rate=values["sample_rate"],
        band=band,
        filter_band=filter_band,
        filter_order=values["filter_order"],
        edge_seconds=values["edge_seconds"],
        min_ready_seconds=values["min_ready_seconds"],
        min_stretch_seconds=values["min_stretch_seconds"],
        max_saturated_fraction=values["max_saturated_fraction"],
        validation_fraction=values["validation_fraction"],
        window_seconds=values["window_seconds"],
        fftlength=values["fftlength"],
        architecture=architecture,
        fit=FitSettings(
            batch_size=values["batch_size"],
            max_epochs=values["max_epochs"],
            steps_per_epoch=values["steps_per_epoch"],
            learning_rate=values["learning_rate"],
            weight_decay=values["weight_decay"],
            lr_patience=values["lr_patience"],
            lr_factor=values["lr_factor"],
            early_stop_patience=values["early_stop_patience"],
            max_train_seconds=values["max_train_seconds"],
            budget_clock=values["budget_clock"],
        ),
        warm_start=values["warm_start"],
        warm_start_lr_factor=values["warm_start_lr_factor"],
        seed=values["seed"],
        device=torch.device(device),
        recency_seconds=values["recency_seconds"],
        loss_weighting=values["loss_weighting"],
        linear_init=values["linear_init"],
        linear_recency=tuple(values["linear_recency"] or ()),
    )


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT stop training before the next step and end continuous mode (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, _frame) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
