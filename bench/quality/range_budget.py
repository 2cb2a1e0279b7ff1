"""How much of the BNS range gap a cleaning can win back, from the truth alone (no method trained).

For each scenario the test span of the quality benchmark is regenerated and two
idealised cleanings are scored with the benchmark's range figure
(``metrics.reference``: sensemon BNS range of a median 4 s Welch PSD):

- the injected noise removed by a given fraction everywhere in the configured
  band (its residual scaled uniformly, the rest left), for the fractions in
  ``--removed``: what an in-band removal figure is worth in range;
- the injected noise removed exactly inside bands of several widths around
  60 Hz (``--bands``): how much of the noise, weighted by range, lies outside
  the configured band.

It prints the share of the range gap each recovers,
``(cleaned - raw) / (noise-free - raw)``, the benchmark's ``gap rec.`` column::

    .venvs/library/bin/python bench/quality/range_budget.py --scenarios all
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import metrics  # noqa: E402
import spans  # noqa: E402
from quality import detector_for, scenario_names  # noqa: E402

from deepclean.figures import strain_bns_range_mpc  # noqa: E402
from deepclean.synthetic.scenarios import SCENARIOS  # noqa: E402


def inside(noise: np.ndarray, rate: float, band: tuple[float, float]) -> np.ndarray:
    """The part of ``noise`` inside ``band``, cut exactly in the frequency domain."""
    spectrum = np.fft.rfft(noise)
    frequencies = np.fft.rfftfreq(noise.size, 1.0 / rate)
    spectrum[(frequencies < band[0]) | (frequencies > band[1])] = 0.0
    return np.fft.irfft(spectrum, noise.size)


def budget(
    scenario: str, args: argparse.Namespace
) -> tuple[metrics.Reference, dict[float, float], dict[tuple[float, float], float]]:
    """The raw and noise-free figures, the gap recovered per in-band removal and per band cleaned exactly."""
    detector = detector_for(scenario, args.seed, args.start, args.train_seconds)
    test_start = args.start + args.train_seconds + 16
    span = spans.generate(detector, test_start, args.test_seconds)
    rate = span.strain_sample_rate
    settings = metrics.Settings(sample_rate=int(rate), band=tuple(args.band))
    reference = metrics.reference(span.strain, span.truth, settings)

    def recovered(cleaned: np.ndarray) -> float:
        return reference.gap_recovered(strain_bns_range_mpc(cleaned, rate, settings.fftlength))

    in_band = inside(span.truth, rate, settings.band)
    by_removal = {
        fraction: recovered(span.strain - in_band * (1.0 - np.sqrt(1.0 - fraction))) for fraction in args.removed
    }
    by_band = {}
    for half_width in args.bands:
        band = (60.0 - half_width, 60.0 + half_width)
        by_band[band] = recovered(span.strain - inside(span.truth, rate, band))
    return reference, by_removal, by_band


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["baseline"], help=f"'all' or of {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=1400000000, help="GPS start of the training span")
    parser.add_argument("--train-seconds", type=int, default=1024)
    parser.add_argument("--test-seconds", type=int, default=512)
    parser.add_argument("--band", type=float, nargs=2, default=(55.0, 65.0), help="the configured band (Hz)")
    parser.add_argument("--removed", type=float, nargs="+", default=[0.95, 0.978, 0.99, 0.995, 0.998, 0.999])
    parser.add_argument(
        "--bands", type=float, nargs="+", default=[5.0, 6.0, 8.0, 10.0], help="half-widths (Hz) around 60 Hz"
    )
    args = parser.parse_args(argv)

    removal_heads = [f"{100 * f:g}%" for f in args.removed]
    band_heads = [f"{60 - w:g}-{60 + w:g}" for w in args.bands]
    print("share of the range gap recovered: by in-band removal | by exact removal inside a band")
    header = f"{'scenario':20s} {'raw':>7s} {'no noise':>8s} | " + " ".join(f"{h:>6s}" for h in removal_heads)
    print(header + " | " + " ".join(f"{h:>6s}" for h in band_heads))
    print("-" * (len(header) + 3 + 7 * len(band_heads)))
    for scenario in scenario_names(args.scenarios):
        reference, by_removal, by_band = budget(scenario, args)
        row = f"{scenario:20s} {reference.raw_range_mpc:7.2f} {reference.floor_range_mpc:8.2f} | "
        row += " ".join(f"{100 * g:5.0f}%" for g in by_removal.values())
        print(row + " | " + " ".join(f"{100 * g:5.0f}%" for g in by_band.values()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
