"""Tests of the DeepClean network: shapes, streaming reach, witness products, ONNX export."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepclean import network_reach  # noqa: E402 (torch first: skip without it)
from deepclean.architecture import (  # noqa: E402 (torch first: skip without it)
    SECOND_ORDER_KERNEL_SIZE,
    DeepClean,
    SecondOrderProducts,
    WitnessProducts,
)

torch.set_num_threads(2)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"mains_index": 0}, {"kernel_size": 5, "widths": [4, 8, 16]}, {"mains_index": 0, "linear_kernel_size": 31}],
)
def test_output_shape_and_stride(kwargs):
    """(batch, witnesses, time) in, (batch, time) out, for time a multiple of the stride."""
    network = DeepClean(5, **kwargs).eval()
    time = 8 * network.stride
    with torch.no_grad():
        assert network(torch.randn(3, 5, time)).shape == (3, time)
    assert network.stride == 2 ** len(kwargs.get("widths", DeepClean.widths))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"mains_index": 2},
        {"mains_index": 2, "linear_kernel_size": 31},
        {"mains_index": 2, "linear_kernel_size": 31, "second_order": True},
    ],
)
def test_receptive_field_bounds_the_reach(kwargs):
    """A change farther than receptive_field samples never reaches an output; the bound is tight within a stride."""
    torch.manual_seed(0)
    network = DeepClean(3, **kwargs).eval()
    reach, centre = network.receptive_field, 512
    x = torch.randn(1, 3, 1024)
    with torch.no_grad():
        base = network(x)[:, centre - 16 : centre + 16]
        far = x.clone()
        far[..., centre + 16 + reach :] += 10.0
        far[..., : centre - 16 - reach] += 10.0
        torch.testing.assert_close(network(far)[:, centre - 16 : centre + 16], base, rtol=0, atol=0)
        nearest_reach = [
            offset
            for offset in range(reach - network.stride + 1, reach + 1)
            if network(x + 10.0 * (torch.arange(1024) == centre + offset))[0, centre] != network(x)[0, centre]
        ]
        assert nearest_reach, "receptive_field overstates the reach by more than one stride"


def test_witness_products_are_mains_times_each_other_witness():
    """The product stage appends mains[i] * witness[j] for every j != i, sample by sample."""
    x = torch.randn(2, 4, 32)
    out = WitnessProducts(4, mains_index=1)(x)
    assert out.shape == (2, 7, 32)
    torch.testing.assert_close(out[:, :4], x)
    torch.testing.assert_close(out[:, 4:], x[:, 1:2] * x[:, [0, 2, 3]])


def test_second_order_products_are_mains_times_every_pair_of_other_witnesses():
    """mains[i] * witness[j] * witness[k] for every j <= k, j, k != i."""
    x = torch.randn(2, 4, 32)
    out = SecondOrderProducts(4, mains_index=1)(WitnessProducts(4, mains_index=1)(x))
    pairs = [(0, 0), (0, 2), (0, 3), (2, 2), (2, 3), (3, 3)]
    assert out.shape == (2, len(pairs), 32)
    for position, (j, k) in enumerate(pairs):
        torch.testing.assert_close(out[:, position], x[:, 1] * x[:, j] * x[:, k])


def test_second_order_products_feed_their_own_short_linear_path_only():
    """A path of SECOND_ORDER_KERNEL_SIZE taps reads them; the autoencoder's input and an untrained network's
    output are unchanged; as one path over linear_inputs, its taps sit at the centre of the first path's kernel."""
    torch.manual_seed(0)
    plain = DeepClean(5, mains_index=0, linear_kernel_size=11, linear_dilation=2)
    torch.manual_seed(0)
    second = DeepClean(5, mains_index=0, linear_kernel_size=11, linear_dilation=2, second_order=True)
    assert second.num_first_order_inputs == second.linear.in_channels == plain.linear.in_channels == 9
    assert second.second_order_linear.in_channels == 10
    assert second.second_order_linear.kernel_size[0] == SECOND_ORDER_KERNEL_SIZE
    x = torch.randn(1, 5, 256)
    with torch.no_grad():
        torch.testing.assert_close(second(x), plain(x))
        assert second.linear_inputs(x).shape == (1, 19, 256)
        torch.testing.assert_close(second.linear_inputs(x)[:, :9], plain.linear_inputs(x))
        # one path over linear_inputs with linear_weight() predicts what both paths predict
        weight = torch.zeros(1, 19, 11)
        weight[0, :, 3:8] = torch.randn(19, 5)
        second.set_linear_weight(weight)
        torch.testing.assert_close(second.linear_weight(), weight)
        one_path = torch.nn.functional.conv1d(second.linear_inputs(x), weight, padding=10, dilation=2)[:, 0]
        torch.testing.assert_close(second(x) - plain(x) + plain.linear(plain.linear_inputs(x))[:, 0], one_path)
        weight[0, 12, 0] = 1.0
        with pytest.raises(ValueError, match="central"):
            second.set_linear_weight(weight)
    with pytest.raises(ValueError, match="second_order"):
        DeepClean(5, linear_kernel_size=11, second_order=True)
    with pytest.raises(ValueError, match="second_order"):
        DeepClean(5, mains_index=0, linear_kernel_size=3, second_order=True)


def test_products_let_the_network_fit_a_bilinear_coupling():
    """With products a few steps fit mains x slow-witness noise better than the original network."""
    t = torch.arange(4096) / 4096.0
    losses = {}
    for mains_index in (None, 0):
        torch.manual_seed(0)
        mains = torch.sin(2 * torch.pi * 60 * t)
        slow = torch.cumsum(torch.randn(8, 4096), dim=-1) / 64
        witnesses = torch.stack([mains.expand(8, -1), slow], dim=1)
        target = mains * slow
        network = DeepClean(2, mains_index=mains_index)
        optimiser = torch.optim.Adam(network.parameters(), lr=3e-3)
        for _ in range(60):
            loss = torch.mean((network(witnesses) - target) ** 2) / torch.mean(target**2)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        losses[mains_index] = float(loss)
    assert losses[0] < 0.5 * losses[None]


def test_linear_path_starts_at_zero_and_widens_the_reach_only_when_longer():
    """An untrained linear path leaves the output as the autoencoder's; a kernel longer than the
    autoencoder's reach sets the receptive field."""
    torch.manual_seed(0)
    plain = DeepClean(3, mains_index=0).eval()
    torch.manual_seed(0)
    linear = DeepClean(3, mains_index=0, linear_kernel_size=31).eval()
    x = torch.randn(2, 3, 512)
    with torch.no_grad():
        torch.testing.assert_close(linear(x), plain(x))
    assert linear.receptive_field == plain.receptive_field
    assert DeepClean(3, linear_kernel_size=2 * plain.receptive_field + 41).receptive_field == plain.receptive_field + 20


def test_a_dilated_linear_path_reaches_as_far_as_its_taps_and_no_farther():
    """51 taps 5 samples apart: an input change 125 samples away reaches the output, 126 does not;
    the library's torch-free reach (what the cleaner streams with) says the same."""
    torch.manual_seed(0)
    network = DeepClean(3, mains_index=0, linear_kernel_size=51, linear_dilation=5).eval()
    with torch.no_grad():
        network.linear.weight.normal_()
    assert network.receptive_field == 125 == network_reach.receptive_field(7, 4, 51, 5)
    assert network_reach.architecture_context({"linear_kernel_size": 51, "linear_dilation": 5}) == 128
    x = torch.randn(1, 3, 1024)
    centre = 512
    with torch.no_grad():
        base = network(x)[0, centre]
        for distance, reaches in ((125, True), (126, False)):
            changed = x.clone()
            changed[0, 1, centre + distance] += 10.0
            assert bool(network(changed)[0, centre] != base) is reaches
    with pytest.raises(ValueError, match="linear_dilation"):
        DeepClean(3, linear_kernel_size=5, linear_dilation=0)


def test_bad_arguments_are_rejected():
    """Even kernels, a mains index out of range and empty widths raise ValueError naming the argument."""
    with pytest.raises(ValueError, match="kernel_size"):
        DeepClean(3, kernel_size=4)
    with pytest.raises(ValueError, match="mains_index"):
        DeepClean(3, mains_index=3)
    with pytest.raises(ValueError, match="widths"):
        DeepClean(3, widths=[])
    with pytest.raises(ValueError, match="linear_kernel_size"):
        DeepClean(3, linear_kernel_size=32)


@pytest.mark.parametrize("second_order", [False, True])
def test_onnx_export_with_dynamic_time_matches_torch(second_order):
    """The legacy ONNX exporter handles the product stages and the linear path; onnxruntime agrees with torch."""
    torch.manual_seed(0)
    network = DeepClean(4, mains_index=0, linear_kernel_size=31, second_order=second_order).eval()
    torch.nn.init.normal_(network.linear.weight, std=0.1)
    if second_order:
        torch.nn.init.normal_(network.second_order_linear.weight, std=0.1)
    buffer = io.BytesIO()
    torch.onnx.export(
        network,
        (torch.randn(1, 4, 256),),
        buffer,
        input_names=["witness"],
        output_names=["noise"],
        dynamic_axes={"witness": {0: "batch", 2: "time"}, "noise": {0: "batch", 1: "time"}},
        dynamo=False,
    )
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((2, 4, 1024)).astype(np.float32)
    (onnx_out,) = session.run(["noise"], {"witness": x})
    with torch.no_grad():
        np.testing.assert_allclose(onnx_out, network(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)
