"""What any model fixed at training time can remove from a scenario's test span: a static-filter bound.

The one-shot benchmark trains once and cleans the next 512 s. Where a coupling drifts with no witness
recording the drift, no estimate made from the witnesses alone (the fidelity contract: the strain never
feeds the estimate) can follow it within the test span. This script measures how much that costs: the
Wiener filter on the witnesses and their products with the mains monitor (``wiener.py``, 8 s FIRs, the
stronger linear baseline of ``quality.py``) fitted on

- ``training``: the whole 1024 s training span (what the one-shot Wiener baseline does);
- ``freshest``: the last 256 s of it (after a scenario's coupling step);
- ``test (oracle)``: the 512 s test span itself, so in sample: the best one static filter of this form
  could do over the test span, whatever it was trained on;
- ``each 128 s (oracle)``: each 128 s of the test span fitted on itself (4 s FIRs): what a filter
  refitted every 128 s with perfect knowledge could do (the loop at its best).

Each estimate is band-passed as the cleaner's (zero-phase, 54-66 Hz) and subtracted from the raw strain;
printed for each fit: the in-band removal (55-65 Hz, against the injected-noise truth, ``metrics.py``), and
for the first two fits the removal per 64 s window, for the oracle the share of the BNS range gap it wins
back::

    .venvs/library/bin/python bench/quality/static_bound.py --scenarios baseline coupling-step fast-drift

Spans and seed are ``quality.py``'s defaults (training [1400000000, +1024), test 16 s later, 512 s).
A linear filter is a bound for the linear part only: on ``nonlinear-coupling`` the network does better.
"""

from __future__ import annotations

import argparse

import metrics
import numpy as np
import quality
import spans
from wiener import WienerFilter, witnesses_at

from deepclean.signal import bandpass_sos, resample, zero_phase_bandpass

RATE = 1024
BAND = (55.0, 65.0)
FILTER_BAND = (54.0, 66.0)  # the band and the configured filter_margin: the cleaner's subtraction filter
FIT_BAND = (50.0, 70.0)
TRAIN_START, TRAIN_SECONDS, GAP, TEST_SECONDS = 1400000000, 1024, 16, 512


def removed(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of the truth's in-band power the estimate removes."""
    sos = bandpass_sos(BAND, RATE, 8)
    noise = zero_phase_bandpass(truth, sos)
    left = noise - zero_phase_bandpass(estimate, sos)
    return float(1.0 - np.sum(left**2) / np.sum(noise**2))


def fitted(witnesses: np.ndarray, target: np.ndarray, fftlength: float) -> WienerFilter:
    return WienerFilter.fit(witnesses, target, RATE, fftlength, FIT_BAND)


def bound(scenario: str, seed: int) -> dict[str, object]:
    """The removal of each fit over the test span, and the per-64 s removal of the one-shot fits."""
    detector = quality.detector_for(scenario, seed, TRAIN_START, TRAIN_SECONDS)
    train = spans.generate(detector, TRAIN_START, TRAIN_SECONDS)
    test = spans.generate(detector, TRAIN_START + TRAIN_SECONDS + GAP, TEST_SECONDS)
    train_in, test_in = witnesses_at(train, RATE, products=True), witnesses_at(test, RATE, products=True)
    train_target = resample(train.strain, train.strain_sample_rate, RATE)
    test_target = resample(test.strain, test.strain_sample_rate, RATE)
    truth = resample(test.truth, test.strain_sample_rate, RATE)
    fresh = 256 * RATE
    estimates = {
        "training": fitted(train_in, train_target, 8.0).predict(test_in),
        "freshest": fitted(train_in[:, -fresh:], train_target[-fresh:], 8.0).predict(test_in),
        "test (oracle)": fitted(test_in, test_target, 8.0).predict(test_in),
    }
    block = 128 * RATE
    estimates["each 128 s (oracle)"] = np.concatenate(
        [
            fitted(test_in[:, i : i + block], test_target[i : i + block], 4.0).predict(test_in[:, i : i + block])
            for i in range(0, test_in.shape[1], block)
        ]
    )
    window = 64 * RATE
    settings = metrics.Settings(test.strain_sample_rate, BAND)
    reference = metrics.reference(test.strain, test.truth, settings)
    figures = {}
    for name, estimate in estimates.items():
        band_passed = zero_phase_bandpass(estimate, bandpass_sos(FILTER_BAND, RATE, 8))
        cleaned = test.strain - resample(band_passed, RATE, test.strain_sample_rate)
        figures[name] = metrics.measure(cleaned, test.strain, test.truth, settings, reference)[0]
    return {
        "removed": {name: figure.removed_fraction for name, figure in figures.items()},
        "gap": {name: figure.range_gap_recovered for name, figure in figures.items()},
        "windows": {
            name: [
                removed(estimates[name][i : i + window], truth[i : i + window])
                for i in range(0, truth.size - window + 1, window)
            ]
            for name in ("training", "freshest")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=["baseline", "coupling-step", "fast-drift", "independent"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    names = ("training", "freshest", "test (oracle)", "each 128 s (oracle)")
    header = " ".join(f"{n:>20s}" for n in names)
    print(f"{'scenario':20s} {header}   oracle's range gap   per 64 s: training | freshest")
    for scenario in quality.scenario_names(args.scenarios):
        result = bound(scenario, args.seed)
        figures = " ".join(f"{100 * result['removed'][n]:19.1f}%" for n in names)
        windows = " | ".join(" ".join(f"{100 * v:.0f}" for v in result["windows"][n]) for n in ("training", "freshest"))
        gap = 100 * result["gap"]["test (oracle)"]
        print(f"{scenario:20s} {figures}   {gap:17.0f}%   {windows}", flush=True)


if __name__ == "__main__":
    main()
