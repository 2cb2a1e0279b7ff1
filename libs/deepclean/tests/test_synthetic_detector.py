"""The synthetic detector's data: determinism, rates, spectra, couplings, state vector."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from deepclean.synthetic import ANALYSIS_READY, BLOCK_SECONDS, DetectorConfig, SyntheticDetector, SyntheticSpan
from deepclean.synthetic.colouring import design_asd
from deepclean.synthetic.state_vector import HOFT_OK, StateModel
from deepclean.testing.synthetic_spans import assert_spans_equal

T0 = 1400000000
MAINS = "H1:PEM-CS_MAINSMON_EBAY_1_DQ"
ALWAYS_READY = DetectorConfig(not_ready_interval=None)


@pytest.fixture(scope="module")
def span() -> SyntheticSpan:
    """64 s of default data (always analysis ready)."""
    return SyntheticDetector(ALWAYS_READY).generate(T0, 64)


@pytest.fixture(scope="module")
def spectra(span):
    """Welch PSDs (8 s segments) of the strain, the design-curve floor and the injected noise."""
    rate = span.strain_sample_rate
    frequencies, strain = signal.welch(span.strain, rate, nperseg=8 * rate)
    _, floor = signal.welch(span.floor, rate, nperseg=8 * rate)
    _, truth = signal.welch(span.truth, rate, nperseg=8 * rate)
    return frequencies, strain, floor, truth


def test_same_second_whatever_the_start_and_chunking():
    """A second's samples are bit-identical in one long span, second by second, and from another start."""
    start = T0 + BLOCK_SECONDS - 5  # straddles a block boundary
    whole = SyntheticDetector().generate(start, 12)
    by_second = SyntheticSpan.concatenate([SyntheticDetector().generate(start + i, 1) for i in range(12)])
    assert_spans_equal(whole, by_second)
    later = SyntheticDetector().generate(start + 7, 30)  # a "restart" in the middle, reaching further
    assert_spans_equal(whole.slice(start + 7, 5), later.slice(start + 7, 5))
    mixed = SyntheticDetector()
    mixed.generate(T0 + 10 * BLOCK_SECONDS, 3)  # unrelated work in between must not matter
    assert_spans_equal(whole.slice(start + 2, 4), mixed.generate(start + 2, 4))


def test_seed_changes_everything():
    """Different seeds give different floors, witnesses and injected noise."""
    a = SyntheticDetector(DetectorConfig(seed=1)).generate(T0, 2)
    b = SyntheticDetector(DetectorConfig(seed=2)).generate(T0, 2)
    for x, y in ((a.floor, b.floor), (a.truth, b.truth), (a.witnesses[MAINS], b.witnesses[MAINS])):
        assert abs(np.corrcoef(x, y)[0, 1]) < 0.9


def test_channels_rates_and_types(span):
    """21 witnesses at their native rates (mains 1 kHz, loops 256/512, two at 2048), strain float64, state int32."""
    assert span.strain.dtype == np.float64 and span.strain.shape == (64 * 16384,)
    assert span.state.dtype == np.int32 and span.state.shape == (64 * 16,)
    assert len(span.witnesses) == 21
    rates = span.witness_sample_rates
    assert rates[MAINS] == 1024
    assert sorted(set(rates.values())) == [256, 512, 1024, 2048]
    assert sum(rate == 2048 for rate in rates.values()) == 2
    for channel, samples in span.witnesses.items():
        assert samples.shape == (64 * rates[channel],), channel
        assert np.all(np.isfinite(samples))


def test_floor_follows_design_curve(spectra):
    """Outside the mains band the strain ASD is the design curve (median within 5 % per decade)."""
    frequencies, strain, _, _ = spectra
    design = design_asd(frequencies[1], len(frequencies))
    for low, high in ((15, 45), (80, 300), (300, 3000), (3000, 7000)):
        band = (frequencies >= low) & (frequencies < high)
        ratio = np.median(np.sqrt(strain[band]) / design[band])
        assert ratio == pytest.approx(1.0, abs=0.05), (low, high)


def test_other_design_curves_can_be_chosen():
    """Another lalsimulation curve (aLIGO design, P1200087) gives a floor that follows that curve."""
    config = DetectorConfig(design_curve="aLIGODesignSensitivityP1200087", noise_rms=0.0, not_ready_interval=None)
    span = SyntheticDetector(config).generate(T0, 16)
    frequencies, psd = signal.welch(span.strain, 16384, nperseg=4 * 16384)
    design = design_asd(frequencies[1], len(frequencies), "aLIGODesignSensitivityP1200087")
    band = (frequencies >= 20) & (frequencies < 2000)
    assert np.median(np.sqrt(psd[band]) / design[band]) == pytest.approx(1.0, abs=0.05)


def test_injected_noise_dominates_band_and_nothing_else(spectra):
    """In 58-62 Hz the injected noise exceeds the floor in every bin; outside 50-70 Hz it is negligible."""
    frequencies, _, floor, truth = spectra
    band = (frequencies >= 58) & (frequencies <= 62)
    assert np.min(truth[band] / floor[band]) > 25  # ASD ratio > 5 at the band edges
    assert truth[band].sum() / floor[band].sum() > 500  # a 99 % removal is still measurable
    outside = (frequencies > 10) & ((frequencies < 50) | (frequencies > 70))
    assert np.max(truth[outside] / floor[outside]) < 1e-4


def test_truth_is_what_was_added(span):
    """strain - truth is the floor, and the floor is the strain of a detector without mains noise."""
    quiet = SyntheticDetector(DetectorConfig(not_ready_interval=None, noise_rms=0.0)).generate(T0, 64)
    assert np.array_equal(quiet.strain, span.floor)
    assert np.allclose(span.strain - span.truth, quiet.strain, rtol=0, atol=1e-35)
    assert np.std(span.truth) == pytest.approx(5e-22, rel=0.25)


def _band_passed(x: np.ndarray, rate: int) -> np.ndarray:
    sos = signal.butter(8, [55, 65], "bandpass", fs=rate, output="sos")
    return signal.sosfiltfilt(sos, x)


def _explained_fraction(target: np.ndarray, features: np.ndarray) -> float:
    coefficients, *_ = np.linalg.lstsq(features, target, rcond=None)
    return 1 - np.var(target - features @ coefficients) / np.var(target)


def test_linear_filter_removes_about_sixty_percent_and_products_the_rest():
    """A linear fit on the mains monitor explains ~60 % of the in-band noise; mains x coupled-loop
    products explain the rest, products with the distractor loops do not."""
    detector = SyntheticDetector(ALWAYS_READY)
    span = detector.generate(T0, 64)
    rate = 1024
    target = _band_passed(signal.resample_poly(span.truth, 1, 16), rate)
    mains = signal.hilbert(_band_passed(span.witnesses[MAINS], rate))
    linear = np.stack([mains.real, mains.imag], axis=1)
    assert 0.5 < _explained_fraction(target, linear) < 0.7

    def products(channels):
        columns = [linear]
        for channel in channels:
            loop = signal.resample_poly(span.witnesses[channel], rate, span.witness_sample_rates[channel])
            columns.append(linear * loop[:, None])
        return np.concatenate(columns, axis=1)

    distractors = [c for c in detector.angular_channels if c not in detector.coupled_channels]
    assert 1 <= len(detector.coupled_channels) < len(distractors)
    assert _explained_fraction(target, products(detector.coupled_channels)) > 0.95
    assert _explained_fraction(target, products(distractors)) < 0.75


def test_couplings_drift():
    """The linear coupling's gain and phase change over hundreds of seconds."""
    mains = SyntheticDetector().mains
    times = np.arange(0, 2000, 10.0)
    coupling = mains.linear_coupling(T0, times)
    gain, phase = np.abs(coupling), np.unwrap(np.angle(coupling))
    assert np.ptp(gain) / np.mean(gain) > 0.1
    assert np.ptp(phase) > 0.2
    assert np.max(np.abs(np.diff(gain))) / np.mean(gain) < 0.05  # slow: under 5 % per 10 s


def test_state_vector_not_ready_segments():
    """Not-ready segments clear OBSERVATION_INTENT, occur at the configured rate and sit where the model says."""
    model = StateModel(seed=1, interval=3600.0, duration=30.0)
    day = 86400 * 10
    segments = model.not_ready_segments(T0, T0 + day)
    not_ready = sum(min(b, T0 + day) - max(a, T0) for a, b in segments)
    assert len(segments) == pytest.approx(day / 3600, rel=0.25)
    assert not_ready / day == pytest.approx(30 / 3600, rel=0.3)
    first, stop = segments[0]
    span = SyntheticDetector(DetectorConfig(seed=1)).generate(first - 3, stop - first + 6)
    state = span.state
    assert np.all(state[: 3 * 16] == ANALYSIS_READY) and np.all(state[-3 * 16 :] == ANALYSIS_READY)
    assert np.all(state[3 * 16 : -3 * 16] == HOFT_OK)
    assert StateModel(seed=1, interval=None).not_ready_segments(T0, T0 + day) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mains_channel": "H1:NOT-A-WITNESS"}, "mains_channel"),
        ({"witness_sample_rates": {"H1:NOPE": 256}}, "witness_sample_rates"),
        ({"num_coupled": 99}, "num_coupled"),
        ({"bilinear_fraction": 1.5}, "bilinear_fraction"),
        ({"not_ready_interval": 10.0}, "not_ready_interval"),
        ({"design_curve": "NoSuchCurve"}, "design_curve"),
    ],
)
def test_bad_configuration_names_the_key(overrides, message):
    """A bad detector setting raises ValueError naming the setting."""
    with pytest.raises(ValueError, match=message):
        SyntheticDetector(DetectorConfig(**overrides))


def test_span_slicing_rejects_outside():
    """Asking a span for seconds it does not hold is an error naming the span."""
    span = SyntheticDetector().generate(T0, 2)
    with pytest.raises(ValueError, match=str(T0)):
        span.slice(T0 + 1, 2)
