"""The safety gate: never write a second cleaned worse than raw, judged bin by bin."""

import logging

import numpy as np
import pytest

from deepclean.figures import BinPowers
from deepclean.signal import bandpass_sos, zero_phase_bandpass
from deepclean.synthetic import DetectorConfig, SyntheticDetector
from deepclean_cleaner.safety import NARROWING_TRUST, SafetyGate, narrowed_safety_band

RATE = 16384
BAND = (58.0, 62.0)
CHECK = (10.0, 2000.0)


def line(seconds_from: int, amplitude: float, frequency: float = 60.0, seconds: int = 1) -> np.ndarray:
    t = np.arange(seconds * RATE) / RATE + seconds_from
    return amplitude * np.sin(2 * np.pi * frequency * t)


def floor(rng, seconds: int = 1) -> np.ndarray:
    return rng.normal(scale=1.0, size=seconds * RATE)


def band_noise(rng, seconds: int, band: tuple[float, float], asd_ratio: float) -> np.ndarray:
    """Noise flat in ``band`` (Hz) that raises the ASD of the unit white :func:`floor` by ``asd_ratio`` there."""
    size = seconds * RATE
    spectrum = np.fft.rfft(rng.normal(size=size))
    frequencies = np.fft.rfftfreq(size, 1 / RATE)
    spectrum[(frequencies < band[0]) | (frequencies >= band[1])] = 0
    noise = np.fft.irfft(spectrum, n=size)
    variance = (asd_ratio**2 - 1) * (band[1] - band[0]) / (RATE / 2)
    return noise * np.sqrt(variance) / np.std(noise)


def run(gate: SafetyGate, raw: np.ndarray, noise: np.ndarray) -> list:
    """The gate's decisions for every second of ``raw`` and ``noise``."""
    return [
        gate.process(raw[s * RATE : (s + 1) * RATE], noise[s * RATE : (s + 1) * RATE]) for s in range(raw.size // RATE)
    ]


@pytest.fixture(scope="module")
def synthetic():
    """64 s of the synthetic detector: strain, and its injected noise band-passed to 57-63 Hz."""
    span = SyntheticDetector(DetectorConfig(seed=1)).generate(1400000000, 64)
    return span.strain, zero_phase_bandpass(span.truth, bandpass_sos((57.0, 63.0), RATE))


def test_a_good_estimate_is_subtracted_in_full():
    """Removing the real line lowers the in-band ASD: no fallback, weight 1, output raw - noise."""
    rng = np.random.default_rng(0)
    gate = SafetyGate(RATE, BAND)
    for second in range(10):
        noise = line(second, 20.0)
        raw = floor(rng) + noise
        decision = gate.process(raw, noise)
        assert not decision.fallback
        np.testing.assert_allclose(decision.output, raw - noise)
    assert decision.band_ratio < 0.5 and decision.worst_bin < 1.01 and not decision.failing_bins


def test_the_true_noise_as_estimate_never_falls_back(synthetic):
    """The injected noise itself, band-passed as the cleaner does, passes every second of 64 s."""
    strain, truth = synthetic
    decisions = run(SafetyGate(RATE, BAND, check_range=CHECK), strain, truth)
    assert not any(d.fallback for d in decisions)
    assert max(d.band_ratio for d in decisions) < 0.2


def test_noise_added_next_to_the_band_falls_back_though_the_carrier_removal_outweighs_it():
    """The field case: the carrier almost entirely removed, 1.6x the ASD added at 56-58 and 62-64 Hz.

    Summed over the band and 4 Hz either side the cleaned power is far below raw (what a
    band-and-shoulders gate accepted); judged bin by bin the gate falls back, naming those bins.
    """
    rng = np.random.default_rng(2)
    seconds = 24
    carrier = line(0, 20.0, seconds=seconds)
    raw = floor(rng, seconds) + carrier
    added = band_noise(rng, seconds, (55.5, 58.5), 1.6) + band_noise(rng, seconds, (61.5, 64.5), 1.6)
    estimate = 0.995 * carrier + added
    whole = BinPowers.of_strain(raw, raw - estimate, RATE)
    ratios = whole.bin_asd_ratios()
    assert np.all(ratios[[56, 57, 58, 62, 63, 64]] > 1.3)
    near = (whole.frequencies >= BAND[0] - 4) & (whole.frequencies <= BAND[1] + 4)
    assert whole.cleaned[near].sum() < 0.01 * whole.raw[near].sum()
    decisions = run(SafetyGate(RATE, BAND, check_range=CHECK), raw, estimate)
    full_window = decisions[8:]
    assert sum(d.fallback for d in full_window) >= 0.75 * len(full_window)
    tripped = {f for d in decisions for f, _ in d.failing_bins}
    assert tripped and tripped <= set(range(54, 68)) and tripped & {56.0, 57.0, 58.0, 62.0, 63.0, 64.0}
    for second, d in enumerate(decisions):
        if d.fallback:  # raw strain once the taper is over
            np.testing.assert_array_equal(d.output[RATE // 4 :], raw[second * RATE + RATE // 4 : (second + 1) * RATE])


def test_a_line_added_away_from_the_band_falls_back_and_is_named():
    """Cleaning that adds a line at 75 Hz is refused in its first second; the bin and ratio are reported."""
    rng = np.random.default_rng(4)
    noise = line(0, 20.0)
    raw = floor(rng) + noise
    decision = SafetyGate(RATE, BAND).process(raw, noise + line(0, 0.5, frequency=75.0))
    assert decision.fallback and decision.band_ratio < 0.5
    assert decision.worst_bin_frequency == 75.0 and decision.worst_bin > 10
    assert [f for f, _ in decision.failing_bins] == [74.0, 75.0, 76.0]  # the Hann window's main lobe
    np.testing.assert_array_equal(decision.output[RATE // 4 :], raw[RATE // 4 :])


def test_noise_added_at_a_tenth_of_a_percent_does_not_fall_back(synthetic):
    """0.1 % more ASD, at 62-64 Hz next to the true-noise estimate or across 10-2000 Hz, is no fallback."""
    strain, truth = synthetic
    rng = np.random.default_rng(9)
    seconds = strain.size // RATE
    raw = BinPowers.of_strain(strain, strain, RATE)
    unit_floor = raw.seconds * 0.375 * RATE  # a 1 Hz bin's power of floor(): variance 1, Hann window
    near = sum(
        band_noise(rng, seconds, (f - 0.5, f + 0.5), 1.001) * np.sqrt(raw.raw[f] / unit_floor) for f in (62, 63, 64)
    )
    added = BinPowers.of_strain(near, np.zeros(near.size), RATE).raw[62:65] / raw.raw[62:65]
    assert np.all((np.sqrt(1 + added) > 1.0005) & (np.sqrt(1 + added) < 1.002))  # ~0.1 %, leakage aside
    assert not any(d.fallback for d in run(SafetyGate(RATE, BAND, check_range=CHECK), strain, truth + near))
    carrier = line(0, 20.0, seconds=32)
    raw = floor(rng, 32) + carrier
    broadband = rng.normal(scale=np.sqrt(1.001**2 - 1), size=raw.size)
    assert not any(d.fallback for d in run(SafetyGate(RATE, BAND, check_range=CHECK), raw, carrier + broadband))


def test_an_estimate_that_adds_noise_in_band_falls_back_to_raw():
    """An estimate out of phase with the line doubles it in band: raw strain is written, flagged."""
    rng = np.random.default_rng(1)
    gate = SafetyGate(RATE, BAND, taper=0.25)
    raw = floor(rng) + line(0, 20.0)
    decision = gate.process(raw, -line(0, 20.0))
    assert decision.fallback and decision.band_ratio > 1.5 and decision.judgement.band_failed
    ramp = int(0.25 * RATE)
    np.testing.assert_array_equal(decision.output[ramp:], raw[ramp:])
    assert decision.fallback_samples[1:].all()
    assert np.all(np.diff(decision.weight[:ramp]) <= 0) and decision.weight[0] == 1.0


def first_fallback_after_the_estimate_turns_bad(strain, truth, onset_window: int) -> int:
    """Seconds written cleaned after the true-noise estimate turns into 2.2x itself (in-band ASD ratio ~1.15)."""
    gate = SafetyGate(RATE, (55.0, 65.0), check_range=CHECK, onset_window=onset_window)
    turn = 32
    estimate = np.concatenate([truth[: turn * RATE], 2.2 * truth[turn * RATE :]])
    decisions = run(gate, strain, estimate)
    assert not any(d.fallback for d in decisions[:turn])
    return next(i for i, d in enumerate(decisions[turn:]) if d.fallback)


def test_an_estimate_that_turns_bad_at_once_falls_back_within_three_seconds(synthetic):
    """The newest 4 s are judged on their own: the 16 s window alone writes 14 bad seconds as cleaned."""
    strain, truth = synthetic
    assert first_fallback_after_the_estimate_turns_bad(strain, truth, onset_window=4) <= 3
    assert first_fallback_after_the_estimate_turns_bad(strain, truth, onset_window=0) >= 10


def test_a_trip_of_the_newest_seconds_is_logged_as_theirs(caplog):
    """An over-subtraction of the line (cleaned 1.5x raw at 60 Hz) in the newest second: the 16 s window
    still passes, the newest 2 s fail, and the log says which judgement tripped."""
    rng = np.random.default_rng(4)
    gate = SafetyGate(RATE, BAND, window=16, onset_window=2, stream="production")
    caplog.set_level(logging.WARNING, logger="deepclean_cleaner.safety")
    for second in range(14):
        assert not gate.process(floor(rng) + line(second, 20.0), line(second, 20.0)).fallback
    tripped = gate.process(floor(rng) + line(14, 20.0), 2.5 * line(14, 20.0))
    assert tripped.fallback and tripped.judgement.passed and tripped.newest.band_failed
    assert tripped.failed_judgement is tripped.newest
    [record] = caplog.records
    assert "the newest 2 s alone: band ASD ratio" in record.getMessage()


def test_the_newest_onset_window_seconds_are_judged_once_the_window_holds_more(monkeypatch):
    """Each second: the window (up to 16 s), and the newest 4 s alone once the window holds more than 4."""
    gate = SafetyGate(RATE, BAND, window=16, onset_window=4)
    judged = []
    judge = gate._judge
    monkeypatch.setattr(gate, "_judge", lambda seconds: judged.append(len(seconds)) or judge(seconds))
    rng = np.random.default_rng(5)
    for second in range(20):
        judged.clear()
        gate.process(floor(rng) + line(second, 20.0), line(second, 20.0))
        assert judged == ([min(second + 1, 16), 4] if second >= 4 else [second + 1])


def test_a_trip_of_the_newest_seconds_holds_the_fallback_for_a_whole_window():
    """After one over-subtracted second, passing seconds stay raw until 16 of them have followed."""
    rng = np.random.default_rng(4)
    gate = SafetyGate(RATE, BAND, window=16, onset_window=2)
    for second in range(14):
        gate.process(floor(rng) + line(second, 20.0), line(second, 20.0))
    assert gate.process(floor(rng) + line(14, 20.0), 2.5 * line(14, 20.0)).fallback
    after = [gate.process(floor(rng) + line(s, 20.0), line(s, 20.0)) for s in range(15, 40)]
    assert all(d.judgement.passed and d.newest.passed for d in after[1:])  # the bad second out of the newest 2
    assert [d.fallback for d in after] == [True] * 16 + [False] * 9


def fallback_lengths(gate: SafetyGate, pattern: str, rng) -> list[int]:
    """Run ``gate`` on seconds that are good ("g": the line's own estimate) or bad ("b": 2.5x it); the length
    of every run of fallback seconds."""
    runs, current = [], 0
    for second, kind in enumerate(pattern):
        estimate = (2.5 if kind == "b" else 1.0) * line(second, 20.0)
        if gate.process(floor(rng) + line(second, 20.0), estimate).fallback:
            current += 1
        elif current:
            runs, current = [*runs, current], 0
    return [*runs, current] if current else runs


def test_a_trip_soon_after_the_fallback_ended_holds_twice_as_long():
    """Trips 8 s apart after each release hold 16, 32, 64 s; after 64 s cleaned, 16 s again."""
    gate = SafetyGate(RATE, BAND, window=16, onset_window=2)
    soon = "g" * 20 + "b" + "g" * 16 + "g" * 8 + "b" + "g" * 32 + "g" * 8 + "b" + "g" * 64
    again = "g" * 64 + "b" + "g" * 20
    assert fallback_lengths(gate, soon + again, np.random.default_rng(7)) == [17, 33, 65, 17]


def test_without_backoff_every_trip_holds_one_window():
    gate = SafetyGate(RATE, BAND, window=16, onset_window=2, max_backoff=1)
    pattern = "g" * 20 + "b" + "g" * 24 + "b" + "g" * 24
    assert fallback_lengths(gate, pattern, np.random.default_rng(7)) == [17, 17]


def test_a_new_model_starts_without_backoff():
    gate = SafetyGate(RATE, BAND, window=16, onset_window=2)
    rng = np.random.default_rng(7)
    assert fallback_lengths(gate, "g" * 20 + "b" + "g" * 24 + "b" + "g" * 40, rng) == [17, 33]
    gate.new_estimate()
    assert fallback_lengths(gate, "g" * 20 + "b" + "g" * 20, rng) == [17]


def test_bins_failing_in_the_window_or_in_the_newest_seconds_are_all_reported():
    """Noise at 75 Hz for the whole window and at 90 Hz in the newest second: both bins are named."""
    rng = np.random.default_rng(6)
    gate = SafetyGate(RATE, BAND, window=8, onset_window=2, enabled=False)
    for second in range(8):
        decision = gate.process(
            floor(rng) + line(second, 20.0),
            line(second, 20.0) + line(second, 0.3, frequency=75.0) + line(second, 3.0 * (second == 7), frequency=90.0),
        )
    frequencies = {f for f, _ in decision.failing_bins}
    assert {75.0, 90.0} <= frequencies
    assert 90.0 in decision.newest.failing_bins and 75.0 in decision.judgement.failing_bins


def test_a_negative_onset_window_is_refused():
    with pytest.raises(ValueError, match="onset window"):
        SafetyGate(RATE, BAND, onset_window=-1)


def test_entering_and_leaving_the_fallback_is_logged_once_each(caplog):
    """A WARNING names the failing bins when the fallback starts, an INFO gives its length when it ends;
    nothing is logged while it lasts."""
    rng = np.random.default_rng(3)
    gate = SafetyGate(RATE, BAND, window=2, stream="canary")
    caplog.set_level(logging.INFO, logger="deepclean_cleaner.safety")
    for second in range(3):
        gate.process(floor(rng) + line(second, 20.0), line(second, 20.0) + line(second, 0.5, frequency=75.0))
    for second in range(3, 8):
        gate.process(floor(rng) + line(second, 20.0), line(second, 20.0))
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(messages) == 2
    (level, entering), (level_out, leaving) = messages
    assert level == "WARNING" and entering.startswith("canary: safety fallback") and "75 Hz x" in entering
    # seconds 0-3 judge a window holding a bad second; cleaning resumes with the second passing judgement
    # in a row (window 2), at second 5
    assert level_out == "INFO" and "after 5 s" in leaving


def test_cleaning_fades_back_in_once_the_window_is_good_again():
    """After the bad second leaves the window, the subtraction ramps back in and the bit clears."""
    rng = np.random.default_rng(3)
    gate = SafetyGate(RATE, BAND, window=2, taper=0.25)
    noise = line(0, 20.0)
    gate.process(floor(rng) + noise, -noise)
    states = [gate.process(floor(rng) + line(s, 20.0), line(s, 20.0)) for s in range(1, 5)]
    back = next(i for i, d in enumerate(states) if not d.fallback)
    ramp_in = states[back]
    assert ramp_in.weight[0] == 0.0 and ramp_in.weight[-1] == 1.0 and ramp_in.fallback_samples[0]
    assert not states[back + 1].fallback_samples.any()


def test_a_second_without_estimate_is_raw_and_the_next_one_fades_in():
    """No estimate: raw output; the following cleaned second starts from weight 0 (tapered in), and the
    taper's samples are flagged (raw written in part: a line faded in spreads over its neighbouring bins)."""
    rng = np.random.default_rng(4)
    gate = SafetyGate(RATE, BAND)
    raw = floor(rng)
    decision = gate.process(raw, None)
    np.testing.assert_array_equal(decision.output, raw)
    assert decision.judgement is None and np.isnan(decision.band_ratio)
    following = gate.process(floor(rng) + line(1, 20.0), line(1, 20.0))
    assert following.weight[0] == 0.0 and following.weight[-1] == 1.0
    np.testing.assert_array_equal(following.fallback_samples, following.weight < 1.0)
    assert not following.fallback and not gate.process(floor(rng) + line(2, 20.0), line(2, 20.0)).fallback_samples.any()


def test_disabled_gate_never_falls_back():
    """With the gate disabled a harmful estimate is still subtracted (for offline comparisons)."""
    rng = np.random.default_rng(5)
    gate = SafetyGate(RATE, BAND, enabled=False)
    raw = floor(rng) + line(0, 20.0)
    decision = gate.process(raw, -line(0, 20.0))
    assert not decision.fallback and not decision.judgement.passed
    np.testing.assert_allclose(decision.output, raw + line(0, 20.0))


def test_a_non_finite_estimate_is_never_written():
    """A version predicting NaN or inf gives raw strain with the safety bit, then fades back in."""
    rng = np.random.default_rng(6)
    gate = SafetyGate(RATE, BAND)
    raw = floor(rng) + line(0, 20.0)
    noise = line(0, 20.0)
    noise[100] = np.nan
    decision = gate.process(raw, noise)
    assert decision.fallback and decision.fallback_samples.all()
    np.testing.assert_array_equal(decision.output, raw)
    following = gate.process(floor(rng) + line(1, 20.0), line(1, 20.0))
    assert np.isfinite(following.output).all() and following.weight[0] == 0.0


def test_non_finite_strain_does_not_spoil_the_window():
    """A NaN in the raw strain stays in that second only; the next seconds are judged normally."""
    rng = np.random.default_rng(7)
    gate = SafetyGate(RATE, BAND)
    raw = floor(rng) + line(0, 20.0)
    raw[5] = np.nan
    gate.process(raw, line(0, 20.0))
    decision = gate.process(floor(rng) + line(1, 20.0), line(1, 20.0))
    assert np.isfinite(decision.band_ratio) and decision.band_ratio < 0.5 and not decision.fallback


WIDE = (55.0, 65.0)


def edge_case(seconds: int, bad: range, rng, asd_ratio: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw strain with a 60 Hz line; a whole estimate that is the line, plus ``asd_ratio`` x the floor's ASD at
    63.5-65 Hz in the ``bad`` seconds; its narrowed part (57-63 Hz), the line alone."""
    carrier = line(0, 20.0, seconds=seconds)
    raw = floor(rng, seconds) + carrier
    added = band_noise(rng, seconds, (63.5, 65.0), asd_ratio)
    mask = np.zeros(seconds * RATE)
    for second in bad:
        mask[second * RATE : (second + 1) * RATE] = 1.0
    return raw, carrier + mask * added, carrier


WINDOW = SafetyGate(RATE, WIDE).window
TRUSTED = WINDOW - 1 + NARROWING_TRUST * WINDOW
"""Seconds from a model's first until its whole estimate has been written over full windows long enough for a
narrowed one to replace it (the first full window ends with second ``WINDOW - 1``)."""


def run_narrowed(gate: SafetyGate, raw: np.ndarray, whole: np.ndarray, narrowed: np.ndarray) -> list:
    spans = [slice(s * RATE, (s + 1) * RATE) for s in range(raw.size // RATE)]
    return [gate.process(raw[span], whole[span], narrowed[span]) for span in spans]


def test_an_estimate_adding_noise_at_the_band_edge_is_written_narrowed_and_the_whole_one_returns():
    """3x the ASD added at 63.5-65 Hz for 8 s after the whole estimate was written for TRUSTED s: the narrowed
    estimate (the line) is written, flagged, not raw; the whole estimate comes back once a window of passing
    seconds has followed, cross-faded."""
    bad = range(TRUSTED + 4, TRUSTED + 12)
    raw, whole, narrowed = edge_case(TRUSTED + 64, bad, np.random.default_rng(11), asd_ratio=3.0)
    decisions = run_narrowed(SafetyGate(RATE, WIDE, check_range=CHECK), raw, whole, narrowed)
    written = ["n" if d.narrowed else "r" if d.fallback else "w" for d in decisions]
    assert not any(d.fallback for d in decisions)
    first = written.index("n")
    assert first in bad and written[:first] == ["w"] * first
    assert set(written[first:]) == {"n", "w"} and written[-1] == "w"
    assert "".join(written).count("n") >= 16  # held for a window
    tripped = {f for d in decisions for f, _ in d.failing_bins}
    assert tripped and tripped <= set(range(62, 70))
    for second, d in enumerate(decisions[first + 1 :], start=first + 1):
        if d.narrowed:  # whole cross-faded out within the first second: the line subtracted, not raw
            span = slice(second * RATE, (second + 1) * RATE)
            np.testing.assert_allclose(d.output, raw[span] - narrowed[span])
            assert d.narrowed_samples.all() and not d.fallback_samples.any() and np.all(d.weight == 1.0)
    ramp = SafetyGate(RATE, WIDE).taper * RATE
    for second, towards_narrowed in ((first, True), (written.index("w", first), False)):
        # a half-cosine cross-fade over the taper: the weights of the two estimates sum to one, nothing raw
        d, span = decisions[second], slice(second * RATE, (second + 1) * RATE)
        np.testing.assert_allclose(d.weight, 1.0)
        assert not d.fallback_samples.any()
        fading = np.arange(RATE) < ramp
        share = 0.5 - 0.5 * np.cos(np.pi * np.arange(RATE) / ramp)  # of the estimate faded in
        narrowed_weight = np.where(fading, share if towards_narrowed else 1.0 - share, float(towards_narrowed))
        np.testing.assert_array_equal(d.narrowed_samples, narrowed_weight > 0)
        expected = raw[span] - (1.0 - narrowed_weight) * whole[span] - narrowed_weight * narrowed[span]
        np.testing.assert_allclose(d.output, expected, atol=1e-9 * np.abs(raw).max())


def test_a_model_whose_whole_estimate_fails_now_and_then_from_its_start_is_written_raw_never_narrowed():
    """Edge noise for 4 s of every 40 from the model's first second, for four times the trust, no backoff: the
    whole estimate is written for over 3 windows in all but never for the trust in a row, so its narrowed
    part (which passes every judgement) replaces it nowhere; the same after a switch from a trusted model."""
    seconds = 4 * TRUSTED
    bad = [s for s in range(seconds) if s % 40 < 4]
    raw, whole, narrowed = edge_case(seconds, bad, np.random.default_rng(16), asd_ratio=3.0)
    gate = SafetyGate(RATE, WIDE, check_range=CHECK, max_backoff=1)
    decisions = run_narrowed(gate, raw, whole, narrowed)
    assert sum(not d.fallback for d in decisions) > NARROWING_TRUST * WINDOW
    assert not any(d.narrowed for d in decisions) and not gate._whole.trusted

    gate.new_estimate()
    good = edge_case(TRUSTED + WINDOW, range(0), np.random.default_rng(17))
    assert not any(d.narrowed or d.fallback for d in run_narrowed(gate, *good)) and gate._whole.trusted
    gate.new_estimate()
    assert not any(d.narrowed for d in run_narrowed(gate, raw, whole, narrowed))


@pytest.mark.parametrize("short", [8, 0], ids=["8-s-short-of-trust", "trusted"])
def test_the_narrowed_estimate_needs_the_whole_one_written_for_the_trust_in_a_row(short):
    """Edge noise after the whole estimate was written over full windows for TRUSTED s less ``short``: raw
    strain when that falls short, the narrowed estimate once it does not."""
    good = TRUSTED - short
    raw, whole, narrowed = edge_case(good + 24, range(good, good + 24), np.random.default_rng(18), asd_ratio=3.0)
    decisions = run_narrowed(SafetyGate(RATE, WIDE, check_range=CHECK), raw, whole, narrowed)
    assert not any(d.fallback or d.narrowed for d in decisions[:good])
    written_narrowed = any(d.narrowed for d in decisions[good:])
    assert written_narrowed == (short == 0)
    assert all(d.fallback for d in decisions[-8:]) == (short > 0)


def test_when_the_narrowed_estimate_adds_noise_too_raw_strain_is_written():
    """2.5x the line in both estimates: nothing narrowed is written, the fallback is raw."""
    rng = np.random.default_rng(12)
    raw = floor(rng, 24) + line(0, 20.0, seconds=24)
    bad = 2.5 * line(0, 20.0, seconds=24)
    decisions = run_narrowed(SafetyGate(RATE, WIDE, check_range=CHECK), raw, bad, bad)
    assert all(d.fallback and not d.narrowed for d in decisions)
    np.testing.assert_array_equal(decisions[-1].output, raw[-RATE:])


def test_a_disabled_gate_writes_the_whole_estimate_and_never_the_narrowed_one():
    raw, whole, narrowed = edge_case(32, range(10, 20), np.random.default_rng(13))
    decisions = run_narrowed(SafetyGate(RATE, WIDE, check_range=CHECK, enabled=False), raw, whole, narrowed)
    assert not any(d.narrowed or d.fallback for d in decisions)
    np.testing.assert_allclose(decisions[15].output, raw[15 * RATE : 16 * RATE] - whole[15 * RATE : 16 * RATE])


def test_the_narrowed_band_is_the_band_less_the_narrowing_each_side_if_enough_is_left():
    assert narrowed_safety_band((55.0, 65.0), 2.0) == (57.0, 63.0)
    assert narrowed_safety_band((58.0, 62.0), 2.0) is None
    assert narrowed_safety_band((55.0, 65.0), 0.0) is None


def test_the_narrowed_estimate_forgets_its_backoff_once_it_has_been_released_long_enough():
    """Two band-edge episodes far apart (both estimates bad in them): each holds the narrowed estimate as
    long as the first, though it was not judged while the whole one was written in between."""
    rng = np.random.default_rng(14)
    seconds = TRUSTED + 400
    raw = floor(rng, seconds) + line(0, 20.0, seconds=seconds)
    good = line(0, 20.0, seconds=seconds)
    bad = good.copy()
    for start in (TRUSTED + 20, TRUSTED + 300):
        bad[start * RATE : (start + 2) * RATE] *= 2.5
    gate = SafetyGate(RATE, WIDE, check_range=CHECK, onset_window=2)
    decisions = run_narrowed(gate, raw, bad, bad)
    raw_runs, current = [], 0
    for d in decisions:
        if d.fallback:
            current += 1
        elif current:
            raw_runs, current = [*raw_runs, current], 0
    assert len(raw_runs) == 2 and raw_runs[0] == raw_runs[1]


def test_non_finite_strain_while_narrowed_keeps_the_narrowed_flag():
    end = TRUSTED + 24
    raw, whole, narrowed = edge_case(end + 8, range(TRUSTED + 4, end + 8), np.random.default_rng(15))
    gate = SafetyGate(RATE, WIDE, check_range=CHECK)
    decisions = run_narrowed(gate, raw[: end * RATE], whole[: end * RATE], narrowed[: end * RATE])
    assert decisions[-1].narrowed
    span = slice(end * RATE, (end + 1) * RATE)
    strain = raw[span].copy()
    strain[100] = np.nan
    d = gate.process(strain, whole[span], narrowed[span])
    assert d.narrowed and d.narrowed_samples.all()
    np.testing.assert_allclose(d.output[200:], strain[200:] - narrowed[span][200:])


def test_a_model_trusted_elsewhere_is_written_narrowed_from_its_first_window():
    """``new_estimate(trusted=True)`` (a canary promoted to production): edge noise in the model's first
    seconds is written narrowed, not raw; without it, raw."""
    raw, whole, narrowed = edge_case(48, range(20, 28), np.random.default_rng(19), asd_ratio=3.0)
    for trusted in (True, False):
        gate = SafetyGate(RATE, WIDE, check_range=CHECK)
        gate.new_estimate(trusted=trusted)
        decisions = run_narrowed(gate, raw, whole, narrowed)
        assert any(d.narrowed for d in decisions) == trusted
        assert any(d.fallback for d in decisions) != trusted
