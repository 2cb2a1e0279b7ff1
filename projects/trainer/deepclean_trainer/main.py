"""The trainer service: train DeepClean on analysis-ready data and hand it to the exporter.

``mode="one-shot"`` trains once on ``[start, end)`` (default: the last
``train_duration`` seconds present) and exits; ``mode="continuous"`` retrains
every ``retrain_cadence`` seconds of new analysis-ready data until SIGTERM or
SIGINT. A cycle whose data fails a check is skipped with a log line naming
the reason; the next cycle tries again.
"""

from __future__ import annotations

import logging
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

from deepclean.entry_point import DONE, FAILURE, configure_logging, hold_output, stop_on_signals
from deepclean.exporter_api import ExporterClient
from deepclean.metrics_http import Port, serve_metrics

from .checks import DataCheckError
from .cycle import CycleResult, CycleSettings, run_cycle
from .export_queue import ExportWorker, is_eligible, send_pending
from .fitting import TrainingInterrupted
from .metrics import CountingExporterClient, TrainerMetrics
from .schedule import ContinuousSchedule, default_span, run_continuously
from .settings import cycle_settings
from .training_directory import complete_directories, remove_stale_temporaries

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
    model_name: str | None = None,
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
    band_widening: NonNegativeFloat = 3.0,
    mains_channel: str | None = "auto",
    kernel_size: PositiveInt = 7,
    linear_kernel_size: PositiveInt | None = 51,
    linear_dilation: PositiveInt = 5,
    second_order: bool = True,
    linear_init: Literal["spectral", "least_squares", "zero"] = "spectral",
    train_linear_path: bool = False,
    linear_recency: list[PositiveFloat] | None = (512.0, 256.0, 128.0),
    window_seconds: PositiveFloat = 4.0,
    recency_seconds: PositiveFloat | None = None,
    fftlength: PositiveFloat = 2.0,
    loss_weighting: Literal["power", "per_bin"] = "power",
    latency_mode: Literal["zero-phase", "causal"] = "zero-phase",
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
    metrics_port: Port = 0,
) -> int:
    """Train DeepClean on analysis-ready data and ask the exporter to export each new version.

    Parameters
    ----------
    strain_dir, witness_dir
        Directories of the strain and witness frames (``<site>-<ifo>_<tag>-<gps>-1.gwf``).
    training_root
        Where the training directories (one per version) are written.
    log_dir
        The log also goes to ``<log_dir>/trainer-<ifo>.log`` (each detector's trainer its own file).
    site, ifo, strain_tag, witness_tag
        Frame file name parts.
    strain_channel, state_channel
        Strain channel and state vector (its analysis-ready bits pick the training data).
    witness_channels
        Witness channels in the network's input order.
    strain_sample_rate, sample_rate
        Native strain rate and the working rate of the network (Hz).
    band
        Frequency band (Hz) the network learns to clean.
    exporter_url, exporter_token_file
        The exporter's URL and the file of its token (``$DEEPCLEAN_EXPORTER_TOKEN`` wins).
    model_name
        The exporter's model this detector's versions go to (None: the exporter's default model).
    mode
        "one-shot": train once on [start, end) and exit; "continuous": retrain
        every retrain_cadence seconds of new analysis-ready data.
    start, end
        One-shot GPS span (default: the last train_duration seconds present).
    train_duration
        Seconds of data (ready or not) each continuous cycle looks back over.
    retrain_cadence
        Seconds of new analysis-ready data between continuous cycles.
    min_ready_seconds, min_stretch_seconds
        Fewest analysis-ready seconds a cycle trains on, counted in stretches
        of at least min_stretch_seconds.
    max_saturated_fraction
        Largest fraction of a channel's samples stuck at its extreme value.
    validation_fraction
        Most recent fraction of the ready data held out for validation.
    edge_seconds
        Seconds dropped at both ends of each ready stretch (filter transients).
    filter_order
        Order of the Butterworth band-pass of the target and the estimate.
    filter_margin
        Hz added on each side of ``band`` for the zero-phase Butterworth filter
        of the target and the estimate (and the loss): a filter with its edges
        at the band's edges passes only half of the noise there, so the band
        sits in the flat part of a slightly wider filter.
    band_widening
        Hz by which a version may clean beyond each side of ``band`` (zero-phase
        mode, spectral start): the trainer fits its least-squares start for both
        bands and keeps the wider one when, on the held-out data, it adds noise
        in no bin beside ``band`` and wins BNS range
        (:mod:`deepclean_trainer.band_choice`; 0: always ``band``). ``band``
        stays the band every service judges.
    mains_channel
        Witness whose products with every other witness the network forms
        (``auto``: ``<ifo>:PEM-CS_MAINSMON_EBAY_1_DQ``, the mains monitor; None: the
        original network without products).
    kernel_size
        Kernel length of the network's convolutions.
    linear_kernel_size, linear_dilation
        Odd number of taps of the network's linear path from the witnesses and
        products straight to the output, and the samples between them: 51 taps
        5 samples apart reach +-125 samples (+-122 ms at 1024 Hz), enough for a
        witness that records its motion ~0.1 s late (None: no linear path). The
        causal mode uses its own path reaching the newest witnesses the network sees,
        taps 3 samples apart (deepclean_trainer/cycle.py: CAUSAL_LINEAR_DILATION).
    second_order
        The linear path may also read the mains monitor times the product of
        every pair of other witnesses (a coupling through the square or the
        product of angular motions; :mod:`deepclean.architecture`), 5 taps each
        fitted with the spectral start. Each version keeps them only where its
        held-out data say so (:func:`deepclean_trainer.band_choice.choose_order`),
        else their taps are 0. Zero-phase mode with ``linear_init`` "spectral" only.
    linear_init
        How the linear path starts: "spectral", the in-band least-squares fit
        solved from cross-spectra (deepclean_trainer/linear_spectral.py; cheap
        for long kernels); "least_squares", the same fit in the time domain
        (deepclean_trainer/linear_init.py; what the causal mode uses); "zero".
    train_linear_path
        Whether gradient descent also moves the linear path after its start.
        False: it stays at its fit and the autoencoder learns what it leaves
        (deepclean_trainer/frozen_linear.py), which also spares every step the
        cost of a long kernel; the causal mode always trains it.
    linear_recency
        Spans (s) of the most recent training data on which the least-squares
        start is also fitted; one replaces the fit on all training data only
        when it leaves at most half as much of the validation target (a
        coupling step; deepclean_trainer/linear_init.py). None or []: all data.
        The data kept after a step are recorded (metadata
        ``training.linear_kept_since``), and the next version's start (spectral
        or time-domain) fits all the data since then in place of all the data.
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
    latency_mode
        The cleaner's mode the version is for: "zero-phase", or "causal" (trained ahead of the witnesses
        against a causally band-passed prediction; deepclean_trainer/cycle.py).
    max_epochs, steps_per_epoch
        An epoch is steps_per_epoch steps followed by a validation pass.
    learning_rate, weight_decay
        Of the AdamW optimiser.
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
    export
        Send each eligible version to the exporter (false: only write it).
    export_attempts
        One-shot mode: tries while the exporter is down before leaving the
        version pending (continuous mode retries until it is up).
    poll_interval
        Seconds between looks at the frame directories in continuous mode.
    retry_after
        Seconds of new data to wait before retrying after a failed cycle.
    seed
        Seed of the weights' initialisation and of the training windows drawn.
    num_threads
        Torch CPU threads (None: torch's default).
    device
        "auto" uses a GPU when one is present.
    metrics_port
        Serve Prometheus metrics (deepclean_trainer.metrics) on 127.0.0.1:``metrics_port`` (0: not at all).

    Returns
    -------
    int
        Exit status (:mod:`deepclean.entry_point`): 0 when a one-shot cycle
        trained or the trainer was stopped by a signal, 1 when a one-shot
        cycle's data failed its checks.

    Raises
    ------
    deepclean.config.ConfigError
        Settings that do not fit together, before anything is done.
    deepclean.entry_point.ServiceExit
        Another trainer holds ``training_root`` (two would each clean up the other's unfinished directories).
    """
    settings = cycle_settings(**locals())
    configure_logging("trainer", log_dir=log_dir, detector=ifo)
    writer_lock = hold_output(training_root, "trainer")
    metrics = TrainerMetrics()
    stop_serving = serve_metrics(metrics, metrics_port)
    try:
        if num_threads:
            torch.set_num_threads(num_threads)
        removed = remove_stale_temporaries(training_root)
        if removed:
            log.info("removed unfinished training directories left by a crash: %s", [p.name for p in removed])
        client = CountingExporterClient(exporter_url, exporter_token_file, metrics, model_name=model_name)
        with stop_on_signals("trainer") as stop:
            if mode == "one-shot":
                try:
                    span = (start, end) if start is not None else default_span(settings.source, train_duration)
                    result = metrics.count_cycle(lambda: run_cycle(settings, *span, stop))
                except DataCheckError as exc:
                    log.error("training skipped: %s", exc)
                    return FAILURE
                except TrainingInterrupted as exc:
                    log.warning("training interrupted (%s); nothing written", exc)
                    return DONE
                _check_eligible(result, max_band_asd_ratio)
                if export:
                    send_pending(client, training_root, max_band_asd_ratio, stop, max_attempts=export_attempts)
                return DONE
            last_end = _last_end(training_root)
            schedule = ContinuousSchedule(
                settings.source, train_duration, retrain_cadence, min_ready_seconds, retry_after, last_end
            )
            _train_continuously(
                settings, schedule, metrics, client if export else None, max_band_asd_ratio, stop, poll_interval
            )
            return DONE
    finally:
        stop_serving()
        writer_lock.release()


def _train_continuously(
    settings: CycleSettings,
    schedule: ContinuousSchedule,
    metrics: TrainerMetrics,
    client: ExporterClient | None,
    max_band_asd_ratio: float,
    stop: threading.Event,
    poll_interval: float,
) -> None:
    """Train whenever ``schedule`` says so until ``stop``, exporting each eligible version (without ``client``: not)."""
    worker = ExportWorker(client, settings.training_root, max_band_asd_ratio, stop) if client else None
    if worker:
        worker.start()

    def train_span(span_start: int, span_end: int) -> bool:
        try:
            result = metrics.count_cycle(lambda: run_cycle(settings, span_start, span_end, stop))
        except DataCheckError as exc:
            log.warning("cycle on GPS %d-%d skipped: %s", span_start, span_end, exc)
            return False
        except TrainingInterrupted as exc:
            log.warning("cycle on GPS %d-%d interrupted (%s); nothing written", span_start, span_end, exc)
            return False
        if _check_eligible(result, max_band_asd_ratio) and worker:
            worker.wake()
        return True

    run_continuously(schedule, train_span, stop, poll_interval)
    if worker:
        worker.join(timeout=10)
    log.info("stopped")


def _last_end(training_root: Path) -> int | None:
    """End of the newest finished training span (None: none yet)."""
    newest = complete_directories(training_root)
    return newest[-1].schema.span.end if newest else None


def _check_eligible(result: CycleResult, max_band_asd_ratio: float) -> bool:
    """Whether the new version may be exported; a log line says why not."""
    if is_eligible(result.directory, max_band_asd_ratio):
        return True
    validation = result.directory.schema.validation
    noise_added = list(validation.noise_added_bins or []) if validation else []
    lost = (
        f", BNS range {validation.range_cleaned_mpc:.3f} Mpc cleaned below {validation.range_raw_mpc:.3f} raw"
        if validation and validation.range_lost
        else ""
    )
    log.warning(
        "%s not exported: validation in-band ASD ratio %.3f (max_band_asd_ratio %.3f)%s%s",
        result.directory.path.name,
        result.band_asd_ratio,
        max_band_asd_ratio,
        f", noise added outside the band at {noise_added} Hz" if noise_added else "",
        lost,
    )
    return False
