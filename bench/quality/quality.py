"""Quality benchmark: DeepClean as the suite runs it against NOMAD, a linear Wiener filter and no cleaning.

For each scenario of the synthetic detector's library (``--scenarios``, seed
from ``[tool.typeo.scripts.detector]``), every method is trained on the same
training span and applied to the same held-out test span that follows it;
the figures (``metrics.py``) are measured over the test span against the
injected-noise truth. Prints a table per scenario and a summary across them
(with the worst case), and writes ``<out>/<scenario>/quality.json``,
``<out>/<scenario>/asd.png`` and ``<out>/summary.json``.

Run it with ``bench/quality/run.sh`` (builds what is missing, runs under
nice); ``--train-seconds 128 --test-seconds 128`` is a quick smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import deepclean_method  # noqa: E402
import metrics  # noqa: E402
import report  # noqa: E402
import spans  # noqa: E402
from common import log  # noqa: E402
from wiener import wiener_noise  # noqa: E402

from deepclean.config import find_config, load_table  # noqa: E402
from deepclean.synthetic import SCENARIOS, SyntheticDetector, SyntheticSpan, scenario_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("deepclean", "nomad", "wiener", "wiener-products")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-seconds", type=int, default=1024, help="training span (s), default 1024")
    parser.add_argument("--test-seconds", type=int, default=1024, help="held-out test span (s), default 1024")
    parser.add_argument("--start", type=int, default=1400000000, help="GPS start of the training span")
    parser.add_argument(
        "--margin", type=int, default=16, help="seconds cleaned but not measured on each side of the test span"
    )
    parser.add_argument("--seed", type=int, default=None, help="detector seed (default: the detector table's)")
    parser.add_argument(
        "--step-offset",
        type=int,
        default=None,
        help="seconds into the training span of a scenario's coupling step (default: 3/4 of the span; "
        "smaller: more data after the step, as the versions a loop trains later see)",
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["baseline"],
        help="synthetic detector scenarios to run ('all': the whole library; "
        "deepclean-detector --list-scenarios lists them)",
    )
    parser.add_argument(
        "--band",
        type=float,
        nargs=2,
        default=None,
        help="target band (Hz) for the trainer, the cleaner and the figures (default: the config's)",
    )
    parser.add_argument("--out", type=Path, default=None, help="default bench/out/quality (-causal)")
    deepclean_method.add_latency_mode_option(parser, "DeepClean is")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads for torch/onnxruntime/BLAS (this machine: 2 cores)"
    )
    parser.add_argument("--profile", default="cpu", help="trainer profile ('' for the full-size settings)")
    parser.add_argument(
        "--max-train-seconds",
        type=float,
        default=None,
        help="the trainer's optimisation budget (default: the profile's, 480 s for cpu)",
    )
    parser.add_argument(
        "--trainer-args",
        nargs=argparse.REMAINDER,
        default=[],
        help="extra deepclean-train arguments (last on the command line)",
    )
    parser.add_argument("--nomad-args", default="", help="extra nomad_runner.py arguments, one string")
    parser.add_argument(
        "--nomad-unfiltered",
        action="store_true",
        help="add a NOMAD row without its recommended band-pass of the modulated signals "
        "(shows the noise it then adds out of band; ~5 more minutes)",
    )
    parser.add_argument("--wiener-fftlength", type=float, default=8.0)
    parser.add_argument("--wiener-fit-band", type=float, nargs=2, default=(50.0, 70.0))
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a quick check that every step works: 128 s spans, a 2-epoch trainer run of "
        "4 steps each, 300 NOMAD iterations (figures far from the full run's)",
    )
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(
            train_seconds=128,
            test_seconds=128,
            max_train_seconds=30.0,
            nomad_args="--maxiter 300",
            wiener_fftlength=4.0,
        )
    args = parser.parse_args(argv)
    if args.smoke:
        args.trainer_args = ["--steps_per_epoch", "4", "--max_epochs", "2", *args.trainer_args]
    deepclean_method.apply_latency_mode(args, ROOT, "quality")
    if args.train_seconds < 64 or args.test_seconds < 64:
        parser.error("--train-seconds and --test-seconds must be at least 64")
    return args


def run_deepclean(
    args: argparse.Namespace,
    suite: deepclean_method.Suite,
    train_span: SyntheticSpan,
    test_span: SyntheticSpan,
    test_start: int,
    test_end: int,
    band_args: list[str],
) -> dict:
    """Train, export and clean with the suite's services; the cleaned test span and details."""
    deepclean_method.forget_previous_run(suite)
    log("DeepClean: writing frames (training span and test span with margins)")
    spans.write_training_frames(train_span, suite.strain_dir, suite.witness_dir)
    spans.write_training_frames(test_span, suite.strain_dir, suite.witness_dir)
    log(f"DeepClean: training with deepclean-train (profile {args.profile or 'none'}, {suite.threads} threads)")
    overrides = []
    if args.max_train_seconds is not None:
        overrides += ["--max_train_seconds", str(args.max_train_seconds)]
    if args.train_seconds < 1024:  # the table asks for 512 ready seconds; a smoke run has fewer
        overrides += ["--min_ready_seconds", str(args.train_seconds // 2)]
    training_dir, wall = deepclean_method.train(
        suite, train_span.start, train_span.end, args.profile or None, 0, overrides + band_args + args.trainer_args
    )
    meta = deepclean_method.metadata(training_dir)
    log(f"DeepClean: trained in {wall:.0f} s wall ({training_dir.name}); exporting")
    version = deepclean_method.export(suite, training_dir)
    clean_wall = deepclean_method.clean(suite, test_span.start + 4, test_span.end - 4, band_args)
    cleaned, dq = deepclean_method.read_cleaned(suite, test_start, test_end)
    log(f"DeepClean: cleaned {test_span.duration - 8} s in {clean_wall:.0f} s; DQ over the test span: {dq}")
    return {
        "label": "DeepClean (as the suite runs it)",
        "cleaned": cleaned,
        "training_seconds": float(meta.get("training_seconds", wall)),
        "details": {
            "training_wall_seconds": wall,
            "training_dir": str(training_dir),
            "version": version,
            "validation": meta.get("validation"),
            "architecture": meta.get("architecture"),
            "cleaner_wall_seconds": clean_wall,
            "cleaner_real_time_factor": (test_span.duration - 8) / clean_wall,
            "dq_seconds": dq,
            "trainer_profile": args.profile or None,
            "trainer_args": args.trainer_args,
        },
    }


def run_nomad(
    args: argparse.Namespace,
    work: Path,
    train_npz: Path,
    test_npz: Path,
    cut: slice,
    test_raw: np.ndarray,
    bandpass: bool,
) -> dict:
    """Train NOMAD and estimate the test span's noise in its own environment."""
    subprocess.run([str(ROOT / "bench" / "quality" / "setup_nomad.sh")], check=True)
    output = work / ("nomad.npz" if bandpass else "nomad-unfiltered.npz")
    command = [
        str(ROOT / ".venvs" / "bench-nomad" / "bin" / "python"),
        str(ROOT / "bench" / "quality" / "nomad_runner.py"),
        "--train",
        str(train_npz),
        "--test",
        str(test_npz),
        "--output",
        str(output),
        *args.nomad_args.split(),
    ]
    if not bandpass:
        command.append("--no-bandpass")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nomad_runner.py failed:\n{done.stderr[-3000:]}")
    details = json.loads(done.stdout.strip().splitlines()[-1])
    noise = np.load(output)["noise"]
    label = "NOMAD (band-passed witnesses)" if bandpass else "NOMAD (unfiltered witnesses)"
    return {
        "label": label,
        "cleaned": test_raw - noise[cut],
        "training_seconds": details["training_seconds"],
        "details": details,
    }


def target_checks(results: list[dict], raw_range: float) -> dict:
    """The one-shot targets for DeepClean, each with a verdict line."""
    ours = next((r for r in results if r["label"].startswith("DeepClean")), None)
    if ours is None:
        return {"lines": [], "passed": {}}
    others = [r for r in results if r is not ours]
    passed = {
        "removes_at_least_95_percent": ours["removed_fraction"] >= 0.95,
        "worst_bin_at_most_1.02": ours["worst_out_of_band_ratio"] <= 1.02,
        "range_not_below_raw": ours["bns_range_mpc"] >= raw_range,
        "recovers_half_the_range_gap": ours["range_gap_recovered"] >= 0.5,
    }
    if others:
        passed["beats_every_baseline"] = all(
            ours["removed_fraction"] > r["removed_fraction"] and ours["bns_range_mpc"] > r["bns_range_mpc"]
            for r in others
        )
    best_other = max((r["removed_fraction"] for r in others), default=float("nan"))
    lines = [
        "targets for DeepClean: " + ", ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in passed.items()),
        f"  removed {ours['removed_fraction']:.2%}"
        + (f" (best baseline {best_other:.2%})" if others else "")
        + f"; max OOB {ours['worst_out_of_band_ratio']:.4f} at {ours['worst_out_of_band_frequency']:g} Hz; range "
        f"{ours['bns_range_mpc'] - raw_range:+.3f} Mpc vs raw ({ours['range_gap_recovered']:.0%} of the gap)",
    ]
    return {"lines": lines, "passed": passed}


def detector_for(
    scenario: str, seed: int, train_start: int, train_seconds: int, step_offset: int | None = None
) -> SyntheticDetector:
    """The synthetic detector of ``scenario``; a coupling step (if it has one) falls ``step_offset`` seconds into
    the training span (None: 3/4 into it)."""
    offset = (3 * train_seconds) // 4 if step_offset is None else step_offset
    return SyntheticDetector(scenario_config(scenario, seed=seed, step_gps=train_start + offset))


def scenario_names(requested: list[str]) -> list[str]:
    """The scenarios to run, ``all`` expanded to the whole library."""
    names = list(SCENARIOS) if "all" in requested else requested
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    return names


def run_scenario(args: argparse.Namespace, scenario: str, seed: int, base: dict) -> dict:
    """Every method on one scenario: the per-method figures (also written to ``<out>/<scenario>/``)."""
    band = tuple(args.band) if args.band else tuple(float(edge) for edge in base["band"])
    margin = float(base.get("filter_margin", 1.0))
    filter_band = (band[0] - margin, band[1] + margin)  # the trainer's subtraction filter
    sample_rate = int(base["sample_rate"])
    out = (args.out / scenario).resolve()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)

    detector = detector_for(scenario, seed, args.start, args.train_seconds, args.step_offset)
    train_start, train_end = args.start, args.start + args.train_seconds
    test_start = train_end + args.margin
    test_end = test_start + args.test_seconds
    log(
        f"[{scenario}] generating data: seed {seed}, training [{train_start}, {train_end}), "
        f"test [{test_start}, {test_end}) (+{args.margin} s each side)"
    )
    train_span = spans.generate(detector, train_start, args.train_seconds)
    test_span = spans.generate(detector, test_start - args.margin, args.test_seconds + 2 * args.margin)
    rate = test_span.strain_sample_rate
    cut = slice(args.margin * rate, (args.margin + args.test_seconds) * rate)
    raw, truth = test_span.strain[cut], test_span.truth[cut]

    band_args = ["--band", f"[{band[0]:g}, {band[1]:g}]"] if args.band else []
    results = []
    if "deepclean" in args.methods:
        suite = deepclean_method.Suite(ROOT, work, args.threads)
        results.append(run_deepclean(args, suite, train_span, test_span, test_start, test_end, band_args))
    if "nomad" in args.methods:
        log(f"[{scenario}] NOMAD: saving spans for the NOMAD environment")
        train_npz = spans.save_npz(train_span, work / "train.npz")
        test_npz = spans.save_npz(test_span, work / "test.npz")
        for bandpass in (True, False) if args.nomad_unfiltered else (True,):
            log(
                f"[{scenario}] NOMAD: training and subtracting ({'band-passed' if bandpass else 'unfiltered'} "
                f"witnesses)"
            )
            results.append(run_nomad(args, work, train_npz, test_npz, cut, raw, bandpass))
            log(f"[{scenario}] NOMAD: trained in {results[-1]['training_seconds']:.0f} s")
    for method, products in (("wiener", False), ("wiener-products", True)):
        if method not in args.methods:
            continue
        log(f"[{scenario}] Wiener{' on mains products' if products else ''}: fitting and filtering")
        noise, fit_seconds = wiener_noise(
            train_span,
            test_span,
            sample_rate,
            filter_band,
            args.wiener_fftlength,
            tuple(args.wiener_fit_band),
            int(base.get("filter_order", 8)),
            products,
        )
        count = len(train_span.witnesses)
        results.append(
            {
                "label": f"Wiener x mains ({count} + {count - 1} products)"
                if products
                else f"Wiener (linear, {count} witnesses)",
                "cleaned": raw - noise[cut],
                "training_seconds": fit_seconds,
                "details": {
                    "fftlength": args.wiener_fftlength,
                    "fit_band": list(args.wiener_fit_band),
                    "mains_products": products,
                },
            }
        )

    log(f"[{scenario}] measuring")
    settings = metrics.Settings(sample_rate=rate, band=band)
    ref = metrics.reference(raw, truth, settings)
    spectra = {}
    for result in results:
        quality, spectra[result["label"]] = metrics.measure(result.pop("cleaned"), raw, truth, settings, ref)
        result.update(quality.as_dict())

    print()
    print(
        f"Scenario {scenario}: test span [{test_start}, {test_end}) ({args.test_seconds} s), trained on "
        f"[{train_start}, {train_end}); band {band[0]:g}-{band[1]:g} Hz; worst OOB over "
        f"{settings.out_of_band_range[0]:g}-{settings.out_of_band_range[1]:g} Hz in 1 Hz bins"
    )
    print(report.table(results, ref.raw_range_mpc))
    print(
        f"(range with the injected noise absent: {ref.floor_range_mpc:.2f} Mpc; not-ready seconds: "
        f"training {spans.not_ready_seconds(train_span)}, test "
        f"{spans.not_ready_seconds(test_span.slice(test_start, args.test_seconds))})"
    )
    checks = target_checks(results, ref.raw_range_mpc)
    for line in checks["lines"]:
        print(line)
    summary = {
        "command": " ".join(sys.argv),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version()},
        "scenario": scenario,
        "seed": seed,
        "band": band,
        "train_span": [train_start, train_end],
        "test_span": [test_start, test_end],
        "margin_seconds": args.margin,
        "raw": {"bns_range_mpc": ref.raw_range_mpc},
        "floor": {"bns_range_mpc": ref.floor_range_mpc},
        "metrics": {"fftlength": settings.fftlength, "out_of_band_range": settings.out_of_band_range},
        "methods": results,
        "targets": checks["passed"],
    }
    report.write_json(out / "quality.json", summary)
    report.plot_asds(
        out / "asd.png",
        ref.frequencies,
        ref.raw_psd,
        ref.floor_psd,
        spectra,
        band,
        title=f"{scenario}: test span {args.test_seconds} s after {args.train_seconds} s of training",
    )
    log(f"[{scenario}] wrote {out / 'quality.json'} and {out / 'asd.png'}")
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(args.threads))
    config_path = find_config(ROOT)
    base = load_table("train", config_path)
    seed = args.seed if args.seed is not None else int(load_table("detector", config_path)["seed"])
    names = scenario_names(args.scenarios)
    summaries = []
    for scenario in names:
        try:
            summaries.append(run_scenario(args, scenario, seed, base))
        except deepclean_method.StepError as exc:
            log(f"[{scenario}] FAILED: {exc}")
            summaries.append({"scenario": scenario, "error": str(exc), "methods": [], "targets": {}})
    print()
    print(report.scenario_table(summaries))
    report.write_json(args.out.resolve() / "summary.json", {"command": " ".join(sys.argv), "scenarios": summaries})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
