"""A signal in the strain passes through the cleaning untouched (the estimate comes from the witnesses alone).

The same witnesses are cleaned twice by the streaming pipeline, safety gate on, in
both latency modes:
once with a 60 Hz sine-Gaussian in the strain, once without. Whatever the
pipeline does, ``cleaned_with - cleaned_without`` must be the injection.
The strain's noise is the model's own estimate planted into white noise, so
the model really removes it and the gate lets the cleaning through (the case
where a change in the subtraction would show), unless the gate is made to
fall back.
"""

import dataclasses

import numpy as np
import pytest
from conftest import STRAIN_RATE, causal_settings, settings, synthetic_input
from test_causal import offline_causal_noise
from test_pipeline import BAND, START, load, offline_noise, run, seconds

from deepclean.signal import bandpass_sos, zero_phase_bandpass
from deepclean.signal.matched import noise_weighted_mismatch, optimal_snr
from deepclean.synthetic.waveforms import sine_gaussian
from deepclean_cleaner import dq
from deepclean_cleaner.pipeline import CleaningPipeline
from deepclean_cleaner.safety import SafetyGate

DURATION = 16
FLOOR_RMS = 1e-25  # the planted noise (the random model's estimate, ~2e-25 RMS) dominates the band
INJECTION_SNR = 20.0


def _clean(model, chain_settings, data, safety):
    """The production output of the pipeline over the span: strain and per-second DQ words."""
    pipeline = CleaningPipeline(chain_settings, BAND, safety=safety)
    try:
        pipeline.swap("production", model)
        out = run(pipeline, seconds(data, START, DURATION))
    finally:
        pipeline.close()
    gps = sorted(out)
    assert gps == list(range(START, START + DURATION))
    strain = np.concatenate([out[g].outputs["production"].strain for g in gps])
    return strain, {g: out[g].outputs["production"].dq for g in gps}


@pytest.mark.parametrize(
    "safety,expect",
    [({"enabled": True}, dq.CLEANED), ({"enabled": True, "band_tolerance": 1e-3}, dq.SAFETY_FALLBACK)],
    ids=["gate-passes", "gate-falls-back"],
)
@pytest.mark.parametrize("latency_mode", ["zero-phase", "causal"])
def test_cleaned_with_minus_cleaned_without_is_the_injection(request, latency_mode, safety, expect):
    """Cleaned with the signal minus cleaned without it equals the signal (mismatch and SNR change ~0)."""
    data = synthetic_input(START, DURATION)
    if latency_mode == "causal":
        model, chain_settings = load(request.getfixturevalue("causal_repository"), 1), causal_settings()
        planted = np.nan_to_num(offline_causal_noise(model, data))  # nothing before the first estimate
    else:
        model, chain_settings = load(request.getfixturevalue("repository"), 1), settings()
        planted = offline_noise(model, data, DURATION)
    rng = np.random.default_rng(1)
    without = dict(data, strain=FLOOR_RMS * rng.normal(size=planted.size) + planted)
    wave, centre = sine_gaussian(60.0, 20.0, 0.3, STRAIN_RATE)
    injection = np.zeros(planted.size)
    peak = (DURATION // 2) * STRAIN_RATE + STRAIN_RATE // 20  # straddles a second's edge
    injection[peak - centre : peak - centre + wave.size] = wave
    psd = np.full(planted.size // 2 + 1, 2.0 * FLOOR_RMS**2 / STRAIN_RATE)  # the white floor's
    injection *= INJECTION_SNR / optimal_snr(injection, psd, STRAIN_RATE)
    with_signal = dict(without, strain=without["strain"] + injection)

    cleaned_with, dq_with = _clean(model, chain_settings, with_signal, safety)
    cleaned_without, dq_without = _clean(model, chain_settings, without, safety)

    touched = range(START + DURATION // 2 - 1, START + DURATION // 2 + 2)
    assert all(np.all(dq_with[g] & expect) and np.all(dq_without[g] & expect) for g in touched)
    recovered = cleaned_with - cleaned_without
    mismatch = noise_weighted_mismatch(recovered, injection, psd, STRAIN_RATE)
    snr_change = abs(optimal_snr(recovered, psd, STRAIN_RATE) - INJECTION_SNR) / INJECTION_SNR
    assert mismatch <= 1e-3 and snr_change <= 0.005, f"mismatch {mismatch:.2e}, |dSNR|/SNR {snr_change:.2e}"
    assert mismatch < 1e-9  # in fact exact to rounding: nothing in the subtraction depends on the strain
    if expect == dq.CLEANED:  # the noise was really removed around the signal
        noise = with_signal["strain"] - cleaned_with
        middle = slice((touched[0] - START) * STRAIN_RATE, (touched[-1] + 1 - START) * STRAIN_RATE)
        assert np.std(planted[middle] - noise[middle]) < 0.2 * np.std(planted[middle])


def test_a_signal_passes_untouched_through_seconds_written_narrowed(request, monkeypatch):
    """The gate writes the narrowed estimate (the whole one made to fail): cleaned with minus cleaned without
    is still the injection, and the narrowed estimate really removed the planted noise around it."""
    original = SafetyGate._assess

    def whole_always_fails(gate, candidate, raw, noise):
        usable, judgement, newest = original(gate, candidate, raw, noise)
        return usable and candidate is not gate._whole, judgement, newest

    monkeypatch.setattr(SafetyGate, "_assess", whole_always_fails)
    monkeypatch.setattr(SafetyGate, "narrowing_trusted", lambda gate: True)  # 16 s: shorter than the trust
    data = synthetic_input(START, DURATION)
    model = load(request.getfixturevalue("repository"), 1)
    chain_settings = dataclasses.replace(settings(), narrowed_band=(59.0, 61.0))
    planted = offline_noise(model, data, DURATION)
    rng = np.random.default_rng(2)
    without = dict(data, strain=FLOOR_RMS * rng.normal(size=planted.size) + planted)
    wave, centre = sine_gaussian(60.0, 20.0, 0.3, STRAIN_RATE)
    injection = np.zeros(planted.size)
    peak = (DURATION // 2) * STRAIN_RATE + STRAIN_RATE // 20
    injection[peak - centre : peak - centre + wave.size] = wave
    psd = np.full(planted.size // 2 + 1, 2.0 * FLOOR_RMS**2 / STRAIN_RATE)
    injection *= INJECTION_SNR / optimal_snr(injection, psd, STRAIN_RATE)
    with_signal = dict(without, strain=without["strain"] + injection)

    cleaned_with, dq_with = _clean(model, chain_settings, with_signal, {"enabled": True})
    cleaned_without, dq_without = _clean(model, chain_settings, without, {"enabled": True})

    touched = range(START + DURATION // 2 - 1, START + DURATION // 2 + 2)
    assert all(np.all(dq_with[g] & dq.NARROWED) and np.all(dq_without[g] & dq.NARROWED) for g in touched)
    recovered = cleaned_with - cleaned_without
    assert noise_weighted_mismatch(recovered, injection, psd, STRAIN_RATE) < 1e-9
    assert abs(optimal_snr(recovered, psd, STRAIN_RATE) - INJECTION_SNR) / INJECTION_SNR <= 0.005
    removed = with_signal["strain"] - cleaned_with
    middle = slice((touched[0] - START) * STRAIN_RATE, (touched[-1] + 1 - START) * STRAIN_RATE)
    narrowed_part = zero_phase_bandpass(planted, bandpass_sos((59.0, 61.0), STRAIN_RATE, 8))
    assert np.std(narrowed_part[middle] - removed[middle]) < 0.2 * np.std(narrowed_part[middle])
