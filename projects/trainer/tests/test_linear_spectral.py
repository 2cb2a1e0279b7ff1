"""Tests of the spectral least-squares start of a long linear path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_linear_init import RATE, coupled_segment, stepped_segments

from deepclean.architecture import DeepClean
from deepclean.signal import bandpass_sos, zero_phase_bandpass
from deepclean_trainer.linear_init import fit_linear_path
from deepclean_trainer.linear_spectral import bin_weights, fit_linear_path_spectral
from deepclean_trainer.preprocessing import Scaler, Segment
from deepclean_trainer.validation import predict

FIT_BAND = (50.0, 70.0)
SOS = bandpass_sos((52.0, 68.0), RATE, order=8)


def silent_network(kernel: int, dilation: int = 1) -> DeepClean:
    torch.manual_seed(0)
    network = DeepClean(2, mains_index=0, linear_kernel_size=kernel, linear_dilation=dilation)
    with torch.no_grad():
        network.output_conv.weight.zero_()
        network.output_conv.bias.zero_()
    return network


def late_witness_segment(seconds: int, seed: int, late: float = 0.1) -> Segment:
    """The strain's sidebands follow an angular motion that its witness records ``late`` seconds later."""
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * RATE) / RATE
    mains = np.cos(2 * np.pi * 60.0 * t + rng.uniform(0, 2 * np.pi))
    motion = np.convolve(rng.standard_normal(t.size), np.hanning(257) / 16, mode="same")
    recorded = np.roll(motion, round(late * RATE))
    target = 0.5 * mains + 1.5 * mains * motion
    monitor = mains + 1e-3 * rng.standard_normal(t.size)
    return Segment(0.0, RATE, np.stack([monitor, recorded]), target, target)


def in_band_residual(network: DeepClean, scaler: Scaler, test: Segment) -> float:
    """Fraction of the test target's power left in the band the cleaner subtracts (edges cut)."""
    prediction = zero_phase_bandpass(predict(network, scaler.scale_witnesses(test.witnesses)), SOS)
    expected = zero_phase_bandpass(scaler.scale_target(test.target), SOS)
    inner = slice(2 * RATE, -2 * RATE)
    return float(np.mean((prediction[inner] - expected[inner]) ** 2) / np.mean(expected[inner] ** 2))


def one_tap_network() -> DeepClean:
    """A linear path of one tap on one witness, the autoencoder silent."""
    torch.manual_seed(0)
    network = DeepClean(1, linear_kernel_size=1)
    with torch.no_grad():
        network.output_conv.weight.zero_()
        network.output_conv.bias.zero_()
    return network


def power_ratio_after_cleaning(network: DeepClean, scaler: Scaler, segment: Segment, flank: np.ndarray) -> float:
    """PSD of the cleaned over the raw target within ``flank`` (second-order sections), edges cut."""
    estimate = zero_phase_bandpass(predict(network, scaler.scale_witnesses(segment.witnesses)), SOS)
    scaled = scaler.scale_target(segment.target)
    inner = slice(2 * RATE, -2 * RATE)
    cleaned, raw = (zero_phase_bandpass(x, flank)[inner] for x in (scaled - estimate, scaled))
    return float(np.mean(cleaned**2) / np.mean(raw**2))


def test_a_short_coupling_is_fitted_as_well_as_by_the_time_domain_start():
    training = [coupled_segment(64, seed=1)]
    scaler = Scaler.fit(training)
    network = silent_network(31)
    left = fit_linear_path_spectral(network, training, scaler, FIT_BAND).left
    assert left < 1e-3
    assert in_band_residual(network, scaler, coupled_segment(16, seed=2)) < 1e-3


@pytest.mark.parametrize("kernel, dilation", [(255, 1), (51, 5)])
def test_a_witness_recorded_late_needs_the_long_kernel_and_gets_it(kernel, dilation):
    """A 0.1 s response delay: a kernel spanning +-125 samples reaches it (unseen data to 1e-2), dense or
    with taps 5 samples apart; 31 taps cannot (> 0.2 left)."""
    training = [late_witness_segment(128, seed=3)]
    scaler = Scaler.fit(training)
    test = late_witness_segment(32, seed=4)
    long_path = silent_network(kernel, dilation)
    fit_linear_path_spectral(long_path, training, scaler, FIT_BAND)
    short_path = silent_network(31)
    fit_linear_path(short_path, training, scaler)
    assert in_band_residual(long_path, scaler, test) < 1e-2
    assert in_band_residual(short_path, scaler, test) > 0.2


@pytest.mark.parametrize(
    "step_at, factor, seed, kept",
    [(160, 2.0, 4, "kept the data since GPS"), (0, 1.0, 6, "kept all")],
    ids=["after a coupling step the fit follows the data since the step", "without a step all data is kept"],
)
def test_the_span_fitted_follows_a_coupling_step(caplog, step_at, factor, seed, kept):
    """A step in the coupling makes the fit keep only the most recent data; without one it keeps all of it."""
    training, validation = stepped_segments(256, step_at=step_at, factor=factor, seed=seed)
    scaler = Scaler.fit([training])
    with caplog.at_level("INFO", logger="deepclean_trainer.linear_spectral"):
        fit_linear_path_spectral(
            silent_network(31), [training], scaler, FIT_BAND, validation=[validation], recent_candidates=(128.0, 32.0)
        )
    assert kept in caplog.text


def test_a_step_seen_by_a_previous_version_sets_the_data_the_start_is_judged_against(caplog):
    """Given the GPS since which a previous version kept its data, the start fits all the data since then
    (the recent spans judged against that fit, not against all the data) and passes the GPS on; a GPS
    before the data changes nothing."""
    training, validation = stepped_segments(256, step_at=64, factor=2.0, seed=4)
    scaler = Scaler.fit([training])
    test, _ = stepped_segments(64, step_at=0, factor=2.0, seed=5)

    def start(since):
        network = silent_network(31)
        kept = fit_linear_path_spectral(
            network, [training], scaler, FIT_BAND, validation=[validation], recent_candidates=(32.0,), since=since
        )
        return network, kept

    with caplog.at_level("INFO", logger="deepclean_trainer.linear_spectral"):
        remembering, kept = start(64.0)
    assert kept.kept_since == 64.0
    assert "the data since GPS 64 (a step seen before)" in caplog.text
    assert in_band_residual(remembering, scaler, test) < 1e-2
    unchanged, ignoring = (start(since) for since in (None, -100.0))
    assert unchanged[1] == ignoring[1]
    assert torch.equal(unchanged[0].linear.weight, ignoring[0].linear.weight)


def test_outside_the_judged_band_no_bin_is_traded_for_in_band_power():
    """One tap on a witness that carries the 60 Hz coupling and a 67 Hz line the strain does not have:
    fitted by power alone, the estimate adds the line next to the band (the bin's power x100); with the
    band judged as a whole and the bins outside it each on its own, it adds at most a fraction of raw."""
    rng = np.random.default_rng(7)
    t = np.arange(64 * RATE) / RATE
    mains = np.cos(2 * np.pi * 60.0 * t)
    line = 0.3 * np.cos(2 * np.pi * 67.0 * t + 1.0)
    floor = 0.01 * rng.standard_normal(t.size)
    target = mains + floor
    segment = Segment(0.0, RATE, (mains + line)[None], target, target)
    scaler = Scaler.fit([segment])
    flank = bandpass_sos((66.0, 68.0), RATE, order=4)
    by_power, judged = one_tap_network(), one_tap_network()  # must pass 60 Hz and cannot avoid 67 Hz
    fit_linear_path_spectral(by_power, [segment], scaler, FIT_BAND)
    fit_linear_path_spectral(judged, [segment], scaler, FIT_BAND, judged_band=(55.0, 65.0))
    assert power_ratio_after_cleaning(by_power, scaler, segment, flank) > 100
    assert power_ratio_after_cleaning(judged, scaler, segment, flank) < 3


def test_bad_requests_are_refused():
    segment = coupled_segment(8, seed=3)
    scaler = Scaler.fit([segment])
    with pytest.raises(ValueError, match="linear path"):
        fit_linear_path_spectral(DeepClean(2, mains_index=0), [segment], scaler, FIT_BAND)
    with pytest.raises(ValueError, match="too short"):
        fit_linear_path_spectral(silent_network(255), [segment], scaler, FIT_BAND, fftlength=0.25)


def test_inside_the_judged_band_every_bin_counts_relative_to_its_own_power():
    """One tap on a witness that carries the 60 Hz coupling and a 64 Hz line the strain does not have (inside
    the band, where the strain has only its floor): fitted by power, the line's bin gets ~30x its own power
    added for a better fit at 60 Hz; with every bin of the band counting relative to its own power (the fit
    kept, as the BNS range judges the band's edges) the tap keeps it near raw."""
    rng = np.random.default_rng(11)
    t = np.arange(64 * RATE) / RATE
    mains = np.cos(2 * np.pi * 60.0 * t)
    line = 0.1 * np.cos(2 * np.pi * 64.0 * t + 1.0)
    target = mains + 0.01 * rng.standard_normal(t.size)
    segment = Segment(0.0, RATE, (mains + line)[None], target, target)
    scaler = Scaler.fit([segment])
    flank = bandpass_sos((63.5, 64.5), RATE, order=4)
    by_power, judged = one_tap_network(), one_tap_network()
    fit_linear_path_spectral(by_power, [segment], scaler, FIT_BAND)
    fit_linear_path_spectral(judged, [segment], scaler, FIT_BAND, judged_band=(55.0, 65.0))
    assert power_ratio_after_cleaning(by_power, scaler, segment, flank) > 10
    assert power_ratio_after_cleaning(judged, scaler, segment, flank) < 2


def test_the_bin_weights():
    """Outside the band each bin relative to its own power (at least 1); inside, by power for the choice of a
    span and relative to its own power for the fit kept."""
    power = np.array([1e-4, 1.0, 100.0, 1.0, 4.0])
    inside = np.array([False, True, True, True, False])
    by_power = bin_weights(power, inside, relative_inside=False)
    relative = bin_weights(power, inside, relative_inside=True)
    mean_inside = 34.0
    np.testing.assert_allclose(by_power, [mean_inside / 1e-4, 1, 1, 1, mean_inside / 4])
    np.testing.assert_allclose(relative * power, [mean_inside, mean_inside, mean_inside, mean_inside, mean_inside])
    np.testing.assert_array_equal(bin_weights(power, np.ones(5, dtype=bool), relative_inside=True), np.ones(5))


def product_coupled_segment(seconds: int, seed: int) -> Segment:
    """The mains modulated by the product of two angular motions and by the square of one: no linear
    filter of the witnesses and their mains products."""
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * RATE) / RATE
    mains = np.cos(2 * np.pi * 60.0 * t + rng.uniform(0, 2 * np.pi))
    motions = [np.convolve(rng.standard_normal(t.size), np.hanning(257) / 16, mode="same") for _ in range(2)]
    target = mains * (0.3 + motions[0] * motions[1] + 0.5 * (motions[0] ** 2 - np.mean(motions[0] ** 2)))
    monitor = mains + 1e-3 * rng.standard_normal(t.size)
    return Segment(0.0, RATE, np.stack([monitor, *motions]), target, target)


def test_second_order_products_fit_a_coupling_through_the_product_of_two_motions():
    """With ``second_order`` the start fits mains x w1 x w2 and mains x w1^2 on unseen data; without, it cannot."""
    training, test = [product_coupled_segment(96, seed=1)], product_coupled_segment(24, seed=2)
    scaler = Scaler.fit(training)
    left = {}
    for second_order in (False, True):
        torch.manual_seed(0)
        network = DeepClean(3, mains_index=0, linear_kernel_size=51, linear_dilation=5, second_order=second_order)
        with torch.no_grad():
            network.output_conv.weight.zero_()
            network.output_conv.bias.zero_()
        fit_linear_path_spectral(network, training, scaler, FIT_BAND)
        left[second_order] = in_band_residual(network, scaler, test)
        if second_order:
            assert network.second_order_linear.weight.count_nonzero() > 0
    assert left[False] > 0.3
    assert left[True] < 1e-2
