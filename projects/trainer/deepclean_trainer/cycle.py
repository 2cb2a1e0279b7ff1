"""One training cycle: data span in, complete training directory out.

::

    frames ─ load_span ─ checks ─ to_segments ─ split_validation ─ Scaler.fit
        ─ WindowSampler ─ fit (PSD-ratio loss) ─ validation figures ─ training directory

A failed data check raises :class:`~deepclean_trainer.checks.DataCheckError`
before anything is trained or written.

``latency_mode = "causal"`` trains a version for the cleaner's low-latency
mode: the target is aligned ``lead`` samples ahead of the witnesses
(:func:`deepclean.signal.causal_lead`), the loss, the least-squares start and
the validation judge the prediction after the causal band-pass, the loss also
judges every bin beside the band (the band-pass's skirts are wide), and the
metadata records the mode and the lead.
"""

from __future__ import annotations

import datetime
import logging
import math
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

import deepclean
from deepclean.architecture import DeepClean
from deepclean.model_repository.training_metadata import (
    ArchitectureSpec,
    FilterKind,
    FilterSpec,
    LatencyMode,
    LatencySpec,
    ScalerParameters,
    TrainingMetadata,
    TrainingSpan,
    ValidationFigures,
)
from deepclean.signal import bandpass_sos, causal_impulse_response, causal_lead, witness_resampling_phase

from .band_choice import Prepared, choose_band, choose_order
from .batches import WindowSampler, validation_windows
from .checks import DataCheckError, check_enough_ready, check_stretch_channels
from .dataset import FrameSource, load_span
from .error_weighting import error_weighting
from .fitting import FitResult, FitSettings, evaluate, fit
from .frozen_linear import autoencoder_only
from .linear_init import fit_linear_path
from .linear_spectral import fit_linear_path_spectral
from .loss import CausalFilter, PsdRatioLoss
from .preprocessing import Scaler, resample_stretches, split_validation, to_segments
from .training_directory import (
    LOG,
    METADATA,
    TrainingDirectory,
    complete_directories,
    directory_name,
    temporary_path,
    write_training_directory,
)
from .validation import judge_validation, noise_added_outside, validation_powers

log = logging.getLogger(__name__)

CAUSAL_FILTER_ORDER = 2
"""Butterworth order of the causal mode's band-pass of the estimate (the target keeps ``filter_order``).

The filter's group delay in the band is time the network must predict across: on the synthetic
detector the least-squares start (lead 170 samples at 1024 Hz) leaves 1.8 % of the target power
without a filter, 3.4 % with order 2, 7.6 % with order 4 and 21 % with order 8.
"""

CAUSAL_FILTER_MARGIN = 5.0
"""Causal mode: Hz on each side of the band to the causal band-pass's corners (``filter_margin`` is the
zero-phase mode's). A wider band-pass delays the band less (group delay at 60 Hz: 37 ms with corners 1 Hz
outside a 55-65 Hz band, 22 ms 5 Hz outside, 15 ms 10 Hz outside), so the network predicts less far ahead;
what it passes beside the band the guard keeps in check. Baseline scenario, guard on (quality benchmark,
one-shot): 91.7 % removed with a 1 Hz margin, 94.1 % with 5 Hz, 94.9 % with 10 Hz, but then the worst bin
outside the band is 1.023 (at 181 Hz, beyond the guard).
"""

CAUSAL_LINEAR_DILATION = 3
"""Causal mode: samples between the linear path's taps (settings.py makes the path reach as far as the
network's context, the target ``lead`` samples ahead). Onnxruntime runs the shipped network in 3.1 ms
per stream-second with a dense path (223 taps), 1.9 ms with taps 2 samples apart and 1.5 ms 3 apart
(75 taps). The noise is a band near 60 Hz, far below the taps' Nyquist frequency (171 Hz); the path's
response repeats every 341 Hz, and the causal band-pass of the estimate is 50 dB down at 281 Hz, the
band's first image.
"""

CAUSAL_LINEAR_FIT = {"newest_taps": 41, "tap_step": 2}
"""Causal mode: the least-squares start solves every 2nd of the linear path's newest 41 taps (every 6th
sample of the newest 121).

Fitting the newest 31 samples every 3rd leaves 9.3 % of the target power, the newest 121 every 6th
4.7 %, all 223 every 6th 3.9 % at twice the cost (1024 Hz; the band is far below the taps' Nyquist
frequency).
"""

CAUSAL_GUARD_RANGE = (10.0, 200.0)
"""Causal mode: Hz over which the loss judges the cleaned strain bin by bin outside the band
(:class:`PsdRatioLoss`'s guard; the target holds the strain over that range, widened to enclose the band).
The causal band-pass's skirts are wide (order 2, corners at 50 and 70 Hz: -9 dB at 45 Hz, -25 dB at 30 Hz,
-27 dB at 120 Hz); without a guard the network's output beside the band was judged by nobody: on the
baseline scenario the validation data had noise added at 54 and 66-72 Hz, and the test span 1.09 of the raw
ASD at 54 Hz and a BNS range below raw. A guard over 35-85 Hz left the mains harmonics unjudged: on the
harmonics scenario the network's 120 Hz output added noise at 118-123 Hz (worst bin 1.31).
"""

CAUSAL_GUARD_WEIGHT = 45.0
"""Causal mode: weight of the guard's mean excess PSD ratio against the band's fraction of noise left. Each
bin of the guard weighs as much as with weight 10 over 35-85 Hz (baseline scenario, 1 Hz margin, a guard
that also credited removal beside the band: weight 1 left the worst bin outside the band at 1.039 and the
range below raw, weight 10 at 1.0026 and the range above raw)."""

CAUSAL_START_GUARD_WEIGHT = 15.0
"""Causal mode: the guard's weight in the least-squares start's error weighting
(:func:`deepclean_trainer.error_weighting.error_weighting`). There the estimate's power beside the band is a
square, costlier than the loss's hinge; with the loss's own weight (45) the start gave up band removal
(harmonics 91.2 %, baseline 92.7 % removed against 93.0 % and 93.1 % unweighted), with 15 it keeps it
(92.0 %, 93.1 %) and the worst bin outside the band stays below 1.006 (unweighted 1.0445 at 123 Hz)."""

SPECTRAL_FIT_MARGIN = 4.0
"""Hz on each side of the filter band over which the spectral start minimises the error: the filter's skirts,
where the cleaner still subtracts part of the estimate."""

LINEAR_KEPT_SINCE = "linear_kept_since"
"""Key of the metadata's ``training`` object: GPS where the data the linear start kept after a coupling step
begin (None: all the data). The next version's start fits since then (:func:`_step_seen_before`)."""


def causal_estimate_band(band: tuple[float, float]) -> tuple[float, float]:
    """The causal band-pass's corners: :data:`CAUSAL_FILTER_MARGIN` outside ``band``."""
    return (band[0] - CAUSAL_FILTER_MARGIN, band[1] + CAUSAL_FILTER_MARGIN)


def causal_guard(band: tuple[float, float]) -> tuple[float, float]:
    """The causal mode's guard: :data:`CAUSAL_GUARD_RANGE`, widened to reach 1 Hz beyond the causal
    band-pass's corners."""
    reach = CAUSAL_FILTER_MARGIN + 1.0
    return (min(CAUSAL_GUARD_RANGE[0], band[0] - reach), max(CAUSAL_GUARD_RANGE[1], band[1] + reach))


ARCHITECTURE = "DeepClean"
"""Name of the network class in the metadata's ``architecture`` (:class:`deepclean.architecture.DeepClean`)."""


@dataclass(frozen=True)
class CycleSettings:
    """Everything a training cycle needs besides the span (configuration keys of the same names)."""

    source: FrameSource
    training_root: Path
    sample_rate: int
    band: tuple[float, float]
    filter_band: tuple[float, float]
    filter_order: int
    edge_seconds: float
    min_ready_seconds: int
    min_stretch_seconds: int
    max_saturated_fraction: float
    validation_fraction: float
    window_seconds: float
    fftlength: float
    architecture: dict
    fit: FitSettings
    warm_start: bool
    warm_start_lr_factor: float
    seed: int
    device: torch.device
    recency_seconds: float | None = None
    loss_weighting: str = "power"
    linear_init: str = "spectral"
    train_linear_path: bool = False
    linear_recency: tuple[float, ...] = ()
    latency_mode: str = LatencyMode.ZERO_PHASE.value
    band_widening: float = 0.0
    extra_metadata: dict = field(default_factory=dict)  # more top-level keys of metadata.json


@dataclass
class CycleResult:
    directory: TrainingDirectory
    validation_loss: float
    band_asd_ratio: float
    training_seconds: float


def run_cycle(settings: CycleSettings, start: int, end: int, stop: threading.Event | None = None) -> CycleResult:
    """Train on the analysis-ready data of GPS ``[start, end)`` and write a training directory.

    The cycle's log lines also go to the directory's ``train.log``. On any
    failure the temporary directory is removed: nothing that looks complete
    is left behind.
    """
    settings.training_root.mkdir(parents=True, exist_ok=True)
    name = directory_name(start, end, settings.training_root)
    tmp = temporary_path(settings.training_root, name)
    tmp.mkdir()
    handler = logging.FileHandler(tmp / LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    package_log = logging.getLogger(__package__)
    level = package_log.level
    if package_log.getEffectiveLevel() > logging.INFO:
        package_log.setLevel(logging.INFO)  # the directory's log always holds the progress lines
    package_log.addHandler(handler)
    try:
        return _train(settings, start, end, name, stop)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        package_log.removeHandler(handler)
        package_log.setLevel(level)
        handler.close()


def _train(settings: CycleSettings, start: int, end: int, name: str, stop: threading.Event | None) -> CycleResult:
    started = time.monotonic()
    source = settings.source
    log.info("training cycle on GPS %d-%d (%d s)", start, end, end - start)
    span = load_span(source, start, end, settings.min_stretch_seconds)
    for reason, seconds in sorted(span.skipped.items()):
        log.info("left out %d s: %s", seconds, reason)
    check_enough_ready(span.ready_seconds, settings.min_ready_seconds, start, end)
    for stretch in span.stretches:
        check_stretch_channels(
            {source.strain_channel: stretch.strain, **stretch.witnesses},
            stretch.start,
            stretch.duration,
            settings.max_saturated_fraction,
        )
    log.info(
        "%d s analysis ready in %d stretch(es); witness rates %s",
        span.ready_seconds,
        len(span.stretches),
        {c: int(r) for c, r in span.witness_rates.items()},
    )

    torch.manual_seed(settings.seed)
    network = DeepClean(**settings.architecture)
    window = round(settings.window_seconds * settings.sample_rate) // network.stride * network.stride
    causal = settings.latency_mode == LatencyMode.CAUSAL.value
    lead, causal_sos, causal_filter, warmup = 0, None, None, 0
    estimate_band = target_band = settings.filter_band
    if causal:
        estimate_band, target_band = causal_estimate_band(settings.band), causal_guard(settings.band)
        context = math.ceil(network.receptive_field / network.stride) * network.stride
        lead = causal_lead(
            span.witness_rates.values(), settings.sample_rate, int(span.strain_rate), context, network.stride
        )
        causal_sos = bandpass_sos(estimate_band, settings.sample_rate, CAUSAL_FILTER_ORDER)
        causal_filter = CausalFilter(causal_impulse_response(causal_sos))
        warmup = math.ceil(causal_filter.warmup / network.stride) * network.stride
        log.info(
            "causal mode: the network is trained %d samples (%.3f s) ahead, each window with %d samples of warm-up; "
            "its recipe: a linear path of %s taps %s samples apart, fitted in the time domain and trained, "
            "an order-%d causal band-pass of the estimate over %g-%g Hz, a loss that also judges every bin over "
            "%g-%g Hz outside the band (filter_order, filter_margin, linear_kernel_size, linear_dilation, "
            "linear_init, train_linear_path, band_widening and second_order apply to the zero-phase mode)",
            lead,
            lead / settings.sample_rate,
            warmup,
            settings.architecture.get("linear_kernel_size"),
            settings.architecture.get("linear_dilation"),
            CAUSAL_FILTER_ORDER,
            *estimate_band,
            *target_band,
        )
    resampled = resample_stretches(
        span, list(source.witness_channels), settings.sample_rate, witness_resampling_phase(causal)
    )

    def make_segments(band: tuple[float, float]) -> list:
        # every band's segments share the resampled witnesses (views): a second band costs no copy of them
        return to_segments(
            span,
            list(source.witness_channels),
            settings.sample_rate,
            band,
            settings.filter_order,
            settings.edge_seconds,
            lead,
            narrow_band=estimate_band if causal else None,
            witness_phase=witness_resampling_phase(causal),
            resampled=resampled,
        )

    segments = make_segments(target_band)
    training, validation = split_validation(segments, settings.validation_fraction, window)
    scaler = Scaler.fit(training)
    _check_scaler(scaler, list(source.witness_channels), source.strain_channel, start, end)
    held_out = validation_windows(validation, scaler, window, warmup)

    fit_settings = settings.fit
    previous = _warm_start(network, settings) if settings.warm_start else None
    if previous is not None:
        fit_settings = FitSettings(
            **{**asdict(fit_settings), "learning_rate": fit_settings.learning_rate * settings.warm_start_lr_factor}
        )
    fitted = network.linear is not None and settings.linear_init != "zero"
    kept_since, first_order_weight, judging_weights = None, None, None
    if fitted:
        since = _step_seen_before(settings, start)
        if previous is None:
            with torch.no_grad():  # a cold autoencoder starts silent; the linear fit is the whole prediction
                network.output_conv.weight.zero_()
                network.output_conv.bias.zero_()
        if causal or settings.linear_init == "least_squares":
            causal_fit = {}
            if causal:
                weighting = error_weighting(training, settings.band, target_band, CAUSAL_START_GUARD_WEIGHT)
                causal_fit = {"prediction_filter": causal_sos, "weighting": weighting, **CAUSAL_LINEAR_FIT}
            kept_since = fit_linear_path(
                network,
                training,
                scaler,
                validation,
                settings.linear_recency,
                since=since,
                **causal_fit,
            ).kept_since
        else:
            fit_band = (settings.filter_band[0] - SPECTRAL_FIT_MARGIN, settings.filter_band[1] + SPECTRAL_FIT_MARGIN)
            spectral_start = fit_linear_path_spectral(
                network,
                training,
                scaler,
                fit_band,
                settings.band,
                validation,
                settings.linear_recency,
                since=since,
            )
            kept_since, first_order_weight = spectral_start.kept_since, spectral_start.first_order_weight
            judging_weights = spectral_start.judging_weights
    choice, orders = None, []
    configured = Prepared(settings.band, settings.filter_band, training, validation, scaler, network, kept_since)
    if first_order_weight is not None:
        order, configured = choose_order(
            configured, first_order_weight, settings.band, settings.filter_order, judging_weights
        )
        network, orders = configured.network, [order]
    if fitted and not causal and settings.linear_init == "spectral" and settings.band_widening > 0:
        choice, wider, wider_order = choose_band(
            configured,
            settings.band_widening,
            settings.band[0] - settings.filter_band[0],
            SPECTRAL_FIT_MARGIN,
            make_segments,
            settings.validation_fraction,
            window,
            settings.linear_recency,
            since,
            settings.filter_order,
        )
        orders += [wider_order] if wider_order is not None else []
        if choice.wider_chosen:
            network, training, validation, scaler = wider.network, wider.training, wider.validation, wider.scaler
            kept_since, estimate_band = wider.kept_since, wider.filter_band
            _check_scaler(scaler, list(source.witness_channels), source.strain_channel, start, end)
            held_out = validation_windows(validation, scaler, window, warmup)
    if causal:
        loss = PsdRatioLoss(
            settings.sample_rate,
            settings.band,
            settings.fftlength,
            settings.loss_weighting,
            causal_filter,
            guard=target_band,
            guard_weight=CAUSAL_GUARD_WEIGHT,
            guard_band_bins=True,
        )
    else:
        loss = PsdRatioLoss(settings.sample_rate, estimate_band, settings.fftlength, settings.loss_weighting)

    def fit_on(windows_from: list, held_out_windows: tuple) -> FitResult:
        sampler = WindowSampler(
            windows_from, scaler, window, seed=settings.seed, recency_seconds=settings.recency_seconds, warmup=warmup
        )
        log.info(
            "training on %.0f s, validating on %.0f s (the most recent)",
            sampler.num_samples / settings.sample_rate,
            held_out_windows[1].numel() / settings.sample_rate,
        )
        return fit(network, loss, sampler, held_out_windows, fit_settings, settings.device, stop)

    if fitted and not causal and not settings.train_linear_path:
        with autoencoder_only(network, scaler, training, validation) as (residual, held_out_residual):
            result = fit_on(residual, validation_windows(held_out_residual, scaler, window, warmup))
        if result.best_state is not None:
            linear_state = {
                f"{name}.{key}": value
                for name in ("linear", "second_order_linear")
                if getattr(network, name) is not None
                for key, value in getattr(network, name).state_dict().items()
            }
            result.best_state = {**result.best_state, **linear_state}
            # the loss against the residual is relative to what the linear path left: state the whole network's
            network.load_state_dict(result.best_state)
            witnesses, targets = (tensor.to(settings.device) for tensor in held_out)
            result.best_validation_loss = evaluate(network, loss, witnesses, targets, fit_settings.batch_size)
    else:
        result = fit_on(training, held_out)
    if result.best_state is None:
        raise DataCheckError(f"training on GPS {start}-{end} produced no finite validation loss")
    network.load_state_dict(result.best_state)
    network.cpu()
    filter_order = CAUSAL_FILTER_ORDER if causal else settings.filter_order

    def judged(band_passed_to: tuple[float, float]) -> tuple:
        """The held-out figures of the trained network, its estimate band-passed to ``band_passed_to``."""
        powers = validation_powers(network, validation, scaler, band_passed_to, filter_order, causal)
        judgement = judge_validation(powers, settings.band)
        return powers, judgement, judgement.band_ratio, noise_added_outside(judgement, settings.band)

    powers, judgement, ratio, noise_added = judged(estimate_band)
    narrowed_after_training = choice is not None and choice.wider_chosen and _beside(noise_added, estimate_band)
    if narrowed_after_training:
        log.info(
            "validation: noise added at %s Hz beside the band: the version is band-passed to %g-%g Hz instead",
            list(noise_added),
            *settings.filter_band,
        )
        estimate_band = settings.filter_band
        powers, judgement, ratio, noise_added = judged(estimate_band)
    range_raw, range_cleaned = powers.bns_range_mpc("raw"), powers.bns_range_mpc("cleaned")
    log.info(
        "validation: loss %.4f, in-band ASD ratio %.4f, worst bin outside the band %.4f at %g Hz, "
        "BNS range %.3f Mpc raw, %.3f cleaned%s",
        result.best_validation_loss,
        ratio,
        judgement.worst_bin,
        judgement.worst_bin_frequency,
        range_raw,
        range_cleaned,
        f"; noise added at {list(noise_added)} Hz" if noise_added else "",
    )

    metadata = TrainingMetadata(
        ifo=source.ifo,
        strain_channel=source.strain_channel,
        witness_channels=tuple(source.witness_channels),
        witness_sample_rates={c: int(span.witness_rates[c]) for c in source.witness_channels},
        sample_rate=settings.sample_rate,
        strain_sample_rate=int(span.strain_rate),
        band=settings.band,
        filter=FilterSpec(
            FilterKind.BUTTER_SOS_CAUSAL if causal else FilterKind.BUTTER_SOS_ZERO_PHASE,
            filter_order,
            estimate_band,
        ),
        latency=LatencySpec(LatencyMode.CAUSAL, lead, witness_resampling_phase(causal)) if causal else None,
        scaler=ScalerParameters(**scaler.to_metadata()),
        architecture=ArchitectureSpec(ARCHITECTURE, settings.architecture),
        span=TrainingSpan(start, end),
        ready_seconds=span.ready_seconds,
        validation=ValidationFigures(
            loss=result.best_validation_loss,
            band_asd_ratio=ratio,
            noise_added_bins=noise_added,
            range_raw_mpc=range_raw,
            range_cleaned_mpc=range_cleaned,
        ),
        library_version=deepclean.__version__,
        training_seconds=time.monotonic() - started,
        created=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        extra={
            "training": {
                "epochs": len(result.history),
                "best_epoch": result.best_epoch,
                "stop_reason": result.stop_reason,
                "warm_start_from": str(previous.path.name) if previous else None,
                "window_seconds": window / settings.sample_rate,
                "recency_seconds": settings.recency_seconds,
                "loss_weighting": settings.loss_weighting,
                "linear_init": settings.linear_init if settings.architecture.get("linear_kernel_size") else None,
                "linear_recency": list(settings.linear_recency),
                LINEAR_KEPT_SINCE: kept_since,
                **(
                    {"band_choice": {**choice.as_metadata(), "narrowed_after_training": narrowed_after_training}}
                    if choice
                    else {}
                ),
                **({"order_choice": [order.as_metadata() for order in orders]} if orders else {}),
                "seed": settings.seed,
                **asdict(fit_settings),
            },
            **settings.extra_metadata,
        },
    )
    directory = write_training_directory(
        settings.training_root,
        name,
        network.state_dict(),
        metadata.to_json(),
        [asdict(r) for r in result.history],
        temporary_path(settings.training_root, name) / LOG,
    )
    log.info("wrote %s", directory.path)
    return CycleResult(directory, result.best_validation_loss, ratio, metadata.training_seconds)


def _beside(bins: tuple[float, ...], filter_band: tuple[float, float]) -> bool:
    """Whether any of ``bins`` (Hz) lies within ``filter_band``: noise the band-pass let through."""
    return any(filter_band[0] <= f <= filter_band[1] for f in bins)


def _check_scaler(scaler: Scaler, witness_channels: list[str], strain_channel: str, start: int, end: int) -> None:
    """A witness without variance after resampling cannot be z-scored."""
    for channel, std in zip(witness_channels, scaler.witness_std, strict=False):
        if not std > 0:
            raise DataCheckError(f"channel {channel} has no variance in the training data of GPS {start}-{end}")
    if not scaler.target_std > 0:
        raise DataCheckError(f"channel {strain_channel} has no in-band power in GPS {start}-{end}")


def _step_seen_before(settings: CycleSettings, start: int) -> float | None:
    """GPS from which the newest previous version's linear start kept its data after a coupling step, if that
    lies within this span (from ``start``); None otherwise (no step seen, or it is older than the data)."""
    previous = complete_directories(settings.training_root)
    if not previous:
        return None
    try:
        since = previous[-1].schema.extra.get("training", {}).get(LINEAR_KEPT_SINCE)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("cannot read the span %s kept after a step: %s", previous[-1].path, exc)
        return None
    return float(since) if isinstance(since, int | float) and since > start else None


def _warm_start(network: DeepClean, settings: CycleSettings) -> TrainingDirectory | None:
    """Load the newest compatible previous version's weights into ``network``."""
    for previous in reversed(complete_directories(settings.training_root)):
        try:
            metadata = TrainingMetadata.from_json(previous.metadata, previous.path / METADATA)
            compatible = (
                metadata.architecture == ArchitectureSpec(ARCHITECTURE, settings.architecture)
                and metadata.witness_channels == tuple(settings.source.witness_channels)
                and metadata.sample_rate == settings.sample_rate
                and metadata.latency_mode.value == settings.latency_mode
            )
            if not compatible:
                continue
            network.load_state_dict(torch.load(previous.weights, map_location="cpu", weights_only=True))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:  # a MetadataError is a ValueError
            log.warning("cannot warm start from %s: %s", previous.path, exc)
            continue
        log.info("warm start from %s (learning rate x%g)", previous.path.name, settings.warm_start_lr_factor)
        return previous
    log.info("cold start: no compatible previous version in %s", settings.training_root)
    return None
