"""Benchmark of the cleaner: throughput, latency at real time, and cleaning quality.

Run in the cleaner's environment (torch makes the benchmark's models)::

    nice .venvs/cleaner/bin/python bench/clean.py [--seconds 120] [--replay 60] [--threads 1] [--repeat 1]
        [--latency-mode zero-phase|causal|both] [--safety-narrowing HZ]
        [--trained-model-repository run/model-repo [--seed 1] [--quality-seconds 256] [--skip-speed]]

Prints:
- the real-time factor (seconds of data per second of wall time) of the
  embedded backend cleaning with both the production and the canary model,
  including reading the input frames and writing the cleaned frames
  (synthetic detector frames, 21 witnesses at their native rates): once
  running (from the 10th cleaned frame on), and over the whole run with the
  start-up (imports, loading the versions, priming);
- latency from the arrival of an input frame (the later of strain and
  witness) to the cleaned frame of the same second being written, p50/p99,
  over a replay at real time (frames written one per second by the synthetic
  detector in a separate process);
- both for each latency mode asked for (``--latency-mode``, default both side
  by side): the cleaner's ``latency_mode`` with versions trained for it;
- with ``--trained-model-repository`` (a repository whose production version
  was trained on the synthetic detector with ``--seed``): the fraction of the
  injected in-band noise power removed and the worst out-of-band ASD ratio
  (1 Hz bins, 10-2000 Hz), against the detector's truth, over a span starting
  16 s after the version's training span.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepclean.cleaned_frames import CLEANED, SAFETY_FALLBACK, STREAM_BITS, default_channels
from deepclean.testing.frame_sources import synthetic_frame_source

ROOT = Path(__file__).resolve().parents[1]
NAMES = default_channels("H1")
START = 1400000000
STRAIN = "H1:GDS-CALIB_STRAIN"
BAND = (55.0, 65.0)
SAMPLE_RATE = 1024
ARCHITECTURES = {
    # the trainer's shipped network ([tool.typeo.scripts.train] and deepclean_trainer.main's defaults):
    # witness products, a linear path of 51 taps 5 samples apart reading the second-order products too; the
    # causal mode's reaches the network's context, 75 taps 3 samples apart, without them
    # (deepclean_trainer.cycle.CAUSAL_LINEAR_DILATION)
    "zero-phase": {
        "kernel_size": 7,
        "mains_index": 0,
        "linear_kernel_size": 51,
        "linear_dilation": 5,
        "second_order": True,
    },
    "causal": {"kernel_size": 7, "mains_index": 0, "linear_kernel_size": 75, "linear_dilation": 3},
}
MODES = ("zero-phase", "causal")
TRAINED_MODEL = "deepclean-h1"  # H1's model in ./run.sh's repository ([tool.typeo.detectors.H1] model_name)


def make_random_repository(
    root: Path, channels: list[str], rates: dict[str, int], latency_mode: str = "zero-phase"
) -> Path:
    """A repository with versions 1 and 2 (random weights, for ``latency_mode``), production 1 and canary 2."""
    from deepclean.network_reach import architecture_context
    from deepclean.signal import CAUSAL_WITNESS_PHASE, causal_lead
    from deepclean.testing.model_versions import pin_versions, publish_version, write_random_network
    from deepclean.testing.training_directory import training_metadata

    model_dir = root / "deepclean"
    architecture = ARCHITECTURES[latency_mode]
    metadata = training_metadata(
        {c: rates[c] for c in channels},
        architecture,
        sample_rate=SAMPLE_RATE,
        band=BAND,
        filter_band=(BAND[0] - 1.0, BAND[1] + 1.0),
        target_std=1e-22,
    )
    if latency_mode == "causal":
        lead = causal_lead([rates[c] for c in channels], SAMPLE_RATE, 16384, architecture_context(architecture), 16)
        metadata["filter"].update(kind="butter-sos-causal", order=2)
        metadata["latency"] = {"mode": "causal", "lead": lead, "witness_resampling": CAUSAL_WITNESS_PHASE}
    for version in (1, 2):
        publish_version(
            model_dir,
            version,
            metadata,
            lambda staged, seed=version: write_random_network(staged, len(channels), seed, **architecture),
        )
    pin_versions(model_dir, production=1, canary=2)
    return root


def cleaner_arguments(
    data: Path, repository: Path, cleaned: Path, channels: list[str], latency_mode: str = "zero-phase"
) -> dict:
    return {
        "model_repository": repository,
        "model_name": "deepclean",
        **synthetic_frame_source(data),
        "cleaned_dir": cleaned,
        "witness_channels": channels,
        "strain_sample_rate": 16384,
        "sample_rate": SAMPLE_RATE,
        "band": BAND,
        "backend": "embedded",
        "log_level": "WARNING",
        "latency_mode": latency_mode,
        "metrics_port": 0,
    }


def write_history(data: Path, start: int, seconds: int, seed: int = 1) -> None:
    from deepclean.synthetic import (
        DetectorConfig,
        FrameLayout,
        SyntheticDetector,
        write_span,
    )

    detector = SyntheticDetector(DetectorConfig(seed=seed))
    layout = FrameLayout(data / "llhoft", data / "lldetchar", data / "truth")
    for offset in range(0, seconds, 64):
        write_span(detector.generate(start + offset, min(64, seconds - offset)), layout)


def stream_live(data: Path, start: int, seconds: int) -> None:
    """Write frames at real time (run in a separate process)."""
    from deepclean.synthetic import (
        DetectorConfig,
        FrameLayout,
        FrameStreamer,
        SyntheticDetector,
    )

    detector = SyntheticDetector(DetectorConfig(seed=1))
    FrameStreamer(detector, FrameLayout(data / "llhoft", data / "lldetchar"), speed=1.0).run(start, duration=seconds)


@dataclass(frozen=True)
class SpeedRun:
    """What every timed run shares: where, which versions and channels, and the cleaner's settings."""

    work: Path
    repository: Path
    channels: list[str]
    threads: int
    latency_mode: str
    overrides: dict = field(default_factory=dict)
    """The cleaner's settings the command line changes from the shipped ones."""

    def clean(self, data: Path, cleaned: Path, start_gps: int, stop_gps: int) -> None:
        """Run the cleaner over ``[start_gps, stop_gps)`` of the frames in ``data``."""
        from deepclean_cleaner.main import main

        main(
            **cleaner_arguments(data, self.repository, cleaned, self.channels, self.latency_mode),
            **self.overrides,
            start_gps=start_gps,
            stop_gps=stop_gps,
            inference_threads=self.threads,
        )


def throughput(run: SpeedRun, seconds: int) -> tuple[float, float, float]:
    """Real-time factors of cleaning ``seconds`` of history (the whole run, and once running) and CPU per second."""
    data = run.work / "history"
    if not data.exists():
        write_history(data, START, seconds)
    cleaned = run.work / f"cleaned-history-{run.latency_mode}"
    began, cpu = time.perf_counter(), time.process_time()
    run.clean(data, cleaned, START, START + seconds)
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu
    frames = sorted(cleaned.glob("*.gwf"))
    if len(frames) != seconds:
        raise RuntimeError(f"expected {seconds} cleaned frames, found {len(frames)}")
    # once running: from the 10th cleaned frame written to the last, start-up (imports, model
    # loading, priming the stages) left out; what a cleaner that has fallen behind catches up at
    written_at = sorted(frame.stat().st_mtime for frame in frames)
    steady = (len(written_at) - 10) / (written_at[-1] - written_at[9])
    return seconds / elapsed, steady, cpu / seconds


def latency(run: SpeedRun, seconds: int) -> np.ndarray:
    """Per-frame delay from input arrival to cleaned frame written, over a real-time replay.

    The cleaner starts once the replay's first frame is on disk, with 16 s of
    history before it (it catches up, then follows at real time); the first
    10 s of the replay are left out of the figures.
    """
    data = run.work / f"live-{run.latency_mode}"
    start = START + 100000
    write_history(data, start - 16, 16)
    cleaned = run.work / f"cleaned-live-{run.latency_mode}"
    writer = multiprocessing.get_context("spawn").Process(target=stream_live, args=(data, start, seconds))
    writer.start()
    first_live = data / "llhoft" / f"H-H1_llhoft-{start}-1.gwf"
    deadline = time.monotonic() + 120
    while not first_live.exists():
        if time.monotonic() > deadline or not writer.is_alive():
            writer.terminate()
            raise RuntimeError("the replay did not start")
        time.sleep(0.05)
    try:
        run.clean(data, cleaned, start - 16, start + seconds - 1)
    finally:
        writer.join(timeout=seconds + 30)
    delays = []
    for gps in range(start + 10, start + seconds - 1):
        source = data / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf"
        witness = data / "lldetchar" / f"H-H1_lldetchar-{gps}-1.gwf"
        output = cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf"
        arrived = max(source.stat().st_mtime, witness.stat().st_mtime)
        delays.append(output.stat().st_mtime - arrived)
    return np.array(delays)


def quality(work: Path, repository: Path, channels: list[str], seconds: int, seed: int) -> dict:
    """Removed in-band fraction and out-of-band ratio of the production model against the truth.

    The test span starts 16 s after the production version's training span
    (its metadata) and is generated by the synthetic detector with ``seed``.
    """
    from deepclean.frames import read_frame
    from deepclean.model_repository import ModelRepository
    from deepclean.signal import fraction_removed, worst_out_of_band_ratio
    from deepclean_cleaner.main import main

    model = ModelRepository(repository).model(TRAINED_MODEL)
    production = model.pins().production
    if production is None:
        raise RuntimeError(f"{repository} has no production version")
    start = int(model.metadata(production)["span"]["end"]) + 16
    latency_mode = model.metadata(production).get("latency", {}).get("mode", "zero-phase")
    data = work / "quality"
    write_history(data, start, seconds, seed)
    cleaned = work / "cleaned-quality"
    main(
        **{**cleaner_arguments(data, repository, cleaned, channels, latency_mode), "model_name": TRAINED_MODEL},
        start_gps=start,
        stop_gps=start + seconds,
    )
    raw, clean, truth = [], [], []
    cleaned_seconds = fallback_seconds = 0
    for gps in range(start + 16, start + seconds - 4):
        raw.append(read_frame(data / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf", [STRAIN])[STRAIN])
        truth.append(read_frame(data / "truth" / f"H-H1_llnoise-{gps}-1.gwf")["H1:SYN-INJECTED_NOISE"])
        frame = read_frame(cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf")
        clean.append(frame[NAMES.production])
        bits = frame[NAMES.dq] & STREAM_BITS
        cleaned_seconds += int(np.all(bits & CLEANED))
        fallback_seconds += int(np.any(bits & SAFETY_FALLBACK))
    raw, clean, truth = (np.concatenate(x) for x in (raw, clean, truth))
    return {
        "version": production,
        "start": start,
        "seconds": seconds - 20,
        "cleaned_seconds": cleaned_seconds,
        "fallback_seconds": fallback_seconds,
        "fraction_removed": fraction_removed(truth, raw - clean, 16384, BAND),
        "worst_out_of_band_ratio": worst_out_of_band_ratio(clean, raw, 16384, BAND, (10.0, 2000.0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=120, help="seconds of history for the throughput run")
    parser.add_argument("--replay", type=int, default=60, help="seconds of real-time replay for the latency")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per session")
    parser.add_argument(
        "--repeat", type=int, default=1, help="throughput runs per mode, the median printed (a shared machine varies)"
    )
    parser.add_argument(
        "--trained-model-repository",
        type=Path,
        default=None,
        help="repository whose production version was trained on the synthetic detector",
    )
    parser.add_argument("--seed", type=int, default=1, help="the synthetic detector's seed for the quality span")
    parser.add_argument("--quality-seconds", type=int, default=256, help="seconds cleaned for the quality figures")
    parser.add_argument("--skip-speed", action="store_true", help="only the quality figures")
    parser.add_argument(
        "--latency-mode", choices=(*MODES, "both"), default="both", help="the cleaner's latency mode(s) timed"
    )
    parser.add_argument(
        "--safety-narrowing",
        type=float,
        default=None,
        help="the cleaner's safety_narrowing (default: the shipped 0, no narrowed estimate; 2: the band less 2 Hz)",
    )
    args = parser.parse_args()

    from deepclean.synthetic import DetectorConfig

    config = DetectorConfig(seed=1)
    channels = list(config.witness_channels)
    with tempfile.TemporaryDirectory(prefix="bench-clean-") as tmp:
        work = Path(tmp)
        if not args.skip_speed:
            for mode in MODES if args.latency_mode == "both" else (args.latency_mode,):
                repository = make_random_repository(work / f"model-repo-{mode}", channels, config.sample_rates, mode)
                speed(work, repository, channels, args, mode)
        if args.trained_model_repository is not None:
            figures = quality(
                work,
                args.trained_model_repository,
                channels,
                args.quality_seconds,
                args.seed,
            )
            print(
                f"quality (production version {figures['version']}, {args.quality_seconds} s from GPS "
                f"{figures['start']}, "
                f"against the injected truth): in-band noise power removed {figures['fraction_removed']:.3f}, "
                f"worst out-of-band ASD ratio (1 Hz bins, 10-2000 Hz) {figures['worst_out_of_band_ratio']:.4f}; "
                f"of {figures['seconds']} s measured, {figures['cleaned_seconds']} cleaned throughout, "
                f"{figures['fallback_seconds']} with a safety fallback"
            )
    sys.stdout.flush()


def overrides(args: argparse.Namespace) -> dict:
    """The cleaner's settings the command line changes from the shipped ones."""
    return {} if args.safety_narrowing is None else {"safety_narrowing": args.safety_narrowing}


def speed(work: Path, repository: Path, channels: list[str], args: argparse.Namespace, latency_mode: str) -> None:
    """Print the throughput and latency figures (random-weight models: speed does not depend on the weights)."""
    run = SpeedRun(work, repository, channels, args.threads, latency_mode, overrides(args))
    runs = []
    for _ in range(args.repeat):
        shutil.rmtree(work / f"cleaned-history-{latency_mode}", ignore_errors=True)
        runs.append(throughput(run, args.seconds))
    rtf, steady, cpu = np.median(np.array(runs), axis=0)
    spread = f", runs {min(r[1] for r in runs):.1f}x-{max(r[1] for r in runs):.1f}x" if args.repeat > 1 else ""
    print(
        f"[{latency_mode}] throughput (embedded, production + canary, {len(channels)} witnesses, frame I/O included, "
        f"{args.threads} onnxruntime thread(s); median of {args.repeat} run(s){spread}): {steady:.1f}x real time "
        f"once running ({rtf:.1f}x over the whole {args.seconds} s run, start-up included) "
        f"({cpu * 1e3:.1f} ms of CPU per second of data, all threads: {1 / cpu:.0f}x if the CPU were free)"
    )
    delays = latency(run, args.replay)
    print(
        f"[{latency_mode}] latency, input frame arrival -> cleaned frame written, real-time replay of {args.replay} s "
        f"({delays.size} frames): p50 {np.percentile(delays, 50):.3f} s, p99 {np.percentile(delays, 99):.3f} s, "
        f"max {delays.max():.3f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
