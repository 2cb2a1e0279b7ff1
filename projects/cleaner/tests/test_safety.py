"""The safety gate: never write a second cleaned worse than raw."""

import numpy as np
from deepclean_cleaner.safety import SafetyGate

RATE = 16384


def line(seconds_from: int, amplitude: float, frequency: float = 60.0) -> np.ndarray:
    t = np.arange(RATE) / RATE + seconds_from
    return amplitude * np.sin(2 * np.pi * frequency * t)


def floor(rng) -> np.ndarray:
    return rng.normal(scale=1.0, size=RATE)


def test_a_good_estimate_is_subtracted_in_full():
    """Removing the real line lowers the in-band ASD: no fallback, weight 1, output raw - noise."""
    rng = np.random.default_rng(0)
    gate = SafetyGate(RATE, (58.0, 62.0))
    for second in range(10):
        noise = line(second, 20.0)
        raw = floor(rng) + noise
        decision = gate.process(raw, noise)
        assert not decision.fallback
        np.testing.assert_allclose(decision.output, raw - noise)
    assert decision.band_ratio < 0.2
    assert decision.worst_out_of_band_ratio < 1.01


def test_an_estimate_that_adds_noise_in_band_falls_back_to_raw():
    """An estimate out of phase with the line doubles it in band: raw strain is written, flagged."""
    rng = np.random.default_rng(1)
    gate = SafetyGate(RATE, (58.0, 62.0), taper=0.25)
    raw = floor(rng) + line(0, 20.0)
    decision = gate.process(raw, -line(0, 20.0))
    assert decision.fallback and decision.band_ratio > 1.5
    ramp = int(0.25 * RATE)
    np.testing.assert_array_equal(decision.output[ramp:], raw[ramp:])
    assert decision.fallback_samples[1:].all()
    assert np.all(np.diff(decision.weight[:ramp]) <= 0) and decision.weight[0] == 1.0


def test_an_estimate_that_adds_noise_out_of_band_falls_back_to_raw():
    """Cleaning that raises a 1 Hz bin outside the band beyond the tolerance is refused."""
    rng = np.random.default_rng(2)
    gate = SafetyGate(RATE, (58.0, 62.0), out_of_band_tolerance=1.05)
    raw = floor(rng) + line(0, 20.0)
    estimate = line(0, 20.0) + line(0, 2.0, frequency=120.0)
    decision = gate.process(raw, estimate)
    assert decision.fallback and decision.worst_out_of_band_ratio > 1.05


def test_bins_next_to_the_band_are_judged_with_it_by_total_power():
    """A little power moved into the band's shoulder (63 Hz) while the line goes is accepted;
    the same power added well away from the band (75 Hz) is refused."""
    rng = np.random.default_rng(4)
    noise = line(0, 20.0)
    raw = floor(rng) + noise
    shoulder = SafetyGate(RATE, (58.0, 62.0)).process(raw, noise + line(0, 0.5, frequency=63.0))
    assert not shoulder.fallback and shoulder.band_ratio < 0.5
    away = SafetyGate(RATE, (58.0, 62.0)).process(raw, noise + line(0, 0.5, frequency=75.0))
    assert away.fallback and away.worst_out_of_band_ratio > 1.05


def test_cleaning_fades_back_in_once_the_window_is_good_again():
    """After the bad second leaves the window, the subtraction ramps back in and the bit clears."""
    rng = np.random.default_rng(3)
    gate = SafetyGate(RATE, (58.0, 62.0), window=2, taper=0.25)
    noise = line(0, 20.0)
    gate.process(floor(rng) + noise, -noise)
    states = [
        gate.process(floor(rng) + line(s, 20.0), line(s, 20.0)) for s in range(1, 5)
    ]
    back = next(i for i, d in enumerate(states) if not d.fallback)
    ramp_in = states[back]
    assert (
        ramp_in.weight[0] == 0.0
        and ramp_in.weight[-1] == 1.0
        and ramp_in.fallback_samples[0]
    )
    assert not states[back + 1].fallback_samples.any()


def test_a_second_without_estimate_is_raw_and_the_next_one_fades_in():
    """No estimate: raw output; the following cleaned second starts from weight 0 (tapered in)."""
    rng = np.random.default_rng(4)
    gate = SafetyGate(RATE, (58.0, 62.0))
    raw = floor(rng)
    decision = gate.process(raw, None)
    np.testing.assert_array_equal(decision.output, raw)
    following = gate.process(floor(rng) + line(1, 20.0), line(1, 20.0))
    assert (
        following.weight[0] == 0.0
        and following.weight[-1] == 1.0
        and not following.fallback_samples.any()
    )


def test_disabled_gate_never_falls_back():
    """With the gate disabled a harmful estimate is still subtracted (for offline comparisons)."""
    rng = np.random.default_rng(5)
    gate = SafetyGate(RATE, (58.0, 62.0), enabled=False)
    raw = floor(rng) + line(0, 20.0)
    decision = gate.process(raw, -line(0, 20.0))
    assert not decision.fallback
    np.testing.assert_allclose(decision.output, raw + line(0, 20.0))


def test_a_non_finite_estimate_is_never_written():
    """A version predicting NaN or inf gives raw strain with the safety bit, then fades back in."""
    rng = np.random.default_rng(6)
    gate = SafetyGate(RATE, (58.0, 62.0))
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
    gate = SafetyGate(RATE, (58.0, 62.0))
    raw = floor(rng) + line(0, 20.0)
    raw[5] = np.nan
    gate.process(raw, line(0, 20.0))
    decision = gate.process(floor(rng) + line(1, 20.0), line(1, 20.0))
    assert (
        np.isfinite(decision.band_ratio)
        and decision.band_ratio < 0.5
        and not decision.fallback
    )
