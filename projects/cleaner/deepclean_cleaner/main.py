"""The cleaner service: follow live frames, clean them, write cleaned frames.

See :mod:`deepclean_cleaner.pipeline` for the stages and how they are wired.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Literal

from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from deepclean.cleaned_frames import configured_channel_names
from deepclean.config import ConfigError
from deepclean.entry_point import ServiceExit, configure_logging, hold_output, stop_on_signals
from deepclean.figures import DEFAULT_MIN_EXCESS, DEFAULT_SIGMA
from deepclean.frames import StreamDeadError
from deepclean.metrics_http import Port, serve_metrics
from deepclean.model_repository import ModelRepository

from .backends import BackendName, BackendUnavailableError, select_backend
from .buffers import Gap
from .metrics import CleanerMetrics
from .model_chain import ChainSettings
from .pipeline import CleanedSecond, CleaningPipeline
from .safety import MIN_NARROWED_HZ, narrowed_safety_band
from .source import InputSource
from .watcher import ModelWatcher
from .writer import BackgroundWriter, CleanedFrameWriter

log = logging.getLogger("deepclean.cleaner")


def main(
    model_repository: Path,
    model_name: str,
    strain_dir: Path,
    witness_dir: Path,
    cleaned_dir: Path,
    site: str,
    ifo: str,
    strain_tag: str,
    witness_tag: str,
    strain_channel: str,
    state_channel: str,
    witness_channels: list[str],
    strain_sample_rate: PositiveInt,
    sample_rate: PositiveInt,
    band: tuple[PositiveFloat, PositiveFloat],
    cleaned_tag: str = "DEEPCLEAN",
    production_channel: str | None = None,
    canary_channel: str | None = None,
    production_version_channel: str | None = None,
    canary_version_channel: str | None = None,
    dq_channel: str | None = None,
    backend: BackendName = "auto",
    triton_url: str | None = None,
    inference_timeout: PositiveFloat = 2.0,
    inference_threads: PositiveInt = 1,
    workers: PositiveInt = 2,
    model_load_timeout: PositiveFloat = 30.0,
    triton_startup_timeout: PositiveFloat = 60.0,
    triton_probe_interval: PositiveFloat = 10.0,
    pins_poll_interval: PositiveFloat = 1.0,
    bandpass_history: PositiveFloat = 2.0,
    bandpass_lookahead: PositiveFloat = 0.85,
    latency_mode: Literal["zero-phase", "causal"] = "zero-phase",
    max_wait: PositiveInt = 2,
    witness_timeout: PositiveFloat = 3.0,
    strain_timeout: PositiveFloat = 5.0,
    max_lag: PositiveFloat | None = None,
    start: Literal["resume", "live"] = "resume",
    start_gps: NonNegativeInt | None = None,
    stop_gps: NonNegativeInt | None = None,
    preroll: NonNegativeInt = 8,
    safety: bool = True,
    safety_window: PositiveInt = 16,
    safety_onset_window: NonNegativeInt = 4,
    safety_band_tolerance: PositiveFloat = 1.0,
    safety_sigma: PositiveFloat = DEFAULT_SIGMA,
    safety_min_excess: PositiveFloat = DEFAULT_MIN_EXCESS,
    safety_taper: PositiveFloat = 0.25,
    safety_max_backoff: PositiveInt = 8,
    safety_check_range: tuple[PositiveFloat, PositiveFloat] = (10.0, 2000.0),
    safety_narrowing: NonNegativeFloat = 2.0,
    compress: bool = False,
    metrics_port: Port = 9106,
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO",
) -> int:
    """Clean live strain with the production and canary models and write cleaned frames.

    Parameters
    ----------
    model_repository, model_name
        The Triton model repository and the model in it (pins.json says which versions).
    strain_dir, witness_dir, cleaned_dir
        Input frame directories and the output directory.
    site, ifo, strain_tag, witness_tag, cleaned_tag
        Frame file name parts (``<site>-<ifo>_<tag>-<gps>-1.gwf``).
    strain_channel, state_channel, witness_channels
        Input channels (the witnesses in the configured order; a version may use a subset).
    strain_sample_rate, sample_rate
        Strain rate and the working rate of the network (Hz).
    band
        Cleaning band (Hz), checked by the safety gate.
    production_channel, canary_channel, production_version_channel, canary_version_channel, dq_channel
        Output channel names; by default those of ``deepclean.cleaned_frames.default_channels(ifo)``.
    backend, triton_url
        ``embedded`` (onnxruntime), ``triton`` (gRPC to ``triton_url``) or ``auto``.
    inference_timeout, inference_threads, model_load_timeout
        Seconds per Triton call, onnxruntime threads, seconds for Triton to load a version.
    triton_startup_timeout
        With ``backend = "triton"``: seconds to wait for the server to answer at start-up.
    triton_probe_interval
        With ``backend = "auto"``: seconds between two liveness checks of ``triton_url`` (the switch to Triton
        when it answers; a failed call switches to onnxruntime at once).
    workers
        Threads running the two models (and the witness groups, the safety gates) side by side.
    pins_poll_interval
        Seconds between two reads of pins.json.
    bandpass_history, bandpass_lookahead
        Seconds of context before and after each second for the zero-phase band-pass
        (the look-ahead sets the latency).
    latency_mode
        ``zero-phase`` or ``causal`` (a causal band-pass; second t is written as soon as frame t arrived);
        only versions trained for the same mode are run.
    max_wait
        Seconds a second may wait for its noise estimate before it is written raw.
    witness_timeout, strain_timeout
        Seconds to wait for a late witness frame (after its strain frame), and for the next strain frame.
    max_lag
        Seconds behind the newest input beyond which the cleaner jumps to it (None: never; a gap).
    start, start_gps, stop_gps
        ``resume`` after the newest cleaned frame (else at the oldest input, or the live edge
        when there is none yet), or ``live`` (the newest input); ``start_gps`` overrides both;
        stop before ``stop_gps`` (None: never) and write out what is pending.
    preroll
        Seconds of input read before a resume point to refill the stages (not written).
    safety, safety_window, safety_band_tolerance, safety_taper, safety_check_range
        The safety gate (:mod:`deepclean_cleaner.safety`): on/off, window (s), largest accepted
        mean ASD ratio over the band's 1 Hz bins, taper (s), frequencies (Hz) whose bins are judged.
    safety_onset_window
        The newest seconds also judged on their own (0: none; shorter than ``safety_window``), so an
        estimate that turns bad at once is caught within a few seconds rather than when the window's
        mean shows it.
    safety_max_backoff
        A trip soon after a fallback ended (within 4 windows of cleaned seconds) doubles the next hold,
        up to this factor (1: every trip holds one window), so an estimate hovering at the tolerance
        writes few short cleaned bursts between fallbacks.
    safety_narrowing
        Hz cut from each side of ``band`` for the narrowed estimate (0: none): when the whole estimate
        fails the gate's judgement, it is written band-passed to the narrowed band instead of raw
        strain if that passes the same judgement (zero-phase mode only; DQ bit "narrowed"), so a
        version that adds noise at the band's edges still removes the carrier and its near sidebands.
        None is made when less than :data:`MIN_NARROWED_HZ` would remain. Only for a model whose whole
        estimate has been written for 4 windows in a row (:data:`deepclean_cleaner.safety.NARROWING_TRUST`):
        one failing from its start is wrong, not drifting, and its narrowed part can add noise beside
        the carrier, less than a window detects (``tests/test_bad_version.py``).
    safety_sigma, safety_min_excess
        A 1 Hz bin counts as noise added when its ASD ratio exceeds raw by more than
        ``safety_sigma`` standard deviations of the chance cross term over the window and by
        more than ``safety_min_excess`` (see :mod:`deepclean.figures`).
    compress
        gzip the cleaned frames.
    metrics_port
        Serve Prometheus metrics on 127.0.0.1:``metrics_port`` (0: not at all).
    log_level
        Logging level.
    """
    channel_names = configured_channel_names(locals())
    if safety_onset_window >= safety_window:
        raise ConfigError(
            f"keys 'safety_onset_window' ({safety_onset_window}) and 'safety_window' ({safety_window}): "
            "the onset window must be shorter (0: none)"
        )
    configure_logging("cleaner", log_level)
    narrowed_band = narrowed_safety_band((float(band[0]), float(band[1])), float(safety_narrowing))
    if safety and safety_narrowing and narrowed_band is None:
        log.info(
            "band %s Hz less %g Hz each side leaves under %g Hz: the safety gate writes raw strain when it trips",
            list(band),
            safety_narrowing,
            MIN_NARROWED_HZ,
        )
    settings = ChainSettings(
        witness_channels=tuple(witness_channels),
        sample_rate=int(sample_rate),
        strain_sample_rate=int(strain_sample_rate),
        bandpass_history=float(bandpass_history),
        bandpass_lookahead=float(bandpass_lookahead),
        latency_mode=latency_mode,
        narrowed_band=narrowed_band if safety else None,
    )
    metrics = CleanerMetrics()
    pipeline = CleaningPipeline(
        settings,
        band=(float(band[0]), float(band[1])),
        max_wait=int(max_wait),
        workers=int(workers),
        safety={
            "enabled": safety,
            "window": int(safety_window),
            "onset_window": int(safety_onset_window),
            "band_tolerance": float(safety_band_tolerance),
            "sigma": float(safety_sigma),
            "min_excess": float(safety_min_excess),
            "taper": float(safety_taper),
            "max_backoff": int(safety_max_backoff),
            "check_range": (float(safety_check_range[0]), float(safety_check_range[1])),
        },
        metrics=metrics,
    )
    writer_lock = hold_output(cleaned_dir, "cleaner")
    try:
        with stop_on_signals("cleaner") as stopping:
            source = InputSource(
                Path(strain_dir),
                Path(witness_dir),
                site,
                ifo,
                strain_tag,
                witness_tag,
                strain_channel,
                state_channel,
                list(witness_channels),
                strain_timeout=float(strain_timeout),
                witness_timeout=float(witness_timeout),
                max_lag=None if max_lag is None else float(max_lag),
                metrics=metrics,
            )
            writer = CleanedFrameWriter(
                Path(cleaned_dir),
                site,
                ifo,
                channel_names,
                tag=cleaned_tag,
                compress=compress,
            )
            first = _first_second(writer, source, start, start_gps)
            try:
                chosen = select_backend(
                    backend,
                    triton_url,
                    int(inference_threads),
                    float(inference_timeout),
                    float(model_load_timeout),
                    float(triton_startup_timeout),
                    float(triton_probe_interval),
                )
            except BackendUnavailableError as exc:
                raise ServiceExit(str(exc)) from None
            watcher = ModelWatcher(
                ModelRepository(Path(model_repository)).model(model_name),
                chosen,
                settings,
                poll_interval=float(pins_poll_interval),
            )
            watcher.poll()  # load the pinned versions before the first second
            watcher.start()
            read_from = _read_from(source, first, int(preroll))
            log.info(
                "cleaning from %s with the %s backend",
                f"the live edge of {strain_dir}" if first is None else f"GPS {first} (reading from {read_from})",
                chosen.name,
            )
            output = BackgroundWriter(writer, metrics=metrics)
            stop_serving = serve_metrics(metrics, int(metrics_port))
            try:
                written = _stream(source, pipeline, watcher, output, read_from, first, stop_gps, stopping)
            finally:
                watcher.stop()
                output.close()
                stop_serving()
                if hasattr(chosen, "close"):
                    chosen.close()
    finally:
        pipeline.close()
        writer_lock.release()
    log.info("stopped after writing %d cleaned frames", written)
    return 0


def _read_from(source: InputSource, first: int | None, preroll: int) -> int | None:
    """Where to start reading for ``first`` (None: the live edge): ``preroll`` seconds before it if there."""
    if first is None:
        return None
    oldest = source.oldest()
    return first if oldest is None else max(first - preroll, min(oldest, first))


def _stream(
    source: InputSource,
    pipeline: CleaningPipeline,
    watcher: ModelWatcher,
    output: BackgroundWriter,
    read_from: int | None,
    first: int | None,
    stop_gps: int | None,
    stopping: threading.Event,
) -> int:
    """Clean the input from ``read_from`` until ``stopping`` or ``stop_gps``; the frames written."""
    written = 0
    while not stopping.is_set():
        try:
            for item in source.follow(read_from, stopping, end=stop_gps):
                read_from = item.end if isinstance(item, Gap) else item.gps + 1
                for slot, model in watcher.take_changes().items():
                    pipeline.swap(slot, model)  # between two blocks
                written += _write(output, pipeline.process(item), first)
        except StreamDeadError as exc:
            log.error("%s; still waiting for input", exc)
            if read_from is not None:  # write out what is pending; the stages restart with the stream
                gap = Gap(read_from, read_from + 1, "dropped", "stream dead")
                written += _write(output, pipeline.process(gap), first)
            continue
        break
    if stop_gps is not None:
        written += _write(output, pipeline.flush(), first)
    return written


def _write(output: BackgroundWriter, seconds: list[CleanedSecond], first: int | None) -> int:
    """Queue the cleaned seconds at or after ``first`` for writing (earlier ones only refilled the stages)."""
    count = 0
    for second in seconds:
        if first is None or second.gps >= first:
            output.submit(second)
            count += 1
    return count


def _first_second(writer: CleanedFrameWriter, source: InputSource, start: str, start_gps: int | None) -> int | None:
    """The first GPS second to write (None: the live edge)."""
    if start_gps is not None:
        return int(start_gps)
    if start == "live":
        return None
    last = writer.last_written()
    if last is not None:
        return last + 1
    return source.oldest()
