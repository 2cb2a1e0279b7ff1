"""Tests of the least-squares start of the linear path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepclean.architecture import DeepClean
from deepclean_trainer.linear_init import fit_linear_path
from deepclean_trainer.preprocessing import Scaler, Segment
from deepclean_trainer.validation import predict

RATE = 1024


def coupled_segment(seconds: int, seed: int) -> Segment:
    """A mains line, a slow angular motion and a target that is a delayed mains copy plus mains x motion."""
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * RATE) / RATE
    mains = np.cos(2 * np.pi * 60.0 * t + rng.uniform(0, 2 * np.pi))
    motion = np.convolve(rng.standard_normal(t.size), np.hanning(257) / 16, mode="same")
    delayed = np.roll(mains, 6)  # a 6-sample delay: the fit must put its weight on the right taps
    target = 2.0 * delayed + 1.5 * np.roll(mains * motion, -3)
    monitor = mains + 1e-3 * rng.standard_normal(t.size)  # the monitor's own sensor noise, as in the detector
    return Segment(start=0.0, sample_rate=RATE, witnesses=np.stack([monitor, motion]), strain=target, target=target)


@pytest.mark.parametrize(
    ("kernel_size", "dilation", "tap_step"),
    [(31, 1, 3), (11, 3, 1)],
    ids=["every 3rd of dense taps", "every tap 3 samples apart"],
)
def test_the_fit_reproduces_a_linear_coupling_of_witnesses_and_products(kernel_size, dilation, tap_step):
    """Taps on a 3-sample grid reach delays of -3 and +6; the network then predicts unseen data to 1e-3."""
    torch.manual_seed(0)
    network = DeepClean(2, mains_index=0, linear_kernel_size=kernel_size, linear_dilation=dilation)
    with torch.no_grad():
        network.output_conv.weight.zero_()
        network.output_conv.bias.zero_()
    training = [coupled_segment(32, seed=1)]
    scaler = Scaler.fit(training)
    left = fit_linear_path(network, training, scaler, tap_step=tap_step).left
    assert left < 1e-3
    test = coupled_segment(16, seed=2)
    prediction = predict(network, scaler.scale_witnesses(test.witnesses))
    expected = scaler.scale_target(test.target)
    inner = slice(64, -64)
    residual = np.mean((prediction[inner] - expected[inner]) ** 2) / np.mean(expected[inner] ** 2)
    assert residual < 1e-3


def test_a_network_without_a_linear_path_is_refused():
    segment = coupled_segment(4, seed=3)
    with pytest.raises(ValueError, match="linear path"):
        fit_linear_path(DeepClean(2, mains_index=0), [segment], Scaler.fit([segment]))


def stepped_segments(seconds: int, step_at: int, factor: float, seed: int) -> tuple[Segment, Segment]:
    """A coupled segment whose mains x motion coupling is ``factor`` times stronger from ``step_at`` on,
    cut into training and the last quarter as validation."""
    segment = coupled_segment(seconds, seed)
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * RATE) / RATE
    mains, motion = segment.witnesses
    extra = np.where(t >= step_at, factor - 1.0, 0.0) * 1.5 * np.roll(mains * motion, -3)
    target = segment.target + extra + 1e-3 * rng.standard_normal(t.size)
    cut = (3 * seconds // 4) * RATE
    whole = Segment(0.0, RATE, segment.witnesses, target, target)
    training = Segment(0.0, RATE, whole.witnesses[:, :cut], target[:cut], target[:cut])
    validation = Segment(cut / RATE, RATE, whole.witnesses[:, cut:], target[cut:], target[cut:])
    return training, validation


def silent_network() -> DeepClean:
    torch.manual_seed(0)
    network = DeepClean(2, mains_index=0, linear_kernel_size=31)
    with torch.no_grad():
        network.output_conv.weight.zero_()
        network.output_conv.bias.zero_()
    return network


def test_after_a_coupling_step_the_fit_follows_the_data_since_the_step(caplog):
    """A sideband coupling doubled 3/4 into the training data: the fit on the recent span is chosen and
    predicts post-step data to 1e-2, where the fit on all data leaves several times more."""
    training, validation = stepped_segments(256, step_at=160, factor=2.0, seed=4)
    scaler = Scaler.fit([training])
    test, _ = stepped_segments(64, step_at=0, factor=2.0, seed=5)

    def residual(network: DeepClean) -> float:
        prediction = predict(network, scaler.scale_witnesses(test.witnesses))[64:-64]
        expected = scaler.scale_target(test.target)[64:-64]
        return float(np.mean((prediction - expected) ** 2) / np.mean(expected**2))

    everything = silent_network()
    fit_linear_path(everything, [training], scaler)
    recent = silent_network()
    with caplog.at_level("INFO", logger="deepclean_trainer.linear_init"):
        fit_linear_path(recent, [training], scaler, [validation], (128.0, 32.0))
    assert "kept the data since GPS" in caplog.text
    assert residual(recent) < 1e-2 < residual(everything) / 3


def test_without_a_step_the_fit_on_all_data_is_kept(caplog):
    """Couplings that do not change: no recent span fits the validation data twice as well."""
    training, validation = stepped_segments(256, step_at=0, factor=1.0, seed=6)
    scaler = Scaler.fit([training])
    with caplog.at_level("INFO", logger="deepclean_trainer.linear_init"):
        fit_linear_path(silent_network(), [training], scaler, [validation], (128.0, 32.0))
    assert "kept all" in caplog.text


def with_unexplained_noise(segment: Segment, seed: int) -> Segment:
    """The causal mode's segments: a target that also holds strain noise no witness explains (30 times
    the coupled power), and the coupled part alone as the estimate-band target."""
    noise = np.sqrt(30.0) * segment.target.std() * np.random.default_rng(seed).standard_normal(segment.num_samples)
    wide = segment.target + noise
    return Segment(segment.start, RATE, segment.witnesses, wide, wide, narrow_target=segment.target)


def test_a_step_is_judged_in_the_estimates_band_not_hidden_by_unexplained_noise(caplog):
    """Scored against the wide target, the step's fractions left are all near 1 and the fit on all
    data is kept; scored against the estimate-band target, the recent span is chosen."""
    stepped = stepped_segments(256, step_at=160, factor=2.0, seed=4)
    training, validation = (with_unexplained_noise(s, seed) for s, seed in zip(stepped, (7, 8), strict=True))
    scaler = Scaler.fit([training])
    with caplog.at_level("INFO", logger="deepclean_trainer.linear_init"):
        fit_linear_path(silent_network(), [training], scaler, [validation], (128.0, 32.0))
    assert "kept the data since GPS" in caplog.text
    caplog.clear()
    unscored = [Segment(s.start, RATE, s.witnesses, s.strain, s.target) for s in (training, validation)]
    with caplog.at_level("INFO", logger="deepclean_trainer.linear_init"):
        fit_linear_path(silent_network(), unscored[:1], scaler, unscored[1:], (128.0, 32.0))
    assert "kept all" in caplog.text


def test_a_step_seen_by_a_previous_version_sets_the_data_the_start_is_judged_against(caplog):
    """Given the GPS since which a previous version kept its data, the time-domain start fits all the data
    since then (the recent spans judged against that fit) and passes the GPS on; a GPS before the data
    changes nothing."""
    training, validation = stepped_segments(256, step_at=64, factor=2.0, seed=4)
    scaler = Scaler.fit([training])
    test, _ = stepped_segments(64, step_at=0, factor=2.0, seed=5)

    def start(since):
        network = silent_network()
        return network, fit_linear_path(network, [training], scaler, [validation], (32.0,), since=since)

    with caplog.at_level("INFO", logger="deepclean_trainer.linear_init"):
        remembering, kept = start(64.0)
    assert 64.0 <= kept.kept_since < 64.1  # the first block's first sample after the kernel's reach
    assert "the data since GPS 64 (a step seen before)" in caplog.text
    prediction = predict(remembering, scaler.scale_witnesses(test.witnesses))[64:-64]
    expected = scaler.scale_target(test.target)[64:-64]
    assert np.mean((prediction - expected) ** 2) / np.mean(expected**2) < 1e-2
    unchanged, ignoring = (start(since) for since in (None, -100.0))
    assert unchanged[1] == ignoring[1]
    assert torch.equal(unchanged[0].linear.weight, ignoring[0].linear.weight)
