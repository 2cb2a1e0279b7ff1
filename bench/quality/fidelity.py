"""Signal fidelity: does cleaning leave an astrophysical signal in the strain untouched?

The noise estimate comes from the witnesses alone, so a signal in the strain
should pass through the cleaner unchanged. A stretch of synthetic data with
injections (``deepclean.synthetic.injections``: IMRPhenomD binary-neutron-star
inspirals and 55-65 Hz sine-Gaussians, optimal SNR 10-30) is cleaned twice by
the real cleaner (``deepclean-clean``, embedded onnxruntime backend, safety gate
on), once with the injections in the strain and once without, the witnesses the
same. Per injection, ``cleaned_with - cleaned_without`` is compared with the
injection: the noise-weighted mismatch (``deepclean.signal.matched``, floor PSD,
20-1000 Hz, no time or phase maximisation) and |dSNR|/SNR of the optimal SNRs.

Cases (each cleans the same stretch):

- ``production``: version 1 in production, the gate as configured;
- ``fallback-model``: a version whose estimate is three times too large
  (version 1's weights, its target scale tripled): the gate writes raw strain;
- ``fallback-gate``: version 1 with a gate that cannot pass (band tolerance 0.05);
- ``switch``: version 1, then the production pin changed to version 2 while
  the cleaner runs, as a signal crosses the band (frames are fed live and the
  pin changed once the cleaner has taken the seconds before the switch, so both
  passes switch at the same GPS second).

With ``--marginal-gate`` a diagnostic case is added, not held to the targets:
version 1 with the gate's band tolerance at a high quantile (default 0.9) of
the band ASD ratio of its 8 s windows in the production case, so that the gate
falls back now and then (it holds a fallback for a window). The gate is the one
place where the strain decides anything: it judges the raw strain, so there a
signal can change whether the noise estimate is subtracted (the signal itself
still passes with weight 1; the difference then holds the noise estimate of
the seconds whose decision changed).

Models: two versions trained by ``deepclean-train --mode one-shot`` on a
training span before the stretch, version 2 on its last three quarters so the
two estimates differ (a small budget: fidelity does not depend on how well the
noise is removed) and exported by the exporter's pipeline
(``deepclean_method.py``), or ``--training-dirs`` to export given ones.
``--latency-mode causal`` trains them for the causal (low-latency) mode, which
the cleaner then runs them in.

Running the cleaner for one pass (strain directory, pins, the live switch):
``fidelity_runs.py``. Targets: mismatch <= 1e-3 and |dSNR|/SNR <= 0.5 % for
every injection in every case. Prints a table, writes ``fidelity.json`` to ``--out``; exit status 1 if a
target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import deepclean_method  # noqa: E402
import spans  # noqa: E402
from common import log  # noqa: E402
from deepclean_method import StepError, Suite  # noqa: E402
from fidelity_runs import point_strain_dir, run_case  # noqa: E402

from deepclean.config import find_config, load_table  # noqa: E402
from deepclean.figures import BinPowers, second_spectra  # noqa: E402
from deepclean.signal.matched import DEFAULT_BAND, noise_weighted_mismatch, optimal_snr  # noqa: E402
from deepclean.synthetic import SCENARIOS, SyntheticDetector, SyntheticSpan, scenario_config  # noqa: E402
from deepclean.synthetic.colouring import design_asd  # noqa: E402
from deepclean.synthetic.frame_writer import FrameLayout, write_strain, write_witness  # noqa: E402
from deepclean.synthetic.injections import INJECTION_KINDS, InjectedDetector, Injection, InjectionConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MISMATCH_TARGET = 1e-3
SNR_TARGET = 0.005
LEAD_SECONDS = 16  # frames before the measured stretch: cleaner preroll and start-up
TAIL_SECONDS = 8  # frames after it: the band-pass look-ahead and the cleaner's flush
SEGMENT_PAD = 2.0  # seconds of each injection's neighbourhood measured with it
OVERSHOOT = 3.0  # the fallback-model case's estimate is this many times the trained one
SWITCH_BEFORE_PEAK = 9.0  # an inspiral from 1.2-1.6 Msun crosses 60 Hz about this long before its peak


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=None, help="detector seed (default: the detector table's)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="baseline", help="the synthetic detector's world")
    parser.add_argument("--start", type=int, default=1400000000, help="GPS start of the training span")
    parser.add_argument("--train-seconds", type=int, default=256)
    parser.add_argument("--slots", type=int, default=4, help="injection slots in the measured stretch")
    parser.add_argument("--interval", type=int, default=64, help="seconds per injection slot")
    parser.add_argument("--kinds", nargs="+", choices=INJECTION_KINDS, default=list(INJECTION_KINDS))
    parser.add_argument("--out", type=Path, default=None, help="default bench/out/fidelity (-causal)")
    deepclean_method.add_latency_mode_option(parser, "the versions are")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-train-seconds", type=float, default=30.0, help="the trainer's optimisation budget")
    parser.add_argument(
        "--trainer-args",
        nargs=argparse.REMAINDER,
        default=["--steps_per_epoch", "4", "--max_epochs", "2"],
        help="extra deepclean-train arguments (default: 2 epochs of 4 steps)",
    )
    parser.add_argument(
        "--training-dirs",
        type=Path,
        nargs=2,
        default=None,
        help="export these two training directories as versions 1 and 2 instead of training",
    )
    parser.add_argument(
        "--reuse-models",
        action="store_true",
        help="keep the model repository of an earlier run in the same --out (versions.json)",
    )
    parser.add_argument(
        "--marginal-gate",
        type=float,
        nargs="?",
        const=0.9,
        default=None,
        metavar="QUANTILE",
        help="add the diagnostic case: the gate's band tolerance at this quantile (default 0.9) "
        "of the production case's window band ratios",
    )
    parser.add_argument(
        "--strict-band-tolerance", type=float, default=0.05, help="the gate's band tolerance in the fallback-gate case"
    )
    args = parser.parse_args(argv)
    deepclean_method.apply_latency_mode(args, ROOT, "fidelity")
    return args


# ---------------------------------------------------------------- data


def write_stretch(suite: Suite, with_span: SyntheticSpan, without_span: SyntheticSpan) -> dict[str, Path]:
    """Strain frames with and without the injections in two directories, the witness frames once."""
    for channel, samples in without_span.witnesses.items():
        if not np.array_equal(with_span.witnesses[channel], samples):
            raise StepError(f"the injections changed the witness {channel}: they must go into the strain only")
    dirs = {"with": suite.work / "frames" / "llhoft-with", "without": suite.work / "frames" / "llhoft-without"}
    for gps in range(with_span.start, with_span.end):
        write_strain(with_span.second(gps), FrameLayout(dirs["with"], suite.witness_dir))
        write_strain(without_span.second(gps), FrameLayout(dirs["without"], suite.witness_dir))
        write_witness(with_span.second(gps), FrameLayout(dirs["with"], suite.witness_dir))
    return dirs


# ---------------------------------------------------------------- models


def prepare_models(args: argparse.Namespace, suite: Suite, train_span: SyntheticSpan) -> dict[str, int]:
    """Versions 1 and 2 (trained or given) and a version whose estimate overshoots (kept in versions.json)."""
    record = suite.work / "versions.json"
    if args.reuse_models and record.exists():
        return json.loads(record.read_text())
    if args.training_dirs:
        training_dirs = [path.resolve() for path in args.training_dirs]
    else:
        spans.write_training_frames(train_span, suite.work / "frames" / "llhoft-without", suite.witness_dir)
        point_strain_dir(suite, suite.work / "frames" / "llhoft-without")
        overrides = [
            "--max_train_seconds",
            str(args.max_train_seconds),
            "--min_ready_seconds",
            str(args.train_seconds // 2),  # version 2 trains on 3/4 of the span
            *args.trainer_args,
        ]
        training_dirs = []
        for seed in (0, 1):
            # version 2 also leaves out the span's first quarter: a short budget may not move a version off its
            # least-squares start (the causal mode's), and a switch between equal estimates would show nothing
            start = train_span.start + seed * (args.train_seconds // 4)
            log(
                f"training version {seed + 1} with deepclean-train on [{start}, {train_span.end}) "
                f"(seed {seed}, budget {args.max_train_seconds:g} s)"
            )
            directory, wall = deepclean_method.train(suite, start, train_span.end, "cpu", seed, overrides)
            validation = deepclean_method.metadata(directory).get("validation") or {}
            log(f"  trained in {wall:.0f} s wall; validation band ASD ratio {validation.get('band_asd_ratio')}")
            training_dirs.append(directory)
    versions = {
        "first": deepclean_method.export(suite, training_dirs[0]),
        "second": deepclean_method.export(suite, training_dirs[1]),
    }
    overshoot = suite.work / "training" / f"{training_dirs[0].name}-overshoot"
    shutil.rmtree(overshoot, ignore_errors=True)
    shutil.copytree(training_dirs[0], overshoot, ignore=shutil.ignore_patterns("exported.json"))
    metadata = json.loads((overshoot / "metadata.json").read_text())
    metadata["scaler"]["target_std"] *= OVERSHOOT
    (overshoot / "metadata.json").write_text(json.dumps(metadata, indent=2))
    versions["overshoot"] = deepclean_method.export(suite, overshoot)
    record.write_text(json.dumps(versions))
    log(f"exported versions {versions}")
    return versions


# ---------------------------------------------------------------- figures


def measure(
    case: dict, injections: list[Injection], injected: np.ndarray, first: int, rate: int, design_curve: str
) -> list[dict]:
    """Per injection: mismatch and |dSNR|/SNR of ``cleaned_with - cleaned_without`` against the injection."""
    with_run, without_run = case["runs"]["with"], case["runs"]["without"]
    recovered = with_run["strain"] - without_run["strain"]
    rows = []
    for record in injections:
        lo = max(0, round((record.start_gps - SEGMENT_PAD - first) * rate))
        hi = min(recovered.size, round((record.end_gps + SEGMENT_PAD - first) * rate))
        signal, difference = injected[lo:hi], recovered[lo:hi]
        psd = design_asd(rate / signal.size, signal.size // 2 + 1, design_curve) ** 2
        snr = optimal_snr(signal, psd, rate)
        seconds = slice(lo // rate, -(-hi // rate))
        bits_with, bits_without = with_run["bits"][seconds], without_run["bits"][seconds]
        rows.append(
            {
                "case": case["name"],
                "kind": record.kind,
                "slot": record.slot,
                "gps": record.gps,
                "snr": snr,
                "scheduled_snr": record.snr,
                "mismatch": noise_weighted_mismatch(difference, signal, psd, rate),
                "snr_change": abs(optimal_snr(difference, psd, rate) - snr) / snr,
                "cleaned_seconds": int(np.sum((bits_with & deepclean_method.DQ_CLEANED) > 0)),
                "fallback_seconds": int(np.sum((bits_with & deepclean_method.DQ_FALLBACK) > 0)),
                "dq_same_with_and_without": bool(np.array_equal(bits_with, bits_without)),
                "versions": sorted({int(v) for v in with_run["versions"][seconds]}),
                "seconds": int(seconds.stop - seconds.start),
                "parameters": record.parameters,
            }
        )
    return rows


def window_band_ratio(
    raw: np.ndarray, cleaned: np.ndarray, rate: int, band: tuple[float, float], quantile: float, window: int = 8
) -> float:
    """A quantile over the gate's sliding windows of the mean ASD ratio of the band's 1 Hz bins
    (leaving out the first window: the cleaning fades in at the start)."""
    cuts = [slice(i * rate, (i + 1) * rate) for i in range(raw.size // rate)]
    seconds = [second_spectra(raw[cut], raw[cut] - cleaned[cut]) for cut in cuts]
    ratios = []
    for end in range(2 * window, len(seconds) + 1):
        powers = BinPowers.of(seconds[end - window : end], rate)
        in_band = (powers.frequencies >= band[0]) & (powers.frequencies <= band[1])
        ratios.append(float(np.mean(powers.bin_asd_ratios()[in_band])))
    return float(np.quantile(ratios, quantile))


def passes(row: dict) -> bool:
    return row["mismatch"] <= MISMATCH_TARGET and row["snr_change"] <= SNR_TARGET


def table(rows: list[dict]) -> str:
    header = (
        f"{'case':16s} {'injection':14s} {'GPS':>14s} {'SNR':>5s} {'mismatch':>9s} {'|dSNR|/SNR':>10s} "
        f"{'s':>3s} {'clean':>5s} {'fallb':>5s} {'DQ=':>3s} {'versions':>8s}  verdict"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        verdict = ("PASS" if passes(r) else "FAIL") if not r.get("diagnostic") else "(diagnostic)"
        lines.append(
            f"{r['case']:16s} {r['kind']:14s} {r['gps']:14.3f} {r['snr']:5.1f} {r['mismatch']:9.1e} "
            f"{r['snr_change']:10.1e} {r['seconds']:3d} {r['cleaned_seconds']:5d} {r['fallback_seconds']:5d} "
            f"{'yes' if r['dq_same_with_and_without'] else 'NO':>3s} {','.join(map(str, r['versions'])):>8s}  "
            f"{verdict}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(args.threads))
    config_path = find_config(ROOT)
    seed = args.seed if args.seed is not None else int(load_table("detector", config_path)["seed"])
    out = args.out.resolve()
    work = out / "work"
    suite = Suite(ROOT, work, args.threads)
    for name in (
        ("cleaned", "frames") if args.reuse_models else ("training", "model-repo", "versions.json", "cleaned", "frames")
    ):
        path = work / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        shutil.rmtree(path, ignore_errors=True)
    suite.witness_dir.mkdir(parents=True)

    detector = SyntheticDetector(scenario_config(args.scenario, seed=seed))
    injected = InjectedDetector(detector, InjectionConfig(interval=args.interval, kinds=tuple(args.kinds)))
    train_end = args.start + args.train_seconds
    measured_start = -(-(train_end + LEAD_SECONDS) // args.interval) * args.interval  # a slot boundary
    measured_stop = measured_start + args.slots * args.interval
    frames_start, frames_stop = measured_start - LEAD_SECONDS, measured_stop + TAIL_SECONDS
    log(
        f"scenario {args.scenario}, seed {seed}; training [{args.start}, {train_end}); measured stretch "
        f"[{measured_start}, {measured_stop}) with an injection every {args.interval} s ({', '.join(args.kinds)})"
    )
    train_span = spans.generate(detector, args.start, args.train_seconds)
    without_span = spans.generate(detector, frames_start, frames_stop - frames_start)
    with_span = injected.schedule.add_to(without_span)
    dirs = write_stretch(suite, with_span, without_span)
    injections = injected.schedule.between(measured_start, measured_stop)
    data_seconds = time.perf_counter() - began

    versions = prepare_models(args, suite, train_span)
    model_seconds = time.perf_counter() - began - data_seconds
    inspirals = [i for i in injections if i.kind == "inspiral"]
    switch_at = round((inspirals[0] if inspirals else injections[0]).gps - (SWITCH_BEFORE_PEAK if inspirals else 0))
    cases = [
        {
            "name": "production",
            "version": versions["first"],
            "extra": [],
            "description": f"version {versions['first']} in production, the gate as configured",
        },
        {
            "name": "fallback-model",
            "version": versions["overshoot"],
            "extra": [],
            "description": f"version {versions['overshoot']}: version {versions['first']}'s estimate x{OVERSHOOT:g}",
        },
        {
            "name": "fallback-gate",
            "version": versions["first"],
            "extra": ["--safety_band_tolerance", str(args.strict_band_tolerance)],
            "description": f"version {versions['first']}, gate band tolerance {args.strict_band_tolerance:g}",
        },
        {
            "name": "switch",
            "version": versions["first"],
            "extra": [],
            "switch": (switch_at, versions["second"]),
            "description": f"version {versions['first']}, production pin changed to {versions['second']} "
            f"before GPS {switch_at} is cleaned",
        },
    ]
    rows, summaries = [], []
    injected_strain = with_span.slice(measured_start, measured_stop - measured_start).injection
    rate = with_span.strain_sample_rate
    band = tuple(float(edge) for edge in load_table("clean", config_path)["band"])
    for case in cases:
        log(f"case {case['name']}: {case['description']}")
        result = run_case(suite, case, dirs, measured_start, measured_stop)
        rows += [
            dict(row, diagnostic=case.get("diagnostic", False))
            for row in measure(result, injections, injected_strain, measured_start, rate, detector.config.design_curve)
        ]
        if case["name"] == "production" and args.marginal_gate is not None:  # the diagnostic case runs last
            raw = without_span.slice(measured_start, measured_stop - measured_start).strain
            tolerance = window_band_ratio(raw, result["runs"]["without"]["strain"], rate, band, args.marginal_gate)
            cases.append(
                {
                    "name": "marginal-gate",
                    "version": versions["first"],
                    "diagnostic": True,
                    "extra": ["--safety_band_tolerance", f"{tolerance:.6f}"],
                    "description": f"version {versions['first']}, gate band tolerance {tolerance:.4f} "
                    f"(quantile {args.marginal_gate:g} of its windows' band ratios)",
                }
            )
        summaries.append(
            {
                "name": case["name"],
                "description": case["description"],
                "runs": {
                    variant: {
                        "dq_seconds": run["dq_seconds"],
                        "wall_seconds": run["wall_seconds"],
                        "versions_seen": sorted({int(v) for v in run["versions"]}),
                    }
                    for variant, run in result["runs"].items()
                },
                "dq_same_with_and_without": bool(
                    np.array_equal(result["runs"]["with"]["bits"], result["runs"]["without"]["bits"])
                ),
            }
        )
        if "switch" in case:
            seen = {variant: run["versions"] for variant, run in result["runs"].items()}
            if not np.array_equal(seen["with"], seen["without"]):
                raise StepError("the two passes switched versions at different seconds: the comparison is void")
            changed = np.flatnonzero(seen["with"] != seen["with"][0])
            summaries[-1]["first_second_of_new_version"] = measured_start + int(changed[0]) if changed.size else None
            log(
                f"  production version changes at GPS {summaries[-1]['first_second_of_new_version']} "
                f"in both passes (pin changed before GPS {switch_at} was read)"
            )
    total = time.perf_counter() - began

    held = [r for r in rows if not r["diagnostic"]]
    passed = all(passes(r) for r in held)
    latency_mode = deepclean_method.production_latency_mode(suite.work / "model-repo")
    print()
    print(
        f"Stretch [{measured_start}, {measured_stop}), scenario {args.scenario}, seed {seed}, {latency_mode} "
        f"versions; mismatch and SNR over "
        f"{DEFAULT_BAND[0]:g}-{DEFAULT_BAND[1]:g} Hz against the floor's PSD, each injection with "
        f"{SEGMENT_PAD:g} s either side ('s' seconds; 'clean'/'fallb' of them cleaned / fallen back with the "
        f"injection; 'DQ=' same DQ with and without)"
    )
    print(table(rows))
    worst_mismatch = max(r["mismatch"] for r in held)
    worst_snr = max(r["snr_change"] for r in held)
    print(
        f"targets: mismatch <= {MISMATCH_TARGET:g} (worst {worst_mismatch:.1e}), |dSNR|/SNR <= {SNR_TARGET:.1%} "
        f"(worst {worst_snr:.1e}): {'PASS' if passed else 'FAIL'}"
    )
    print(f"time: data {data_seconds:.0f} s, models {model_seconds:.0f} s, total {total:.0f} s")
    summary = {
        "command": " ".join(sys.argv),
        "scenario": args.scenario,
        "seed": seed,
        "latency_mode": latency_mode,
        "measured_span": [measured_start, measured_stop],
        "training_span": [args.start, train_end],
        "injection_interval": args.interval,
        "kinds": args.kinds,
        "band": list(DEFAULT_BAND),
        "psd": f"design curve {detector.config.design_curve}",
        "targets": {"mismatch": MISMATCH_TARGET, "snr_change": SNR_TARGET, "passed": passed},
        "versions": versions,
        "cases": summaries,
        "injections": rows,
        "seconds": {"data": data_seconds, "models": model_seconds, "total": total},
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "fidelity.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    log(f"wrote {out / 'fidelity.json'}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
