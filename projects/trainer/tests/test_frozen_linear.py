"""Tests of training the autoencoder around a fixed linear path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_linear_init import coupled_segment

from deepclean.architecture import DeepClean
from deepclean_trainer.frozen_linear import autoencoder_only, linear_prediction
from deepclean_trainer.preprocessing import Scaler
from deepclean_trainer.validation import predict


@pytest.mark.parametrize("kernel, dilation, second_order", [(31, 1, False), (11, 5, False), (11, 5, True)])
def test_the_residual_targets_plus_the_autoencoder_are_the_whole_network(kernel, dilation, second_order, monkeypatch):
    """target - linear(x) - autoencoder(x) equals target - network(x): the loss is unchanged (the linear paths'
    prediction formed in chunks shorter than the segment)."""
    monkeypatch.setattr("deepclean_trainer.frozen_linear.CHUNK_SAMPLES", 3000)
    torch.manual_seed(0)
    network = DeepClean(
        2, mains_index=0, linear_kernel_size=kernel, linear_dilation=dilation, second_order=second_order
    ).eval()
    with torch.no_grad():
        network.linear.weight.normal_()
        if second_order:
            network.second_order_linear.weight.normal_()
    segment = coupled_segment(8, seed=1)
    scaler = Scaler.fit([segment])
    witnesses = scaler.scale_witnesses(segment.witnesses)
    whole = predict(network, witnesses)
    linear = network.linear
    with autoencoder_only(network, scaler, [segment], [segment]) as (training, validation):
        assert network.linear is None
        autoencoder = predict(network, witnesses)
        residual = scaler.scale_target(training[0].target)
        np.testing.assert_allclose(residual - autoencoder, scaler.scale_target(segment.target) - whole, atol=2e-4)
        assert validation[0].target is not segment.target
    assert network.linear is linear
    np.testing.assert_allclose(linear_prediction(network, scaler, segment), whole - autoencoder, atol=2e-4)


def test_the_linear_path_comes_back_after_an_error():
    network = DeepClean(2, mains_index=0, linear_kernel_size=5)
    segment = coupled_segment(4, seed=2)
    scaler = Scaler.fit([segment])
    with pytest.raises(RuntimeError), autoencoder_only(network, scaler, [segment], []):
        raise RuntimeError("training failed")
    assert network.linear is not None
    with pytest.raises(ValueError, match="no linear path"):
        with autoencoder_only(DeepClean(2, mains_index=0), scaler, [segment], []):
            pass
