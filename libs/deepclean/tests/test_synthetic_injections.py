"""Injections in the synthetic strain: schedule, determinism, strain only, truth channel and log, SNRs."""

from __future__ import annotations

import numpy as np
import pytest

from deepclean.frames import read_frame
from deepclean.signal.matched import optimal_snr
from deepclean.synthetic import BLOCK_SECONDS, DetectorConfig, FrameLayout, SyntheticDetector, SyntheticSpan, write_span
from deepclean.synthetic.colouring import design_asd
from deepclean.synthetic.injections import (
    InjectedDetector,
    InjectionConfig,
    InjectionSchedule,
    read_injection_log,
)

T0 = 1400000000
RATE = 16384
CONFIG = DetectorConfig(seed=5, not_ready_interval=None)
SINE_GAUSSIANS = InjectionConfig(interval=8, kinds=("sine_gaussian",))


def _injected(config: InjectionConfig = SINE_GAUSSIANS) -> InjectedDetector:
    return InjectedDetector(SyntheticDetector(CONFIG), config)


def test_same_samples_however_the_span_is_cut():
    """An injection straddling a generation block's edge is continuous and identical in any chunking."""
    schedule = _injected().schedule
    edge = (T0 // BLOCK_SECONDS + 3) * BLOCK_SECONDS
    straddling = [i for i in schedule.between(edge - 40, edge + 40) if i.start_gps < edge < i.end_gps]
    start = edge - 4 if not straddling else int(straddling[0].start_gps) - 1
    whole = _injected().generate(start, 8)
    by_second = SyntheticSpan.concatenate([_injected().generate(start + k, 1) for k in range(8)])
    later = _injected().generate(start + 3, 20).slice(start + 3, 5)
    assert np.array_equal(whole.strain, by_second.strain)
    assert np.array_equal(whole.injection, by_second.injection)
    assert np.array_equal(whole.slice(start + 3, 5).injection, later.injection)
    assert np.any(whole.injection != 0)
    assert [i.slot for i in whole.injections] == [i.slot for i in by_second.injections]


def test_waveform_is_continuous_across_second_edges():
    """The injected strain of consecutive seconds joins into the whole waveform, sample for sample."""
    detector = _injected()
    record = detector.schedule.between(T0, T0 + 16)[0]
    first, last = int(record.start_gps), int(np.ceil(record.end_gps))
    joined = SyntheticSpan.concatenate([detector.generate(g, 1) for g in range(first, last)]).injection
    offset = record.start - first * RATE
    assert np.array_equal(joined[offset : offset + record.samples], detector.schedule.waveform(record.slot))
    assert not np.any(joined[:offset]) and not np.any(joined[offset + record.samples :])


def test_strain_only():
    """Witnesses, floor, noise truth and state are untouched; the strain gains exactly the injection."""
    plain = SyntheticDetector(CONFIG).generate(T0, 16)
    injected = _injected().generate(T0, 16)
    assert np.array_equal(injected.floor, plain.floor)
    assert np.array_equal(injected.truth, plain.truth)
    assert np.array_equal(injected.state, plain.state)
    for channel, samples in plain.witnesses.items():
        assert np.array_equal(injected.witnesses[channel], samples), channel
    assert np.array_equal(injected.strain, plain.strain + injected.injection)
    assert np.max(np.abs(injected.injection)) > 0


def test_no_injections_by_default_leaves_the_data_bit_identical(tmp_path):
    """Interval 0: no injection channel, no log, and the same strain as the plain detector."""
    assert not InjectionConfig().interval
    wrapped = InjectedDetector(SyntheticDetector(CONFIG), InjectionConfig())
    span = wrapped.generate(T0, 2)
    assert np.array_equal(span.strain, SyntheticDetector(CONFIG).generate(T0, 2).strain)
    assert not np.any(span.injection) and span.injections == ()
    plain = SyntheticDetector(CONFIG).generate(T0, 1)
    assert plain.injection is None and list(plain.truth_frame) == ["H1:SYN-INJECTED_NOISE"]


def test_truth_frames_hold_what_was_added_and_the_log_lists_it(tmp_path):
    """The truth frame's injection channel is strain(with) - strain(without); each signal is logged once."""
    layout = FrameLayout(tmp_path / "llhoft", tmp_path / "lldetchar", tmp_path / "truth")
    detector = _injected()
    span = detector.generate(T0, 16)
    write_span(span, layout)
    plain = SyntheticDetector(CONFIG).generate(T0, 16)
    for gps in range(T0, T0 + 16):
        truth = read_frame(layout.truth_path(gps), ["H1:SYN-INJECTED_NOISE", "H1:SYN-INJECTION"])
        strain = read_frame(layout.strain_path(gps), ["H1:GDS-CALIB_STRAIN"])["H1:GDS-CALIB_STRAIN"]
        added = strain - plain.second(gps).strain
        np.testing.assert_array_equal(truth["H1:SYN-INJECTION"], span.second(gps).injection)
        np.testing.assert_allclose(added, truth["H1:SYN-INJECTION"], rtol=0, atol=1e-6 * np.max(np.abs(span.injection)))
    logged = read_injection_log(layout.injection_log)
    expected = [i for i in detector.schedule.between(T0, T0 + 16) if i.start_gps >= T0]
    assert [r["slot"] for r in logged] == [i.slot for i in expected]
    assert logged[0] == expected[0].as_json() | {"parameters": logged[0]["parameters"]}
    assert logged[0]["kind"] == "sine_gaussian" and 55 <= logged[0]["parameters"]["frequency"] <= 65


def test_schedule_follows_the_seed_and_the_kinds_alternate():
    """One injection per slot inside it, kinds in turn; the same seed gives the same schedule, another seed not."""
    config = InjectionConfig(interval=64)
    schedule = InjectionSchedule(config, seed=5)
    records = schedule.between(T0, T0 + 4 * 64)
    assert [r.kind for r in records] == ["inspiral", "sine_gaussian"] * 2 or [r.kind for r in records] == [
        "sine_gaussian",
        "inspiral",
    ] * 2
    for record in records:
        slot_start = record.slot * 64
        assert slot_start + 1 <= record.start_gps < record.end_gps <= slot_start + 63
    assert records == InjectionSchedule(config, seed=5).between(T0, T0 + 4 * 64)
    assert [r.gps for r in records] != [r.gps for r in InjectionSchedule(config, seed=6).between(T0, T0 + 4 * 64)]


def test_snrs_are_in_the_stated_range_against_the_floor():
    """Every injection's optimal SNR against the floor's PSD is in snr_range, computed independently."""
    schedule = InjectionSchedule(InjectionConfig(interval=64, snr_range=(10.0, 30.0)), seed=5)
    records = schedule.between(T0, T0 + 4 * 64)
    for record in records:
        wave = schedule.waveform(record.slot)
        padded = np.concatenate([np.zeros(RATE), wave, np.zeros(RATE + 123)])  # another frequency grid
        frequencies = np.arange(0, RATE / 2 + 1, 0.25)
        psd = design_asd(0.25, frequencies.size) ** 2
        snr = optimal_snr(padded, psd, RATE, psd_frequencies=frequencies)
        assert 10.0 <= record.snr <= 30.0
        assert snr == pytest.approx(record.snr, rel=0.01), record.kind
    inspiral = next(r for r in records if r.kind == "inspiral")
    assert 1.2 <= inspiral.parameters["mass2"] <= inspiral.parameters["mass1"] <= 1.6
    assert 0 < inspiral.parameters["distance_mpc"] < 1000
    sine_gaussian = next(r for r in records if r.kind == "sine_gaussian")
    spectrum = np.abs(np.fft.rfft(schedule.waveform(sine_gaussian.slot), 16 * RATE))
    peak = np.argmax(spectrum) / 16
    assert peak == pytest.approx(sine_gaussian.parameters["frequency"], abs=0.2)
    assert 10 <= sine_gaussian.parameters["q"] <= 30


def test_configuration_errors_name_the_setting():
    """A too short interval, an unknown kind or a bad SNR range is refused with the setting's name."""
    with pytest.raises(ValueError, match="injection_interval"):
        InjectionConfig(interval=16, kinds=("inspiral",))
    with pytest.raises(ValueError, match="injection_kinds"):
        InjectionConfig(interval=64, kinds=("burst",))
    with pytest.raises(ValueError, match="injection_snr_range"):
        InjectionConfig(interval=64, snr_range=(30.0, 10.0))
