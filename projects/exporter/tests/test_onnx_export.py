"""Tests of the ONNX export and of its comparison with torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import CHANNELS, SAMPLE_RATE

from deepclean_exporter import onnx_export
from deepclean_exporter.errors import Rejected
from deepclean_exporter.onnx_export import build_network, check_onnx, export_onnx
from deepclean_exporter.training_dir import load_training


@pytest.fixture(params=[0, None], ids=["witness-products", "plain"])
def network(make_training_dir, request):
    """The network of a small training run, with and without the mains × witness products."""
    directory = make_training_dir("run-1", mains_index=request.param)
    return build_network(load_training(directory, CHANNELS, SAMPLE_RATE))


def test_exported_model_streams_any_multiple_of_the_stride(network, tmp_path: Path) -> None:
    """The ONNX model takes any batch and any length that is a multiple of 16, and matches torch."""
    path = tmp_path / "model.onnx"
    export_onnx(network, path, opset=17, check_samples=256)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["witness"]
    assert [o.name for o in session.get_outputs()] == ["noise"]
    for batch, length in [(1, 16 * 40), (3, 16 * 97)]:
        witnesses = np.random.default_rng(1).standard_normal((batch, len(CHANNELS), length)).astype(np.float32)
        noise = session.run(["noise"], {"witness": witnesses})[0]
        assert noise.shape == (batch, length)
        expected = network(torch.from_numpy(witnesses)).detach().numpy()
        np.testing.assert_allclose(noise, expected, rtol=1e-4, atol=1e-5)


def test_check_reports_the_difference_within_tolerance(network, tmp_path: Path) -> None:
    """The check of a faithful export passes and records a difference far below the tolerance."""
    path = tmp_path / "model.onnx"
    export_onnx(network, path, opset=17, check_samples=512)
    check = check_onnx(network, path, 512, atol=1e-5, rtol=1e-4)
    assert check.max_abs_difference < 1e-5
    assert check.max_abs_output > 0
    assert all(length % network.stride == 0 for length in check.input_lengths)


def test_check_rejects_a_model_that_differs_from_torch(make_training_dir, tmp_path: Path) -> None:
    """An ONNX file from other weights is caught by the comparison."""
    first = build_network(load_training(make_training_dir("a", seed=1), CHANNELS, SAMPLE_RATE))
    second = build_network(load_training(make_training_dir("b", seed=2), CHANNELS, SAMPLE_RATE))
    path = tmp_path / "model.onnx"
    export_onnx(first, path, opset=17, check_samples=256)
    with pytest.raises(Rejected, match="ONNX output differs from torch"):
        check_onnx(second, path, 256, atol=1e-5, rtol=1e-4)


def test_check_rejects_non_finite_output(network, tmp_path: Path) -> None:
    """A model whose output is NaN on random input (a negative running variance) is rejected."""
    with torch.no_grad():
        network.input_conv[1].running_var.fill_(-1.0)
    path = tmp_path / "model.onnx"
    export_onnx(network, path, opset=17, check_samples=256)
    with pytest.raises(Rejected, match="NaN or infinite output"):
        check_onnx(network, path, 256, atol=1e-5, rtol=1e-4)


def test_weights_that_do_not_fit_the_architecture_are_rejected(make_training_dir) -> None:
    """A state_dict for a different kernel size does not load into the metadata's architecture."""
    run = load_training(make_training_dir("run-1", kernel_size=5), CHANNELS, SAMPLE_RATE)
    run.metadata["architecture"]["kwargs"]["kernel_size"] = 3
    with pytest.raises(Rejected, match="weights do not fit DeepClean"):
        build_network(run)


@pytest.mark.parametrize(("relative_error", "accepted"), [(1e-5, True), (1e-2, False)])
def test_the_tolerance_follows_the_outputs_scale(
    network, tmp_path: Path, monkeypatch, relative_error, accepted
) -> None:
    """Float32 rounding of 1e-5 of the output's scale at every sample, zero crossings included, is
    accepted (a per-sample relative tolerance refused it where the output crosses zero); an error of 1 %
    of the scale is refused."""
    with torch.no_grad():  # an output of scale ~10 that crosses zero, as a trained network's does
        network.output_conv.weight.mul_(30.0)
        witnesses = torch.from_numpy(np.random.default_rng(1).standard_normal((1, network.num_witnesses, 2048)))
        network.output_conv.bias.sub_(network(witnesses.float()).mean())
    path = tmp_path / "model.onnx"
    export_onnx(network, path, opset=17, check_samples=512)
    real_session = onnx_export.ort.InferenceSession

    class RoundedSession:
        def __init__(self, *args, **kwargs) -> None:
            self.session = real_session(*args, **kwargs)

        def run(self, outputs, feeds):
            (got,) = self.session.run(outputs, feeds)
            scale = np.abs(got).max()
            wobble = np.random.default_rng(0).choice([-1.0, 1.0], got.shape) * relative_error * scale
            return [(got + wobble).astype(np.float32)]

    monkeypatch.setattr(onnx_export.ort, "InferenceSession", RoundedSession)
    if accepted:
        check = check_onnx(network, path, 512, atol=1e-5, rtol=1e-4)
        # above the absolute tolerance: a zero crossing off by this much failed the per-sample rule
        assert 1e-5 < check.max_abs_difference < 2 * relative_error * check.max_abs_output
    else:
        with pytest.raises(Rejected, match="ONNX output differs from torch"):
            check_onnx(network, path, 512, atol=1e-5, rtol=1e-4)
