"""Streaming the network exactly: blocks with context equal one offline pass."""

import numpy as np
import pytest
import torch
from conftest import export_model

from deepclean.architecture import DeepClean
from deepclean_cleaner.backends import OnnxPredictor
from deepclean_cleaner.buffers import Block
from deepclean_cleaner.network import (
    StreamedNetwork,
    receptive_field,
    streaming_context,
)

TOLERANCE = 1e-5
"""Largest absolute difference accepted between streamed and offline float32 predictions (outputs are O(1))."""


@pytest.mark.parametrize(
    "kernel_size,widths",
    [
        (3, (8, 16, 32, 64)),
        (7, (8, 16, 32, 64)),
        (9, (8, 16, 32, 64)),
        (7, (8, 16, 32)),
    ],
)
def test_receptive_field_matches_the_architecture(kernel_size, widths):
    """The torch-free receptive field equals the network's own."""
    network = DeepClean(4, kernel_size, widths=widths)
    assert receptive_field(kernel_size, len(widths)) == network.receptive_field
    assert streaming_context(kernel_size, len(widths)) % network.stride == 0


def test_receptive_field_bounds_the_influence_of_an_input_sample():
    """Changing one input sample changes no output further away than the receptive field."""
    torch.manual_seed(0)
    network = DeepClean(2, 7).eval()
    x = torch.randn(1, 2, 1024)
    y = x.clone()
    y[0, :, 512] += 10.0
    with torch.no_grad():
        changed = (network(x) - network(y)).abs()[0] > 0
    reach = np.flatnonzero(changed.numpy())
    assert reach.min() >= 512 - receptive_field(7) and reach.max() <= 512 + receptive_field(7)


@pytest.mark.parametrize("architecture", [{}, {"mains_index": 0}, {"kernel_size": 9, "widths": (8, 16, 32)}])
def test_streamed_predictions_equal_one_offline_pass(tmp_path, architecture):
    """Second-long blocks with context give the offline prediction of the whole span to 1e-5.

    Also for the network with witness products and for other kernels and depths.
    """
    export_model(tmp_path / "1", seed=1, **architecture)
    predictor = OnnxPredictor(tmp_path / "1" / "model.onnx")
    kernel_size = architecture.get("kernel_size", 7)
    levels = len(architecture.get("widths", (8, 16, 32, 64)))
    rng = np.random.default_rng(1)
    rate, seconds = 4096, 6
    witnesses = rng.normal(size=(4, rate * seconds))
    context = streaming_context(kernel_size, levels)
    stage = StreamedNetwork(predictor, np.arange(4), np.zeros(4), np.ones(4), context, stride=2**levels)
    start = 1400000000 * rate
    streamed = [
        stage.process(Block(start + i * rate, rate, witnesses[:, i * rate : (i + 1) * rate])) for i in range(seconds)
    ]
    assert streamed[0] is None  # priming: not enough context yet
    blocks = [b for b in streamed if b is not None]
    assert all(b.start == start + (i + 1) * rate - context for i, b in enumerate(blocks))
    joined = np.concatenate([b.data for b in blocks])
    offline = predictor.predict(witnesses[None].astype(np.float32))[0]
    first = blocks[0].start - start
    np.testing.assert_allclose(joined, offline[first : first + joined.size], atol=TOLERANCE, rtol=0)


def test_a_block_not_a_multiple_of_the_stride_is_refused(repository):
    """Blocks must keep the stride phase; a ragged block raises a clear error."""
    predictor = OnnxPredictor(repository / "deepclean" / "1" / "model.onnx")
    stage = StreamedNetwork(predictor, np.arange(4), np.zeros(4), np.ones(4), streaming_context(7))
    with pytest.raises(ValueError, match="stride"):
        stage.process(Block(0, 4096, np.zeros((4, 1000))))
