"""Offline study: would an adaptive gain on the network's noise estimate help between trainings?

Reads what ``quality.py`` left in ``<out>/<scenario>/`` (its ``quality.json`` and
the production channel of ``work/cleaned``), regenerates the same test span, and
takes the subtracted noise estimate ``e = raw - cleaned``. Each second ``k`` the
estimate is split into sub-bands, each with its quadrature (Hilbert transform),
and the complex gain of every sub-band is re-fitted by least squares to the raw
strain over the previous ``W`` seconds only (the second being corrected never
takes part in its own fit), then applied to second ``k``. The figures are those
of the quality benchmark (``metrics.py``), for the network alone and with the gain.

``--causal`` replaces the zero-phase sub-band filters and the Hilbert transform
by causal filters and a backward difference (what a streaming stage without
extra look-ahead could do).

Run it with the library environment after a quality run that kept its work directory::

    .venvs/library/bin/python bench/quality/quality.py --scenarios fast-drift --methods deepclean --out /tmp/q
    .venvs/library/bin/python bench/quality/adaptive_gain.py fast-drift --out /tmp/q
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.signal import butter, hilbert, sosfilt, sosfiltfilt

sys.path.insert(0, str(Path(__file__).resolve().parent))

import metrics  # noqa: E402
import spans  # noqa: E402
from quality import detector_for  # noqa: E402

from deepclean.cleaned_frames import default_channels  # noqa: E402
from deepclean.frames import FrameName, read_frame  # noqa: E402

PRODUCTION = default_channels("H1").production  # the synthetic detector is H1


def regressors(estimate: np.ndarray, rate: int, edges: list[float], causal: bool) -> np.ndarray:
    """Sub-bands of ``estimate`` (and the rest) with their quadratures, one column each."""
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=False):
        sos = butter(2 if causal else 4, [lo, hi], "bandpass", fs=rate, output="sos")
        parts.append(sosfilt(sos, estimate) if causal else sosfiltfilt(sos, estimate))
    parts.append(estimate - sum(parts))
    columns = []
    for part in parts:
        quadrature = (np.diff(part, prepend=0.0) * rate / (2 * np.pi * 60.0)) if causal else hilbert(part).imag
        columns += [part, quadrature]
    return np.stack(columns, axis=1)


def adapted(estimate: np.ndarray, target: np.ndarray, columns: np.ndarray, rate: int, window: int) -> np.ndarray:
    """The estimate with each second's sub-band gains fitted on the ``window`` seconds before it."""
    out = estimate.copy()
    for k in range(len(estimate) // rate):
        lo = max(0, k - window)
        if k - lo < 4:
            continue
        past = slice(lo * rate, k * rate)
        gains, *_ = np.linalg.lstsq(columns[past], target[past], rcond=None)
        out[k * rate : (k + 1) * rate] = columns[k * rate : (k + 1) * rate] @ gains
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario")
    parser.add_argument("--out", type=Path, required=True, help="the --out of the quality run")
    parser.add_argument("--edges", default="55,58,59.5,60.5,62,65", help="sub-band edges (Hz)")
    parser.add_argument("--windows", default="16,32", help="fit windows (s)")
    parser.add_argument("--causal", action="store_true")
    args = parser.parse_args()
    run = json.loads((args.out / args.scenario / "quality.json").read_text())
    (train_start, train_end), (test_start, test_end) = run["train_span"], run["test_span"]
    margin, band = run["margin_seconds"], tuple(run["band"])
    span = spans.generate(
        detector_for(args.scenario, run["seed"], train_start, train_end - train_start),
        test_start - margin,
        test_end - test_start + 2 * margin,
    )
    rate, raw, truth = span.strain_sample_rate, span.strain, span.truth
    cleaned = raw.copy()
    for i, gps in enumerate(range(test_start - margin, test_end + margin)):
        path = FrameName(gps, "H", "H1", "DEEPCLEAN").path(args.out / args.scenario / "work" / "cleaned")
        if path.exists():  # seconds before the cleaner's first stay raw
            cleaned[i * rate : (i + 1) * rate] = read_frame(path, [PRODUCTION])[PRODUCTION]
    estimate = raw - cleaned
    target = sosfiltfilt(butter(8, [band[0] - 1, band[1] + 1], "bandpass", fs=rate, output="sos"), raw)
    cut = slice(margin * rate, (margin + test_end - test_start) * rate)
    settings = metrics.Settings(sample_rate=rate, band=band)
    ref = metrics.reference(raw[cut], truth[cut], settings)
    columns = regressors(estimate, rate, [float(e) for e in args.edges.split(",")], args.causal)
    rows = [("network alone", cleaned)]
    for window in (int(w) for w in args.windows.split(",")):
        rows.append((f"adaptive gain, W={window} s", raw - adapted(estimate, target, columns, rate, window)))
    print(
        f"{args.scenario}: raw range {ref.raw_range_mpc:.2f} Mpc, band {band[0]:g}-{band[1]:g} Hz"
        f"{', causal' if args.causal else ''}"
    )
    print(f"{'':24s} {'removed':>8s} {'worst OOB':>10s} {'range':>8s} {'gap':>6s}")
    for label, strain in rows:
        quality, _ = metrics.measure(strain[cut], raw[cut], truth[cut], settings, ref)
        q = quality.as_dict()
        print(
            f"{label:24s} {q['removed_fraction']:8.1%} {q['worst_out_of_band_ratio']:10.4f} "
            f"{q['bns_range_mpc']:8.2f} {q['range_gap_recovered']:6.0%}"
        )


if __name__ == "__main__":
    main()
