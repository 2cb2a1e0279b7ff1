"""The cleaner's safety gate on every scenario: false trips, the onset of a bad estimate, and added noise.

Usage::

    nice .venvs/cleaner/bin/python bench/safety_gate.py                      # ~6 min on 2 cores
    nice .venvs/cleaner/bin/python bench/safety_gate.py --onset-windows 0 2 4 8 --seconds 256

For each scenario of :mod:`deepclean.synthetic.scenarios` (strain and injected-noise truth of the synthetic
detector, the noise band-passed as the cleaner does, 54-66 Hz zero-phase) and each ``onset_window`` of
:class:`deepclean_cleaner.safety.SafetyGate` (band 55-65 Hz, check range 10-2000 Hz, the other settings
the gate's defaults), it prints:

- ``false``: seconds written raw with the injected noise itself as the estimate (a perfect model: every
  one is a false trip);
- ``onset``: seconds written as cleaned after the estimate turns into 2.2x the injected noise (an in-band
  ASD ratio of ~1.15: a model trained before a coupling step and run after it), worst over the onsets
  every 64 s of the span;
- ``noise at the band's edge``: noise flat over 63.5-65.5 Hz with 3 times the raw strain's mean power there
  (``EDGE_RATIO`` 2 in ASD) added to the perfect estimate over the ``--added-seconds`` after the gate has
  written the whole estimate for :data:`TRUSTED` s (the narrowed estimate replaces none before), the
  narrowed estimate that and the injected noise band-passed to 57-63 Hz as a chain makes it: over those
  seconds, seconds written raw and narrowed, and the share of the injected 55-65 Hz noise removed, with
  the gate falling back to raw and with it writing the narrowed estimate;
- ``bad across the band``: the same, with noise added across 51-69 Hz instead (``SPREAD``: 1.4x the raw
  ASD in every 1 Hz bin of 56-59 and 61-64 Hz, 2.5x beyond, added to the perfect estimate), a model gone
  bad everywhere: its narrowed part adds about 1.3x beside the carrier (1.26-1.33x at 57, 58, 62 and
  63 Hz on baseline), under what a 16 s window detects. Seconds written narrowed, and the worst ASD ratio of a
  bin the narrowed band-pass passes (56-64 Hz) in the output over those seconds (raw fallback: 1);
- ``added xR``: the share of seconds written raw, over the first ``--added-seconds``, when noise flat
  over 62-64 Hz, with ``R**2 - 1`` times the raw strain's mean power there, is added to the perfect
  estimate. The raw strain falls ~30x across 62-64 Hz (the line's skirt), so the cleaned ASD rises
  least at 62 Hz and most at 64 Hz: for R = 1.2 about 1.02x raw at 62 Hz and 1.5-1.8x at 64 Hz,
  for R = 2 up to 3-4x; R = 1.001 (0.01-0.5 % more ASD by bin) must not trip.

The gate's settings are the service's (``[tool.typeo.scripts.clean]``: check range 10-2000 Hz, window
16 s, ``sigma`` 3), the onset window as given. Each false trip is printed with the second it began in
and the judgement that failed.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from deepclean.figures import BinPowers, judge_bins
from deepclean.signal import bandpass_sos, fraction_removed, zero_phase_bandpass
from deepclean.synthetic import SyntheticDetector
from deepclean.synthetic.scenarios import SCENARIOS, scenario_config
from deepclean_cleaner.safety import NARROWING_TRUST, SafetyDecision, SafetyGate

RATE = 16384
BAND = (55.0, 65.0)
ESTIMATE_BAND = (54.0, 66.0)
CHECK = (10.0, 2000.0)
BAD_GAIN = 2.2
ADDED_BAND = (62.0, 64.0)
ADDED_RATIOS = (1.001, 1.2, 1.6, 2.0)
EDGE_BAND = (63.5, 65.5)
EDGE_RATIO = 2.0
NARROWED_BAND = (57.0, 63.0)
WINDOW = SafetyGate(RATE, BAND).window
TRUSTED = WINDOW - 1 + NARROWING_TRUST * WINDOW
"""Seconds from a model's first until its whole estimate has been written over full windows long enough for a
narrowed one to replace it."""
SPREAD = (((56.0, 59.0), 1.4), ((61.0, 64.0), 1.4), ((51.0, 56.0), 2.5), ((64.0, 69.0), 2.5))
"""Bands and ASD ratios of the noise a model gone bad everywhere adds (``bad across the band``)."""


def decisions(
    gate: SafetyGate, raw: np.ndarray, estimate: np.ndarray, narrowed: np.ndarray | None = None
) -> list[SafetyDecision]:
    """``gate``'s decision for every second of ``raw`` and ``estimate`` (and the ``narrowed`` estimate)."""
    seconds = [slice(s * RATE, (s + 1) * RATE) for s in range(raw.size // RATE)]
    return [gate.process(raw[s], estimate[s], None if narrowed is None else narrowed[s]) for s in seconds]


def fallbacks(gate: SafetyGate, raw: np.ndarray, estimate: np.ndarray) -> list[bool]:
    """Per second, whether ``gate`` wrote it raw."""
    return [decision.fallback for decision in decisions(gate, raw, estimate)]


def onset_seconds(raw: np.ndarray, truth: np.ndarray, onset_window: int, settle: int = 32) -> int:
    """Worst count of seconds written as cleaned after the estimate turns bad, over onsets every 64 s."""
    worst = 0
    for turn in range(settle, raw.size // RATE - 32, 64):
        window = slice((turn - settle) * RATE, (turn + 32) * RATE)
        gain = np.where(np.arange(window.stop - window.start) >= settle * RATE, BAD_GAIN, 1.0)
        written = fallbacks(
            SafetyGate(RATE, BAND, check_range=CHECK, onset_window=onset_window), raw[window], gain * truth[window]
        )
        after = written[settle:]
        worst = max(worst, after.index(True) if True in after else len(after))
    return worst


def added_noise(
    raw: np.ndarray, ratio: float, rng: np.random.Generator, band: tuple[float, float] = ADDED_BAND
) -> np.ndarray:
    """Noise flat in ``band`` whose power is ``ratio**2 - 1`` times the raw strain's mean power there."""
    spectrum = np.fft.rfft(rng.normal(size=raw.size))
    frequencies = np.fft.rfftfreq(raw.size, 1 / RATE)
    outside = (frequencies < band[0]) | (frequencies >= band[1])
    raw_power = np.mean(np.abs(np.fft.rfft(raw))[~outside] ** 2)
    spectrum[outside] = 0
    spectrum *= np.sqrt((ratio**2 - 1) * raw_power / np.mean(np.abs(spectrum[~outside]) ** 2))
    return np.fft.irfft(spectrum, n=raw.size)


def spread_noise(raw: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise that, added to the perfect estimate ``truth``, leaves the cleaned ASD at the ratio :data:`SPREAD`
    gives times the raw ASD in every 1 Hz bin of its bands."""
    spectrum = np.fft.rfft(rng.normal(size=raw.size))
    frequencies = np.fft.rfftfreq(raw.size, 1 / RATE)
    raw_power, floor_power = np.abs(np.fft.rfft(raw)) ** 2, np.abs(np.fft.rfft(raw - truth)) ** 2
    scale = np.zeros(frequencies.size)
    for (start, stop), ratio in SPREAD:
        for low in np.arange(start, stop):
            inside = (frequencies >= low) & (frequencies < low + 1.0)
            added = ratio**2 * np.mean(raw_power[inside]) - np.mean(floor_power[inside])
            scale[inside] = np.sqrt(max(added, 0.0) / np.mean(np.abs(spectrum[inside]) ** 2))
    return np.fft.irfft(spectrum * scale, n=raw.size)


def narrowing(raw: np.ndarray, truth: np.ndarray, noise: np.ndarray, onset_window: int) -> dict[str, float]:
    """The injected noise plus ``noise`` (zero over the first :data:`TRUSTED` s) as the whole estimate and both
    band-passed to :data:`NARROWED_BAND` as the narrowed one (as a chain makes it): per gate, without and with
    the narrowed estimate, over the seconds after :data:`TRUSTED`, the seconds written raw and narrowed, the
    share of the injected in-band noise removed and the worst ASD ratio of a bin 56-64 Hz."""
    whole = truth + noise
    narrowed = zero_phase_bandpass(whole, bandpass_sos(NARROWED_BAND, RATE))
    after = slice(TRUSTED * RATE, None)
    figures = {}
    for label, given in (("raw", None), ("narrowed", narrowed)):
        made = decisions(SafetyGate(RATE, BAND, check_range=CHECK, onset_window=onset_window), raw, whole, given)
        written = np.concatenate([d.output for d in made])[after]
        ratios = BinPowers.of_strain(raw[after], written, RATE).bin_asd_ratios()
        figures[label] = {
            "raw_seconds": sum(d.fallback for d in made[TRUSTED:]),
            "narrowed_seconds": sum(d.narrowed for d in made[TRUSTED:]),
            "removed": fraction_removed(truth[after], raw[after] - written, RATE, BAND),
            "worst_beside_carrier": float(np.max(ratios[56:65])),
        }
    return figures


def both(figures: dict, key: str) -> tuple:
    """``key`` of :func:`narrowing`'s figures with the raw fallback, then with the narrowed estimate."""
    return figures["raw"][key], figures["narrowed"][key]


def after_trust(noise: np.ndarray) -> np.ndarray:
    """``noise`` from :data:`TRUSTED` s on, zero before."""
    return np.where(np.arange(noise.size) >= TRUSTED * RATE, noise, 0.0)


def trips(gate: SafetyGate, raw: np.ndarray, estimate: np.ndarray) -> tuple[int, list[str]]:
    """Seconds written raw by ``gate``, and for each trip (a second that enters the fallback) what failed."""
    seconds, found, before = 0, [], False
    for s, decision in enumerate(decisions(gate, raw, estimate)):
        seconds += decision.fallback
        if decision.fallback and not before:
            failed = decision.failed_judgement
            which = "newest" if failed is decision.newest else "window"
            found.append(f"s{s} {which}: {failed.describe() if failed else 'held'}")
        before = decision.fallback
    return seconds, found


def flapping(
    raw: np.ndarray, truth: np.ndarray, onset_window: int, max_backoff: int, seed: int
) -> tuple[int, int, int]:
    """An estimate that is good (the injected noise) or bad (2.2x it) in random 8 s blocks, bad one time in
    three: the bad seconds written as cleaned, the good seconds written raw, and the aligned windows of the
    gate's length whose written output added noise while some of their seconds were written as cleaned (the
    loop benchmark's guard, ``bench/quality/loop.py``)."""
    blocks = raw.size // RATE // 8
    bad = np.repeat(np.random.default_rng(seed).random(blocks) < 1 / 3, 8)
    gain = np.repeat(np.where(bad, BAD_GAIN, 1.0), RATE)
    estimate = gain * truth[: gain.size]
    gate = SafetyGate(RATE, BAND, check_range=CHECK, onset_window=onset_window, max_backoff=max_backoff)
    made = decisions(gate, raw[: estimate.size], estimate)
    written = np.concatenate([d.output for d in made])
    cleaned = np.array([not d.fallback for d in made])
    noisy = 0
    for start in range(0, bad.size - gate.window + 1, gate.window):
        seconds = slice(start, start + gate.window)
        if cleaned[seconds].any():
            samples = slice(start * RATE, (start + gate.window) * RATE)
            powers = BinPowers.of_strain(raw[samples], written[samples], RATE)
            noisy += not judge_bins(powers, BAND, CHECK, gate.sigma, gate.min_excess, gate.band_tolerance).passed
    return int(np.sum(cleaned & bad)), int(np.sum(~cleaned & ~bad)), noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    parser.add_argument("--seconds", type=int, default=1024, help="seconds of each scenario (default 1024)")
    parser.add_argument("--added-seconds", type=int, default=256, help="seconds judged with noise added")
    parser.add_argument("--onset-windows", type=int, nargs="+", default=[0, 4])
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the gate logs every trip
    sos = bandpass_sos(ESTIMATE_BAND, RATE)
    totals = dict.fromkeys(args.onset_windows, 0)
    print(f"{'scenario':20s} onset window: false / onset / added " + " / ".join(f"x{r}" for r in ADDED_RATIOS))
    for name in args.scenarios:
        span = SyntheticDetector(scenario_config(name, seed=args.seed)).generate(1400100000, args.seconds)
        raw, truth = span.strain, zero_phase_bandpass(span.truth, sos)
        for onset_window in args.onset_windows:
            false, tripped = trips(SafetyGate(RATE, BAND, check_range=CHECK, onset_window=onset_window), raw, truth)
            totals[onset_window] += false
            shares = []
            part = slice(0, args.added_seconds * RATE)
            for ratio in ADDED_RATIOS:
                estimate = truth[part] + added_noise(raw[part], ratio, np.random.default_rng(0))
                gate = SafetyGate(RATE, BAND, check_range=CHECK, onset_window=onset_window)
                written_raw = fallbacks(gate, raw[part], estimate)
                shares.append(f"{100 * np.mean(written_raw):.0f} %")
            print(
                f"{name:20s} {onset_window:2d}: {false:4d} s / {onset_seconds(raw, truth, onset_window):2d} s / "
                + " / ".join(shares),
                flush=True,
            )
            for trip in tripped:
                print(f"    false trip at {trip}", flush=True)
            part = slice(0, (TRUSTED + args.added_seconds) * RATE)
            rng = np.random.default_rng(1)
            edge = narrowing(
                raw[part], truth[part], after_trust(added_noise(raw[part], EDGE_RATIO, rng, EDGE_BAND)), onset_window
            )
            bad = narrowing(
                raw[part], truth[part], after_trust(spread_noise(raw[part], truth[part], rng)), onset_window
            )
            print(
                "    noise at the band's edge, raw fallback / narrowed: seconds raw {} / {}, narrowed {} / {}, "
                "removed {:.1%} / {:.1%}".format(
                    *both(edge, "raw_seconds"), *both(edge, "narrowed_seconds"), *both(edge, "removed")
                ),
                flush=True,
            )
            print(
                "    bad across the band, raw fallback / narrowed: seconds narrowed {} / {}, worst bin 56-64 Hz "
                "{:.3f} / {:.3f}".format(*both(bad, "narrowed_seconds"), *both(bad, "worst_beside_carrier")),
                flush=True,
            )
            flaps = [flapping(raw, truth, onset_window, backoff, args.seed) for backoff in (1, 8)]
            print(
                "    flapping, hold x1 / up to x8: bad seconds written cleaned {} / {}, good seconds written raw "
                "{} / {}, noisy windows with cleaned seconds {} / {}".format(*np.array(flaps).T.ravel()),
                flush=True,
            )
    for onset_window, false in totals.items():
        seconds = args.seconds * len(args.scenarios)
        print(f"onset window {onset_window}: {false} of {seconds} s written raw with a perfect estimate")


if __name__ == "__main__":
    main()
