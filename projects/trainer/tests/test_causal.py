"""Training for the cleaner's causal (low-latency) mode: the filtered loss, the alignment, the start and a cycle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DURATION, START, quick_settings
from test_linear_init import coupled_segment

from deepclean.architecture import DeepClean
from deepclean.model_repository import TrainingMetadata
from deepclean.signal import bandpass_sos, causal_bandpass, causal_impulse_response, causal_lead
from deepclean.testing.frame_sources import synthetic_frame_source
from deepclean_trainer.batches import WindowSampler, validation_windows
from deepclean_trainer.cycle import CAUSAL_FILTER_ORDER, causal_estimate_band, run_cycle
from deepclean_trainer.dataset import SpanData, Stretch
from deepclean_trainer.linear_init import fit_linear_path
from deepclean_trainer.loss import CausalFilter, PsdRatioLoss
from deepclean_trainer.preprocessing import Scaler, Segment, to_segments
from deepclean_trainer.settings import cycle_settings

RATE = 1024
BAND = (57.0, 63.0)
SOS = bandpass_sos(BAND, RATE, 2)


def test_the_causal_filter_is_sosfilt_after_its_warmup():
    """The convolution with the cut impulse response equals scipy's causal filter once warmed up."""
    x = np.random.default_rng(0).standard_normal((2, 6 * RATE))
    layer = CausalFilter(causal_impulse_response(SOS, 1e-6))
    ours = layer(torch.from_numpy(x).float()).numpy()[:, layer.warmup :]
    expected = np.stack([causal_bandpass(row, SOS) for row in x])[:, layer.warmup :]
    np.testing.assert_allclose(ours, expected, atol=1e-4 * np.abs(expected).max())


def test_the_loss_judges_the_causally_filtered_prediction():
    """The raw noise predicted gives ~0 against its causally filtered version, but not without the filter."""
    layer = CausalFilter(causal_impulse_response(SOS))
    window = 4 * RATE
    noise = torch.from_numpy(np.random.default_rng(1).standard_normal((3, layer.warmup + window))).float()
    target = torch.from_numpy(np.stack([causal_bandpass(row, SOS) for row in noise.numpy()])).float()[:, -window:]
    causal = PsdRatioLoss(RATE, BAND, fftlength=1.0, prediction_filter=layer)
    assert float(causal(noise, target)) < 1e-3
    assert float(causal(torch.zeros_like(noise), target)) == pytest.approx(1.0, abs=1e-6)
    assert float(PsdRatioLoss(RATE, BAND, fftlength=1.0)(noise[:, -window:], target)) > 0.5


def test_a_prediction_without_room_for_the_warmup_is_refused():
    layer = CausalFilter(causal_impulse_response(SOS))
    loss = PsdRatioLoss(RATE, BAND, fftlength=1.0, prediction_filter=layer)
    with pytest.raises(ValueError, match="warm-up"):
        loss(torch.zeros(1, 2 * RATE), torch.zeros(1, 2 * RATE))


def test_segments_hold_the_strain_lead_samples_after_the_witnesses():
    """Sample n of a causal segment pairs the witnesses at n with the strain (and target) at n + lead."""
    rng = np.random.default_rng(2)
    seconds, lead = 32, 170
    stretch = Stretch(START, seconds, rng.standard_normal(seconds * 4096), {"w": rng.standard_normal(seconds * 512)})
    span = SpanData(START, START + seconds, [stretch], 4096.0, {"w": 512.0})
    plain = to_segments(span, ["w"], RATE, BAND, 8, 2.0)[0]
    ahead = to_segments(span, ["w"], RATE, BAND, 8, 2.0, lead)[0]
    assert ahead.start == plain.start and ahead.num_samples == plain.num_samples - lead
    np.testing.assert_array_equal(ahead.witnesses, plain.witnesses[:, : ahead.num_samples])
    np.testing.assert_array_equal(ahead.strain, plain.strain[lead:])
    np.testing.assert_array_equal(ahead.target, plain.target[lead:])
    causal = to_segments(span, ["w"], RATE, BAND, 8, 2.0, lead, witness_phase="minimum")[0]
    np.testing.assert_array_equal(causal.strain, ahead.strain)  # only the witnesses' filter differs
    assert not np.allclose(causal.witnesses, ahead.witnesses)


def ramp_segment(seconds: int) -> Segment:
    times = np.arange(seconds * RATE, dtype=float)
    return Segment(0.0, RATE, np.stack([times, times]), times, times)


IDENTITY = Scaler(np.zeros(2), np.ones(2), 0.0, 1.0)


def test_windows_carry_the_warmup_before_their_targets():
    """Each target window is the last ``window`` samples of its witness window, in training and validation."""
    window, warmup = 256, 96
    sampler = WindowSampler([ramp_segment(8)], IDENTITY, window, seed=0, warmup=warmup)
    witnesses, targets = sampler.batch(16)
    assert witnesses.shape == (16, 2, warmup + window) and targets.shape == (16, window)
    np.testing.assert_array_equal(witnesses[:, 0, warmup:].numpy(), targets.numpy())
    witnesses, targets = validation_windows([ramp_segment(4)], IDENTITY, window, warmup)
    np.testing.assert_array_equal(witnesses[:, 0, warmup:].numpy(), targets.numpy())
    assert targets[0, 0] == warmup and np.all(np.diff(targets[:, 0].numpy()) == window)


def test_the_least_squares_start_fits_the_filtered_prediction():
    """With the causal filter the fit reproduces a causally filtered coupling; without it, it cannot."""
    training = [coupled_segment(32, seed=1)]
    for segment in training:
        segment.target = causal_bandpass(segment.target, SOS)
    scaler = Scaler.fit(training)
    left = {}
    for with_filter in (True, False):
        torch.manual_seed(0)
        network = DeepClean(2, mains_index=0, linear_kernel_size=31)
        with torch.no_grad():
            network.output_conv.weight.zero_()
            network.output_conv.bias.zero_()
        left[with_filter] = fit_linear_path(
            network, training, scaler, prediction_filter=SOS if with_filter else None
        ).left
    assert left[True] < 1e-4 and left[False] > 0.01


def test_a_causal_cycle_records_its_mode_and_lead(frames):
    """The metadata of a causal version names the causal filter, the mode and the lead both sides compute."""
    settings = quick_settings(frames, latency_mode="causal", max_epochs=1, steps_per_epoch=2)
    result = run_cycle(settings, START, START + DURATION)
    metadata = TrainingMetadata.from_json(result.directory.metadata)
    network = DeepClean(**settings.architecture)
    context = -(-network.receptive_field // network.stride) * network.stride
    lead = causal_lead(metadata.witness_sample_rates.values(), RATE, 16384, context, network.stride)
    assert metadata.latency_mode.value == "causal" and metadata.lead == lead
    assert metadata.witness_resampling == "minimum"  # what the cleaner's causal mode resamples with
    assert result.directory.metadata["filter"] == {
        "kind": "butter-sos-causal",
        "order": CAUSAL_FILTER_ORDER,
        "band": list(causal_estimate_band(settings.band)),
    }
    assert result.band_asd_ratio < 1.0
    assert f"causal mode: the network is trained {lead} samples" in (result.directory.path / "train.log").read_text()


def test_the_causal_mode_widens_the_linear_path_to_the_network_context():
    """The target lies ahead of the output: the linear path must reach the newest witnesses the network sees."""
    from deepclean_trainer.main import main as trainer_main

    values = {**_defaults(trainer_main), "latency_mode": "causal"}
    causal = cycle_settings(**values).architecture
    plain = cycle_settings(**{**values, "latency_mode": "zero-phase"}).architecture
    reach = DeepClean(1, 7).receptive_field
    assert (plain["linear_kernel_size"], plain["linear_dilation"]) == (51, 5)
    dilation = causal["linear_dilation"]
    assert dilation > 1 and causal["linear_kernel_size"] % 2 == 1
    # it reaches the newest witness sample the network sees, and not a stride further
    assert reach <= causal["linear_kernel_size"] // 2 * dilation < reach + dilation


@pytest.mark.parametrize(
    "override, applies",
    [
        ({}, True),
        ({"latency_mode": "causal"}, False),
        ({"linear_init": "least_squares"}, False),
        ({"mains_channel": None}, False),
        ({"linear_kernel_size": 3}, False),
    ],
)
def test_second_order_products_apply_with_the_spectral_start_only(override, applies):
    """Only the zero-phase mode's spectral start fits and chooses them (the time-domain start's normal
    equations would grow six-fold); a network without a mains channel has no products to extend, and a
    linear path shorter than theirs would not reach as far as they do (a 3-tap path stays valid)."""
    from deepclean_trainer.main import main as trainer_main

    values = {**_defaults(trainer_main), "second_order": True, **override}
    assert cycle_settings(**values).architecture.get("second_order", False) is applies


def _defaults(function) -> dict:
    """The trainer's configuration values: its signature's defaults and a few required keys."""
    import inspect

    values = {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    values.update(
        synthetic_frame_source(Path(".")),
        training_root=".",
        witness_channels=["H1:PEM-CS_MAINSMON_EBAY_1_DQ", "H1:ASC-INP1_P_OUT_DQ"],
        strain_sample_rate=16384,
        sample_rate=RATE,
        band=(55.0, 65.0),
        device="cpu",
    )
    return values


def causal_metadata() -> dict:
    """A causal version's metadata.json (the schema's example with the causal filter and latency)."""
    from deepclean.testing.training_directory import training_metadata

    content = training_metadata({"H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024}, {"kernel_size": 7}, sample_rate=RATE)
    content["filter"]["kind"] = "butter-sos-causal"
    content["latency"] = {"mode": "causal", "lead": 170}
    return content


def test_the_latency_metadata_round_trips():
    """Mode and lead read back as written, in the schema's key order; a file without them is zero-phase."""
    import json

    from deepclean.model_repository.training_metadata import LatencyMode

    content = causal_metadata()
    metadata = TrainingMetadata.from_json(json.loads(json.dumps(content)), "m.json")
    assert metadata.latency_mode is LatencyMode.CAUSAL and metadata.lead == 170
    assert metadata.to_json() == content
    assert list(metadata.to_json()).index("latency") == list(metadata.to_json()).index("filter") + 1
    plain = {k: v for k, v in content.items() if k != "latency"} | {
        "filter": {**content["filter"], "kind": "butter-sos-zero-phase"}
    }
    assert TrainingMetadata.from_json(plain).latency_mode is LatencyMode.ZERO_PHASE
    assert "latency" not in TrainingMetadata.from_json(plain).to_json()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m["latency"].update(mode="instant"), r"'latency\.mode' 'instant' is not supported"),
        (lambda m: m["latency"].update(lead=-1), r"'latency\.lead' must be a non-negative integer"),
        (lambda m: m["latency"].update(mode="zero-phase"), r"'latency\.lead' must be 0 in zero-phase mode"),
        (lambda m: m.pop("latency"), r"'filter\.kind' 'butter-sos-causal' does not fit 'latency\.mode' 'zero-phase'"),
        (lambda m: m["filter"].update(kind="butter-sos-zero-phase"), r"does not fit 'latency\.mode' 'causal'"),
    ],
)
def test_inconsistent_latency_metadata_is_refused_naming_the_key(change, message):
    from deepclean.model_repository import MetadataError

    content = causal_metadata()
    change(content)
    with pytest.raises(MetadataError, match=message):
        TrainingMetadata.from_json(content, "m.json")
