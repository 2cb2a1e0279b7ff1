"""The synthetic detector's scenarios: each deterministic, honest about its truth, and showing its feature."""

from __future__ import annotations

import hashlib
import re
import typing

import numpy as np
import pytest
import scipy
from scipy import signal

from deepclean.synthetic import DetectorConfig, SyntheticDetector, SyntheticSpan, scenarios
from deepclean.synthetic.couplings import modulations
from deepclean.synthetic.detector import STEP_GPS
from deepclean.synthetic.scenarios import SCENARIOS, ScenarioName, describe_scenarios, scenario_config
from deepclean.testing.synthetic_spans import assert_spans_equal

T0 = 1400000000
MAINS = "H1:PEM-CS_MAINSMON_EBAY_1_DQ"
RATE = 1024  # rate of the coupling fits
NOISE_RMS = DetectorConfig().noise_rms
HARMONIC_SCENARIOS = ("harmonics", "independent")


def _detector(name: str, **overrides) -> SyntheticDetector:
    return SyntheticDetector(scenario_config(name, not_ready_interval=None, **overrides))


_BASELINE = _detector("baseline")


def _psd(x: np.ndarray, rate: int, seconds: int = 16) -> tuple[np.ndarray, np.ndarray]:
    return signal.welch(x, rate, nperseg=seconds * rate)


def _band_passed(x: np.ndarray, low: float = 50.0, high: float = 70.0) -> np.ndarray:
    return signal.sosfiltfilt(signal.butter(8, [low, high], "bandpass", fs=RATE, output="sos"), x)


def _motions(span: SyntheticSpan, detector: SyntheticDetector) -> np.ndarray:
    """The coupled loops' recorded motions in units of motion, at RATE."""
    return np.stack(
        [
            signal.resample_poly(span.witnesses[c], RATE, span.witness_sample_rates[c])
            / detector.loops[c].counts_per_unit
            for c in detector.coupled_channels
        ]
    )


def _coupling_fit(span: SyntheticSpan, detector: SyntheticDetector, forms=None, cut=slice(RATE, -RATE)):
    """Least-squares fit of the in-band truth by the mains monitor (in-phase, quadrature) and its products
    with each coupled loop's modulation; returns each term's amplitude and the explained power fraction."""
    mains = span.witnesses[MAINS]
    analytic = signal.hilbert(_band_passed(signal.resample_poly(mains, RATE, span.witness_sample_rates[MAINS])))
    motions = _motions(span, detector)
    rows = motions if forms is None else modulations(forms, motions)
    columns = [analytic.real, analytic.imag]
    for row in rows:
        columns += [analytic.real * row, analytic.imag * row]
    features = np.stack(columns, axis=1)[cut]
    target = _band_passed(signal.resample_poly(span.truth, RATE, span.strain_sample_rate))[cut]
    coefficients, *_ = np.linalg.lstsq(features, target, rcond=None)
    explained = 1 - np.var(target - features @ coefficients) / np.var(target)
    return np.hypot(coefficients[0::2], coefficients[1::2]), explained


# --- the library ------------------------------------------------------------------------------


def test_every_scenario_is_named_described_and_in_the_table():
    """The registry, the CLI's type, --list-scenarios and the module's table list the same scenarios."""
    assert tuple(SCENARIOS) == typing.get_args(ScenarioName)
    lines = describe_scenarios().splitlines()
    assert [line.split()[0] for line in lines] == list(SCENARIOS)
    table = scenarios.__doc__.split("==\n", 2)[2].split("\n==")[0]  # the rows between the rules
    rows = dict(re.findall(r"^(\S+) +(.+?)(?=^\S|\Z)", table, flags=re.M | re.S))
    assert list(rows) == list(SCENARIOS)
    for name, scenario in SCENARIOS.items():
        assert " ".join(rows[name].split()) == scenario.description, name


def test_baseline_is_the_default_detector():
    """The baseline scenario is DetectorConfig() itself, and overrides reach the configuration."""
    assert scenario_config("baseline") == DetectorConfig()
    assert scenario_config("baseline", seed=3, num_coupled=2) == DetectorConfig(seed=3, num_coupled=2)


# Recorded from the generator before scenarios existed: sample values and RMS of 8 s from T0 + 12 (seed 1)
# and of 4 s from T0 + 100 (seed 3), and a digest of every array.
_RECORDED = {
    (1, T0 + 12, 8): (
        "5b2b6927fb1d5e957a63190d417d40d693512168a825d2c82eba5ee0f40d0e46",
        {
            "strain": (
                [-8.215028778558778e-21, -5.49436326876134e-21, -1.3055427293007956e-21, -4.408485883411438e-21],
                3.9682991960835116e-21,
            ),
            "truth": (
                [-5.467941698509506e-22, 1.103886915904144e-21, -2.6721599962213117e-22, -5.48924708367193e-22],
                5.382505999148784e-22,
            ),
            MAINS: (
                [-0.6945067004256713, 0.22167630994632648, 0.8972282784940107, -0.6881827104561009],
                0.7317465994886668,
            ),
            "H1:ASC-DHARD_P_OUT_DQ": (
                [8.71725597221258, 1.2049731036325038, 6.583265479112309, 14.118782864825224],
                6.764826163479303,
            ),
            "H1:ASC-CSOFT_Y_OUT_DQ": (
                [1.3971835894522007, 1.8905469291842802, 0.7439652628824656, -0.7346182926260925],
                1.4441166779767818,
            ),
        },
    ),
    (3, T0 + 100, 4): (
        "c390eccde1a5462016200804ab31acc1b8e58f699a51709e3e264a16cfdad014",
        {
            "strain": (
                [4.3036088259869204e-21, 3.1477830710410153e-22, 4.354920779684943e-21, 2.9659056630325534e-21],
                4.283818550889924e-21,
            ),
            "truth": (
                [-6.9953171335312905e-22, 3.6255183511210256e-22, -4.267806350705716e-22, -1.0839062224309032e-22],
                5.546419129790441e-22,
            ),
            MAINS: (
                [0.8742533276792978, -0.9033096520165409, -0.6579681217450517, 0.9095910459554188],
                0.6715912715727522,
            ),
            "H1:ASC-DHARD_P_OUT_DQ": (
                [-0.2386886048608593, -0.605505614154769, -0.2890242856640699, -14.449695576683121],
                14.482895752132084,
            ),
            "H1:ASC-CSOFT_Y_OUT_DQ": (
                [11.914948278539853, 2.333910215930196, -17.12915222753657, -7.230419028690878],
                14.324521312937648,
            ),
        },
    ),
}
_RECORDED_WITH = ("2.4.6", "1.17.1")  # numpy, scipy


def _digest(span: SyntheticSpan) -> str:
    digest = hashlib.sha256()
    for samples in (span.strain, span.floor, span.truth, span.state):
        digest.update(np.ascontiguousarray(samples).tobytes())
    for name in sorted(span.witnesses):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(span.witnesses[name]).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize(("seed", "start", "duration"), list(_RECORDED))
def test_baseline_reproduces_the_recorded_detector(seed, start, duration):
    """The baseline scenario gives the samples the detector gave before scenarios existed.

    Values to 1e-8 of each array's RMS: numpy and scipy pick SIMD kernels per CPU, so another
    machine's last bits differ, and the strain floor's long FFT filter spreads them (an AMD EPYC gives
    strain samples up to 6e-10 of its RMS away from the recorded values); any change to the generator
    moves them by far more. Where the recorded values come out
    bit for bit (the same numpy and scipy on a CPU that rounds alike), every array must match the
    recorded digest too.
    """
    span = SyntheticDetector(scenario_config("baseline", seed=seed)).generate(start, duration)
    digest, arrays = _RECORDED[seed, start, duration]
    bit_for_bit = (np.__version__, scipy.__version__) == _RECORDED_WITH
    for name, (values, rms) in arrays.items():
        samples = getattr(span, name) if name in ("strain", "truth") else span.witnesses[name]
        picked = samples[[0, 1000, len(samples) // 2 + 7, len(samples) - 1]]
        np.testing.assert_allclose(picked, values, rtol=0, atol=1e-8 * rms, err_msg=name)
        assert np.sqrt(np.mean(samples**2)) == pytest.approx(rms, rel=1e-8), name
        bit_for_bit = bit_for_bit and np.array_equal(picked, values)
    if bit_for_bit:
        assert _digest(span) == digest


def test_unknown_scenario_or_field_is_named():
    """An unknown scenario or configuration field raises ValueError naming it."""
    with pytest.raises(ValueError, match="scenario 'nope' is unknown"):
        scenario_config("nope")
    with pytest.raises(ValueError, match="sed"):
        scenario_config("steady", sed=3)


def test_overrides_update_the_scenario_rates():
    """A rate override changes one witness and keeps the scenario's other rates."""
    config = scenario_config("rate-mix", witness_sample_rates={MAINS: 2048})
    assert config.sample_rates[MAINS] == 2048
    assert config.sample_rates == {**scenario_config("rate-mix").sample_rates, MAINS: 2048}


# --- every scenario ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_same_seconds_whatever_the_chunking(name):
    """Seconds across a block boundary (and the step) are bit-identical whole, in pieces and after a restart."""
    config = scenario_config(name)
    start = STEP_GPS - 5
    whole = SyntheticDetector(config).generate(start, 10)
    pieces = SyntheticSpan.concatenate(
        [SyntheticDetector(config).generate(start + a, b - a) for a, b in ((0, 3), (3, 7), (7, 10))]
    )
    assert_spans_equal(whole, pieces)
    restarted = SyntheticDetector(config).generate(start + 6, 20)
    assert_spans_equal(whole.slice(start + 6, 4), restarted.slice(start + 6, 4))


@pytest.mark.parametrize("name", SCENARIOS)
def test_truth_is_exactly_the_targeted_noise(name):
    """strain - truth is the floor: the baseline's floor plus, where a scenario has them, the mains
    harmonics; the truth has about the baseline's RMS, nothing far from 60 Hz, and the state vector is the
    baseline's (in the 16 s from a coupling step on)."""
    detector = SyntheticDetector(scenario_config(name))
    span = detector.generate(STEP_GPS, 16)
    baseline = SyntheticDetector().generate(STEP_GPS, 16)
    assert np.allclose(span.strain - span.truth, span.floor, rtol=0, atol=1e-35)
    offsets = np.arange(span.strain.size) / span.strain_sample_rate
    harmonics = detector.mains.harmonics_in_strain(STEP_GPS, offsets)
    assert np.allclose(span.floor, baseline.floor + harmonics, rtol=0, atol=1e-35)
    assert (np.std(harmonics) > 0) == (name in HARMONIC_SCENARIOS)
    assert np.array_equal(span.state, baseline.state)
    assert 0.7 < np.std(span.truth) / NOISE_RMS < 1.4
    frequencies, truth = _psd(span.truth, span.strain_sample_rate, 8)
    _, floor = _psd(span.floor, span.strain_sample_rate, 8)
    far = (frequencies > 10) & ((frequencies < 45) | (frequencies > 75))
    assert np.max(truth[far] / floor[far]) < 1e-2


# --- each scenario's feature ------------------------------------------------------------------


def test_coupling_step():
    """Before step_gps the data are the baseline's; after it each coupling has stepped by its factor
    (0.5-0.71 or 1.41-2), as a fit of the truth by the witnesses measures against the baseline."""
    detector = _detector("coupling-step")
    step = detector.mains.step
    factors = np.array([step.linear_factor, *step.sideband_factors])
    assert np.all(((factors >= 0.5) & (factors <= 2**-0.5)) | ((factors >= 2**0.5) & (factors <= 2.0)))
    span = detector.generate(STEP_GPS - 16, 32)
    baseline = _BASELINE.generate(STEP_GPS - 16, 32)
    assert_spans_equal(span.slice(STEP_GPS - 16, 16), baseline.slice(STEP_GPS - 16, 16))
    after = slice(18 * RATE, 30 * RATE)
    stepped, explained = _coupling_fit(span, detector, cut=after)
    unstepped, _ = _coupling_fit(baseline, _BASELINE, cut=after)
    assert explained > 0.999
    np.testing.assert_allclose(stepped / unstepped, factors, rtol=0.02)


def test_fast_drift():
    """The couplings drift over 100-300 s, so over a minute they change several times more than the baseline's."""
    fast = _detector("fast-drift").mains
    for drift in (fast.linear_gain_drift, fast.linear_phase_drift, *fast.sideband_drifts):
        assert np.all((1 / drift.frequencies >= 100) & (1 / drift.frequencies <= 300))

    def minute_changes(mains) -> float:
        times = np.arange(0.0, 4000.0, 10.0)
        couplings = np.stack([mains.linear_coupling(T0, times), *mains.sideband_couplings(T0, times)])
        relative = couplings / np.abs(couplings).mean(axis=1, keepdims=True)
        return float(np.sqrt(np.mean(np.abs(relative[:, 6:] - relative[:, :-6]) ** 2)))

    assert minute_changes(fast) > 3 * minute_changes(_BASELINE.mains)


def test_sideband_lines():
    """Every loop carries lines spread over 0.2-5 Hz; the truth peaks at 60 Hz +- those of the coupled loops,
    and some of those sidebands lie outside 58-62 Hz."""
    detector = _detector("sideband-lines")
    for loop in detector.loops.values():
        assert len(loop.line_frequencies) == 4
        assert np.all((loop.line_frequencies >= 0.2) & (loop.line_frequencies <= 5.0))
        assert loop.line_frequencies.max() > 2.0
    lines = np.concatenate([detector.loops[c].line_frequencies for c in detector.coupled_channels])
    span = detector.generate(T0, 16)
    frequencies, truth = _psd(span.truth, span.strain_sample_rate)
    offset = frequencies - 60.0
    on_line = np.zeros(frequencies.shape, bool)
    for line in lines:
        on_line |= np.abs(np.abs(offset) - line) < 0.07
    skirt = (np.abs(offset) > 2) & (np.abs(offset) < 6)
    continuum = np.median(truth[skirt & ~on_line])
    outside = lines[lines > 2]
    peaks = [min(truth[np.argmin(np.abs(offset - s * line))] for s in (-1, 1)) / continuum for line in outside]
    assert np.median(peaks) > 10
    for side in (offset > 2, offset < -2):  # the strongest peak beyond the band on each side is a loop line
        region = side & (np.abs(offset) < 6)
        assert on_line[np.flatnonzero(region)[np.argmax(truth[region])]]


def test_broad_skirts():
    """The sidebands spread far: the share of the injected power 3-12 Hz off the carrier is several times the
    baseline's."""

    def far_share(span: SyntheticSpan) -> float:
        frequencies, truth = _psd(span.truth, span.strain_sample_rate)
        offset = np.abs(frequencies - 60.0)
        return truth[(offset >= 3) & (offset <= 12)].sum() / truth[offset <= 12].sum()

    broad = _detector("broad-skirts").generate(T0, 16)
    assert far_share(broad) > 3 * far_share(_BASELINE.generate(T0, 16))


def test_rate_mix():
    """The witnesses come at other rates: the mains monitor at 512 Hz, loops at all of 256-2048 Hz, most at
    1024, and each channel has the samples of its rate (with the mains line in the monitor)."""
    span = _detector("rate-mix").generate(T0, 16)
    rates = span.witness_sample_rates
    assert rates[MAINS] == 512
    assert sorted(set(rates.values())) == [256, 512, 1024, 2048]
    assert sum(rate == 1024 for rate in rates.values()) == (len(rates) - 1) // 2
    assert rates != DetectorConfig().sample_rates
    for channel, samples in span.witnesses.items():
        assert samples.shape == (16 * rates[channel],), channel
    frequencies, monitor = _psd(span.witnesses[MAINS], 512, 4)
    assert frequencies[np.argmax(monitor)] == pytest.approx(60.0, abs=0.3)


@pytest.mark.parametrize("name", HARMONIC_SCENARIOS)
def test_harmonics_in_strain_and_monitor_not_in_truth(name):
    """120 and 180 Hz lines stand far above the floor in strain and are in the mains monitor at their set
    amplitudes, while the truth has nothing there."""
    detector = _detector(name)
    span = detector.generate(T0, 16)
    baseline = _BASELINE.generate(T0, 16)
    rate = span.strain_sample_rate
    frequencies, strain = _psd(span.strain, rate)
    _, truth = _psd(span.truth, rate)
    _, floor = _psd(baseline.floor, rate)
    monitor_rate = span.witness_sample_rates[MAINS]
    monitor_frequencies, monitor = _psd(span.witnesses[MAINS], monitor_rate)

    def peak(f, psd, frequency):
        return psd[np.abs(f - frequency) < 0.2].sum()

    for frequency, amplitude in ((120, 0.1), (180, 0.05)):
        at = np.argmin(np.abs(frequencies - frequency))
        assert strain[at] > 1000 * floor[at], frequency
        assert truth[at] < 1e-6 * strain[at], frequency
        ratio = peak(monitor_frequencies, monitor, frequency) / peak(monitor_frequencies, monitor, 60)
        assert ratio == pytest.approx(amplitude**2, rel=0.2), frequency


def test_mains_wander():
    """The mains amplitude and frequency wander about four times more than the baseline's, and the monitor's
    envelope follows the amplitude."""
    detector = _detector("mains-wander")
    wander, baseline = detector.mains, _BASELINE.mains
    times = np.arange(0.0, 4000.0, 1.0)
    assert np.std(wander.amplitude(T0, times)) > 3 * np.std(baseline.amplitude(T0, times))
    assert np.std(wander.jitter.value(T0, times)) > 3 * np.std(baseline.jitter.value(T0, times))
    span = detector.generate(T0, 16)
    monitor = signal.sosfiltfilt(signal.butter(4, [55, 65], "bandpass", fs=1024, output="sos"), span.witnesses[MAINS])
    envelope = np.abs(signal.hilbert(monitor))[1024:-1024]
    amplitude = wander.amplitude(T0, np.arange(1024, 15 * 1024) / 1024)
    assert np.max(np.abs(envelope / amplitude - 1)) < 0.02


def test_unusual_witness():
    """INP1_P and SRC2_Y are coupled, recorded at 1e-4 and 1e4 times their baseline counts, and their products
    with the mains explain the sidebands."""
    detector = _detector("unusual-witness")
    small, large = "H1:ASC-INP1_P_OUT_DQ", "H1:ASC-SRC2_Y_OUT_DQ"
    assert {small, large} <= set(detector.coupled_channels) and len(detector.coupled_channels) == 4
    assert not {small, large} & set(_BASELINE.coupled_channels)
    span = detector.generate(T0, 16)
    baseline = _BASELINE.generate(T0, 16)
    np.testing.assert_allclose(span.witnesses[small], 1e-4 * baseline.witnesses[small], rtol=1e-12)
    np.testing.assert_allclose(span.witnesses[large], 1e4 * baseline.witnesses[large], rtol=1e-12)
    assert _coupling_fit(span, detector)[1] > 0.999


def test_nonlinear_coupling():
    """Products of the mains with the loops' motions explain much less of the sidebands than with the
    modulations' true forms (m^2, tanh(2m), product, smooth |m|)."""
    detector = _detector("nonlinear-coupling")
    assert detector.mains.sideband_forms == ("square", "tanh", "product", "abs")
    span = detector.generate(T0, 16)
    assert _coupling_fit(span, detector)[1] < 0.85
    assert _coupling_fit(span, detector, forms=detector.mains.sideband_forms)[1] > 0.999


def test_response_drift():
    """A coupled loop's channel records its motion late by the model's delay, which wanders by tens of ms
    (a constant delay does not describe it); channels of uncoupled loops are the baseline's."""
    detector = _detector("response-drift")
    channel = detector.coupled_channels[0]
    delay = detector.loops[channel].delay
    starts = np.arange(0, 2000, 16)
    centres = delay.value(T0, starts + 8.0)
    assert np.ptp(centres) > 0.05 and np.min(centres) >= 0
    rate = detector.config.sample_rates[channel]
    times = np.arange(16 * rate) / rate
    inner = slice(rate, -rate)
    for start in T0 + starts[[np.argmin(centres), np.argmax(centres)]]:
        span = detector.generate(start, 16)
        on_time = _BASELINE.generate(start, 16).witnesses[channel]
        recorded = span.witnesses[channel]
        scale = np.std(recorded)
        for lag, fits in ((delay.value(start, times), True), (delay.mean, False)):
            late = np.interp(times - lag, times, on_time)
            assert (np.std((recorded - late)[inner]) < 0.01 * scale) == fits
    uncoupled = next(c for c in detector.angular_channels if c not in detector.coupled_channels)
    assert np.array_equal(span.witnesses[uncoupled], _BASELINE.generate(start, 16).witnesses[uncoupled])


def test_steady():
    """The couplings and the mains amplitude never change: the model is constant and the fitted couplings are
    the same 2000 s apart, where the baseline's have moved."""
    detector = _detector("steady")
    times = np.arange(0.0, 4000.0, 7.0)
    mains = detector.mains
    for coupling in (mains.linear_coupling(T0, times), *mains.sideband_couplings(T0, times)):
        assert np.ptp(np.abs(coupling)) == 0 and np.ptp(np.angle(coupling)) == 0
    assert np.all(mains.amplitude(T0, times) == 1.0)

    def moved(detector: SyntheticDetector) -> float:
        first, _ = _coupling_fit(detector.generate(T0, 16), detector)
        later, _ = _coupling_fit(detector.generate(T0 + 2000, 16), detector)
        return float(np.max(np.abs(later / first - 1)))

    assert moved(detector) < 0.01
    assert moved(_BASELINE) > 0.05


def test_independent_mixes_the_hard_features():
    """The independent scenario has the rate mix (monitor at 2048 Hz), harmonics (checked above), loop lines
    0.5-4 Hz, fast drifts and a coupling step at step_gps."""
    detector = _detector("independent", step_gps=T0 + 4096)
    rates = detector.config.sample_rates
    assert rates[MAINS] == 2048 and sorted(set(rates.values())) == [256, 512, 1024, 2048]
    for loop in detector.loops.values():
        assert np.all((loop.line_frequencies >= 0.5) & (loop.line_frequencies <= 4.0))
    mains = detector.mains
    assert mains.step is not None and mains.step.step.gps == T0 + 4096
    assert np.all(1 / mains.sideband_drifts[0].frequencies <= 300)
    assert mains.strain_harmonics and mains.monitor_harmonics[0].order == 2
