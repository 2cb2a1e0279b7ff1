"""Benchmark of the trainer on the synthetic detector.

Writes ``--train-seconds`` of synthetic frames, runs the trainer once on them
(one-shot mode, exactly the service's code path), then cleans the next
``--heldout-seconds`` (never seen in training) as the cleaner does (prediction
un-scaled, band-passed, resampled to the strain rate) and prints:

- the training time (wall clock, optimisation and whole cycle),
- the validation in-band ASD ratio the trainer recorded,
- on the held-out span, against the synthetic detector's injected-noise truth:
  the fraction of the in-band noise power removed, the residual in dB, the
  in-band ASD ratio cleaned/raw and the worst out-of-band ASD ratio (10-500 Hz),
- the real-time factor of training (seconds of data per second of wall time).

Target (issue 4): >= 95 % removed (<= -13 dB) training on <= 1024 s within 10 minutes.

    nice .venvs/trainer/bin/python bench/train.py                  # the configured defaults
    nice .venvs/trainer/bin/python bench/train.py --no-products    # the original network
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deepclean.config import load_table
from deepclean.signal import (
    band_asd_ratio,
    bandpass_sos,
    fraction_removed,
    resample,
    residual_db,
    worst_out_of_band_ratio,
    zero_phase_bandpass,
)
from deepclean.synthetic import (
    DetectorConfig,
    FrameLayout,
    SyntheticDetector,
    write_span,
)
from deepclean_trainer.main import main as train
from deepclean_trainer.training_directory import (
    TrainingDirectory,
    complete_directories,
    load_network,
)
from deepclean_trainer.validation import predict

ROOT = Path(__file__).resolve().parents[1]
START = 1_400_000_000
EDGE = 8  # seconds of held-out data dropped at each end (filter transients)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-seconds", type=int, default=1024)
    parser.add_argument("--heldout-seconds", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1, help="synthetic detector seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=540.0, help="optimisation time budget, s")
    parser.add_argument(
        "--budget-clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: count process CPU time / threads (what an unshared CPU would take)",
    )
    parser.add_argument("--no-products", action="store_true", help="train the network without witness products")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override trainer settings, e.g. --set batch_size=32 window_seconds=8",
    )
    return parser.parse_args()


def _value(text: str) -> int | float | str:
    """A command-line value: an int, a float, else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def trainer_settings(args: argparse.Namespace, data: Path) -> dict:
    """The [tool.typeo.scripts.train] table with the benchmark's paths and overrides."""
    settings = load_table("train", ROOT / "pyproject.toml")
    settings.update(
        strain_dir=data / "llhoft",
        witness_dir=data / "lldetchar",
        training_root=data / "training",
        log_dir=data / "logs",
        exporter_token_file=None,
        mode="one-shot",
        export=False,
        start=START,
        end=START + args.train_seconds,
        min_ready_seconds=args.train_seconds // 2,
        max_train_seconds=args.budget,
        budget_clock=args.budget_clock,
        num_threads=args.threads,
        device="cpu",
    )
    settings["band"] = tuple(settings["band"])
    if args.no_products:
        settings["mains_channel"] = None
    for item in args.set:
        key, value = item.split("=", 1)
        settings[key] = type(settings[key])(value) if settings.get(key) is not None else _value(value)
    return settings


def evaluate(directory: TrainingDirectory, detector: SyntheticDetector, start: int, duration: int) -> dict:
    """Clean the held-out span as the cleaner does and compare with the injected truth."""
    metadata = directory.metadata
    network, scaler = load_network(directory)
    span = detector.generate(start, duration)
    rate, strain_rate = metadata["sample_rate"], metadata["strain_sample_rate"]
    band = metadata["band"]
    witnesses = np.stack(
        [resample(span.witnesses[c], span.witness_sample_rates[c], rate) for c in metadata["witness_channels"]]
    )
    prediction = scaler.unscale_prediction(predict(network, scaler.scale_witnesses(witnesses)))
    sos = bandpass_sos(metadata["filter"]["band"], rate, metadata["filter"]["order"])
    estimate = resample(zero_phase_bandpass(prediction, sos), rate, strain_rate)
    keep = slice(EDGE * strain_rate, (duration - EDGE) * strain_rate)
    truth, strain, estimate = span.truth[keep], span.strain[keep], estimate[keep]
    cleaned = strain - estimate
    return {
        "removed": fraction_removed(truth, estimate, strain_rate, band),
        "residual_db": residual_db(truth, estimate, strain_rate, band),
        "band_asd_ratio": band_asd_ratio(cleaned, strain, strain_rate, band),
        "worst_out_of_band": worst_out_of_band_ratio(cleaned, strain, strain_rate, band, (10.0, 500.0)),
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    detector = SyntheticDetector(DetectorConfig(seed=args.seed))
    with tempfile.TemporaryDirectory(prefix="deepclean-bench-train-") as tmp:
        data = Path(tmp)
        began = time.monotonic()
        layout = FrameLayout(data / "llhoft", data / "lldetchar")
        for chunk in range(START, START + args.train_seconds, 256):
            write_span(detector.generate(chunk, min(256, START + args.train_seconds - chunk)), layout)
        print(f"wrote {args.train_seconds} s of synthetic frames in {time.monotonic() - began:.1f} s")

        settings = trainer_settings(args, data)
        began, cpu_began = time.monotonic(), time.process_time()
        status = train(**settings)
        cycle_seconds, cpu_seconds = time.monotonic() - began, time.process_time() - cpu_began
        if status != 0:
            raise SystemExit(f"the trainer failed (exit {status}); see {data / 'logs'}")
        directory = complete_directories(data / "training")[-1]
        metadata = directory.metadata
        heldout = evaluate(directory, detector, START + args.train_seconds, args.heldout_seconds)

    logging.shutdown()
    training = metadata["training"]
    print()
    print(f"network: {metadata['architecture']}")
    print(
        f"steps: {training['epochs'] * training['steps_per_epoch']} of {training['batch_size']} x "
        f"{training['window_seconds']:g} s windows; stop: {training['stop_reason']}"
    )
    print(
        f"training time: {metadata['training_seconds']:.0f} s (whole one-shot run {cycle_seconds:.0f} s) on "
        f"{args.train_seconds} s of data: {args.train_seconds / cycle_seconds:.1f}x real time"
    )
    print(
        f"CPU time of the run: {cpu_seconds:.0f} s on {args.threads} threads (wall time if the CPU were not "
        f"shared: about {cpu_seconds / args.threads:.0f} s); load average now {os.getloadavg()[0]:.1f}"
    )
    print(f"validation in-band ASD ratio: {metadata['validation']['band_asd_ratio']:.4f}")
    print(
        f"held-out {args.heldout_seconds - 2 * EDGE} s: injected in-band noise power removed "
        f"{heldout['removed']:.2%} (residual {heldout['residual_db']:.1f} dB); "
        f"in-band ASD ratio {heldout['band_asd_ratio']:.4f}; "
        f"worst out-of-band ASD ratio (10-500 Hz) {heldout['worst_out_of_band']:.4f}"
    )
    run_seconds = cycle_seconds if args.budget_clock == "wall" else cpu_seconds / args.threads
    target_met = heldout["removed"] >= 0.95 and run_seconds <= 600
    print(f"target (>= 95 % removed within 600 s): {'met' if target_met else 'NOT met'}")


if __name__ == "__main__":
    main()
