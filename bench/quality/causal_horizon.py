"""How well the in-band noise can be predicted from witnesses known only up to ``horizon`` samples ago.

A causal least-squares filter (20 taps 3 samples apart, on the witnesses and their products with the
mains monitor, each causally band-passed to 45-75 Hz) is fitted to the injected noise of a scenario
(zero-phase band-passed to 55-65 Hz, 1024 Hz) over 420 s and scored on the next 160 s, with the
witnesses resampled by the linear-phase or the minimum-phase filter (``deepclean.signal.resample``).
It bounds what the causal mode's linear path can do across the horizon its lead leaves::

    .venvs/library/bin/python bench/quality/causal_horizon.py --scenario broad-skirts

prints the fraction removed for each (phase, horizon) asked for (defaults: linear 0 and 58 samples,
the causal mode's horizon with linear-phase witnesses; minimum 10, its horizon with minimum-phase ones).
"""

from __future__ import annotations

import argparse

import numpy as np
import quality
import spans

from deepclean.signal import bandpass_sos, causal_bandpass, resample, zero_phase_bandpass

RATE = 1024
LAGS = np.arange(0, 60, 3)


def features(span, phase: str) -> np.ndarray:
    """Witnesses at RATE (z-scored), their products with the mains monitor, causally band-passed."""
    names = list(span.witnesses)
    witnesses = np.stack([resample(span.witnesses[n], span.witness_sample_rates[n], RATE, phase=phase) for n in names])
    witnesses = (witnesses - witnesses.mean(1, keepdims=True)) / witnesses.std(1, keepdims=True)
    mains = next(i for i, n in enumerate(names) if "MAINS" in n.upper())
    inputs = np.concatenate([witnesses, witnesses[mains][None] * np.delete(witnesses, mains, 0)])
    return causal_bandpass(inputs, bandpass_sos((45.0, 75.0), RATE, 2))


def removed(inputs: np.ndarray, target: np.ndarray, horizon: int) -> float:
    """Fraction of the test span's target power a causal fit across ``horizon`` samples removes."""
    train, test = slice(20 * RATE, 440 * RATE, 2), slice(460 * RATE, 620 * RATE)
    design = np.concatenate([np.roll(inputs, horizon + lag, axis=1) for lag in LAGS])
    gram = design[:, train] @ design[:, train].T
    ridge = 1e-6 * np.trace(gram) / len(gram) * np.eye(len(gram))
    coefficients = np.linalg.solve(gram + ridge, design[:, train] @ target[train])
    left = target[test] - coefficients @ design[:, test]
    return float(1.0 - np.sum(left**2) / np.sum(target[test] ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="broad-skirts")
    parser.add_argument("--cases", nargs="+", default=["linear:0", "linear:58", "minimum:10"], help="phase:horizon")
    args = parser.parse_args()
    detector = quality.detector_for(args.scenario, 1, 1400000000, 1024)
    span = spans.generate(detector, 1400000000, 640)
    truth = resample(span.truth, span.strain_sample_rate, RATE)
    target = zero_phase_bandpass(truth, bandpass_sos((55.0, 65.0), RATE, 8))
    inputs = {}
    for case in args.cases:
        phase, horizon = case.split(":")
        if phase not in inputs:
            inputs[phase] = features(span, phase)
        fraction = removed(inputs[phase], target, int(horizon))
        print(f"{args.scenario}: {phase}-phase witnesses, horizon {int(horizon):3d} samples: removed {fraction:.1%}")


if __name__ == "__main__":
    main()
