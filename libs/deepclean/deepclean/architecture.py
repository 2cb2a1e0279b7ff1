"""The DeepClean network: a fully convolutional 1-D autoencoder.

Input: witnesses, shape (batch, num_witnesses, time); output: the predicted
noise in (scaled) strain, shape (batch, time). The time axis must be a
multiple of :attr:`DeepClean.stride`. Every layer is a convolution or a
per-sample product, so the network can be streamed exactly by feeding each
block with enough context on both sides (:attr:`DeepClean.receptive_field`).

Witness products
----------------
The mains noise in the strain has sidebands: the mains multiplied by slow
angular-control motion, a bilinear coupling. Convolutions with smooth
activations approximate products poorly, so with ``mains_index`` set the
network first forms the product of the (z-scored) mains-monitor channel with
every other witness, sample by sample, and feeds those products to the
convolutions next to the witnesses themselves::

    witnesses (N) ──────────────────────────────┐
         │                                      ├─ concat (2N-1) ─ input conv ─ down ×4 ─ up ×4 ─ output conv
         └─ mains[:, i] × other witnesses (N-1) ┘

Linear path
-----------
Most of the mains noise is a linear filter of the witnesses and their
products (a complex gain around 60 Hz), which the autoencoder can only
approximate through its tanh bottleneck. With ``linear_kernel_size`` set, one
convolution without activation maps the same inputs straight to the output
and the autoencoder's output is added to it, so the network learns the linear
part exactly and spends its non-linear capacity on what is left::

    inputs ─┬─ autoencoder ──────────┬─ + ─ prediction
            └─ linear conv (no bias) ┘

The linear path starts at zero: an untrained network predicts what the
autoencoder alone would.

Second-order products
---------------------
A coupling of higher order than bilinear (the mains modulated by the square of
an angular motion, or by the product of two) is no linear filter of the
witnesses and their mains products, and the autoencoder learns it only in part
within a cycle's budget. With ``second_order`` a second linear convolution
reads the mains monitor times the product of every pair of other witnesses,
squares included (``N (N - 1) / 2`` inputs; the autoencoder does not see them).
It has :data:`SECOND_ORDER_KERNEL_SIZE` taps ``linear_dilation`` samples apart:
a complex gain around the line needs no more, and its cost in the cleaner stays
a fraction of the first linear path's::

    inputs ─┬─ autoencoder ───────────────────────────────┬─ + ─ prediction
            ├─ linear ────────────────────────────────────┤
            └─ mains × w_i × w_j ─ second-order linear ───┘

For the trainer's least-squares start both convolutions are one linear path
over ``linear_inputs`` (the first-order inputs, then the products), with the
weight :meth:`DeepClean.linear_weight` (the second-order taps at the centre of
the first path's kernel).

The exporter rebuilds the network from ``metadata["architecture"]["kwargs"]``,
so every option is a keyword argument of :class:`DeepClean` with a JSON value.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .network_reach import receptive_field


def _block(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm1d(channels), nn.Tanh())


class WitnessProducts(nn.Module):
    """Append the product of one witness (the mains monitor) with every other witness."""

    def __init__(self, num_witnesses: int, mains_index: int) -> None:
        super().__init__()
        if not 0 <= mains_index < num_witnesses:
            raise ValueError(f"mains_index must be in [0, {num_witnesses}), got {mains_index}")
        self.mains_index = mains_index
        others = [i for i in range(num_witnesses) if i != mains_index]
        self.register_buffer("others", torch.tensor(others, dtype=torch.long), persistent=False)

    @property
    def num_outputs(self) -> int:
        return 2 * len(self.others) + 1

    def forward(self, witnesses: torch.Tensor) -> torch.Tensor:
        mains = witnesses[:, self.mains_index : self.mains_index + 1]
        products = mains * witnesses.index_select(1, self.others)
        return torch.cat([witnesses, products], dim=1)


SECOND_ORDER_KERNEL_SIZE = 5
"""Taps of the second-order products' convolution."""


class SecondOrderProducts(nn.Module):
    """The mains monitor times the product of every pair of other witnesses (``i <= j``), from the output of
    :class:`WitnessProducts`."""

    def __init__(self, num_witnesses: int, mains_index: int) -> None:
        super().__init__()
        others = [i for i in range(num_witnesses) if i != mains_index]
        pairs = [(a, b) for position, a in enumerate(others) for b in others[position:]]
        self.mains_index = mains_index
        self.register_buffer("first", torch.tensor([a for a, _ in pairs], dtype=torch.long), persistent=False)
        self.register_buffer("second", torch.tensor([b for _, b in pairs], dtype=torch.long), persistent=False)

    @property
    def num_pairs(self) -> int:
        return len(self.first)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs``: the witnesses (first ``num_witnesses`` channels) and their mains products."""
        mains = inputs[:, self.mains_index : self.mains_index + 1]
        return mains * inputs.index_select(1, self.first) * inputs.index_select(1, self.second)


class DeepClean(nn.Module):
    """Input conv, four stride-2 conv blocks N→8→16→32→64, mirrored transposed
    convs back to N, output conv to one channel.

    Parameters
    ----------
    num_witnesses
        Number of witness channels in the input.
    kernel_size
        Odd length of every convolution kernel.
    mains_index
        Index of the mains-monitor witness; when set, its products with every
        other witness are fed to the convolutions too (see the module notes).
        None gives the original network.
    linear_kernel_size
        Odd number of the linear path's taps (see the module notes); None:
        no linear path.
    linear_dilation
        Samples between the linear path's taps: its kernel spans
        ``(linear_kernel_size - 1) * linear_dilation + 1`` samples. The noise is a band of
        ~20 Hz, so taps a few samples apart shape its response as well as every sample would,
        at a fraction of the cost (what the filter does elsewhere is band-passed away).
    widths
        Channels of the downsampling blocks (their number sets :attr:`stride`).
    second_order
        A second linear path reads the mains monitor times every pair of other witnesses (the module
        notes); needs ``mains_index`` and ``linear_kernel_size`` (at least
        :data:`SECOND_ORDER_KERNEL_SIZE`).
    """

    widths: tuple[int, ...] = (8, 16, 32, 64)

    def __init__(
        self,
        num_witnesses: int,
        kernel_size: int = 7,
        mains_index: int | None = None,
        widths: Sequence[int] = (8, 16, 32, 64),
        linear_kernel_size: int | None = None,
        linear_dilation: int = 1,
        second_order: bool = False,
    ) -> None:
        super().__init__()
        if num_witnesses < 1:
            raise ValueError(f"num_witnesses must be positive, got {num_witnesses}")
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive channel counts, got {list(widths)}")
        if linear_kernel_size is not None and (linear_kernel_size % 2 != 1 or linear_kernel_size < 1):
            raise ValueError(f"linear_kernel_size must be odd and positive, got {linear_kernel_size}")
        if linear_dilation < 1:
            raise ValueError(f"linear_dilation must be positive, got {linear_dilation}")
        if second_order and (mains_index is None or (linear_kernel_size or 0) < SECOND_ORDER_KERNEL_SIZE):
            raise ValueError(
                f"second_order needs mains_index and a linear_kernel_size of at least {SECOND_ORDER_KERNEL_SIZE}"
            )
        self.num_witnesses = num_witnesses
        self.kernel_size = kernel_size
        self.widths = tuple(int(w) for w in widths)
        pad = kernel_size // 2

        if mains_index is None:
            self.products: nn.Module = nn.Identity()
            channels = num_witnesses
        else:
            self.products = WitnessProducts(num_witnesses, mains_index)
            channels = self.products.num_outputs
        n = num_witnesses
        self.input_conv = _block(nn.Conv1d(channels, n, kernel_size, padding=pad), n)
        down, channels = [], n
        for width in self.widths:
            down.append(_block(nn.Conv1d(channels, width, kernel_size, stride=2, padding=pad), width))
            channels = width
        self.downsampler = nn.Sequential(*down)
        up = []
        for width in (*reversed(self.widths[:-1]), n):
            up.append(
                _block(
                    nn.ConvTranspose1d(channels, width, kernel_size, stride=2, padding=pad, output_padding=1),
                    width,
                )
            )
            channels = width
        self.upsampler = nn.Sequential(*up)
        self.output_conv = nn.Conv1d(n, 1, kernel_size, padding=pad)
        self.linear_kernel_size = linear_kernel_size
        self.linear_dilation = linear_dilation
        self.linear: nn.Conv1d | None = None
        self.second_order: SecondOrderProducts | None = None
        self.second_order_linear: nn.Conv1d | None = None
        if second_order:
            self.second_order = SecondOrderProducts(num_witnesses, mains_index)
            self.second_order_linear = nn.Conv1d(
                self.second_order.num_pairs,
                1,
                SECOND_ORDER_KERNEL_SIZE,
                padding=(SECOND_ORDER_KERNEL_SIZE // 2) * linear_dilation,
                dilation=linear_dilation,
                bias=False,
            )
            nn.init.zeros_(self.second_order_linear.weight)
        if linear_kernel_size is not None:
            self.linear = nn.Conv1d(
                self.input_conv[0].in_channels,
                1,
                linear_kernel_size,
                padding=(linear_kernel_size // 2) * linear_dilation,
                dilation=linear_dilation,
                bias=False,
            )
            nn.init.zeros_(self.linear.weight)

    @property
    def stride(self) -> int:
        """The time axis must be a multiple of this many samples."""
        return 2 ** len(self.widths)

    @property
    def receptive_field(self) -> int:
        """Samples of context each side of an output sample that can affect it."""
        return receptive_field(self.kernel_size, len(self.widths), self.linear_kernel_size, self.linear_dilation)

    @property
    def num_first_order_inputs(self) -> int:
        """The linear path's inputs that the autoencoder reads too (the witnesses and their mains products);
        the second-order products follow them."""
        return self.input_conv[0].in_channels

    def linear_inputs(self, witnesses: torch.Tensor) -> torch.Tensor:
        """What the linear paths read, as one path: the witnesses, their mains products and, with
        ``second_order``, the second-order products."""
        inputs = self.products(witnesses)
        if self.second_order is None:
            return inputs
        return torch.cat([inputs, self.second_order(inputs)], dim=1)

    def linear_weight(self) -> torch.Tensor:
        """Both linear paths' weights as one over :meth:`linear_inputs`: (1, channels, linear_kernel_size), a
        cross-correlation; the second-order taps at the kernel's centre, 0 elsewhere."""
        if self.second_order_linear is None:
            return self.linear.weight.detach().clone()
        second = self.second_order_linear.weight.detach()
        weight = torch.zeros(1, self.linear.in_channels + second.shape[1], self.linear.kernel_size[0])
        weight[:, : self.linear.in_channels] = self.linear.weight.detach()
        centre, reach = weight.shape[2] // 2, SECOND_ORDER_KERNEL_SIZE // 2
        weight[:, self.linear.in_channels :, centre - reach : centre + reach + 1] = second
        return weight

    def set_linear_weight(self, weight: torch.Tensor) -> None:
        """Set both linear paths from one weight over :meth:`linear_inputs` (:meth:`linear_weight`'s layout).

        Raises
        ------
        ValueError
            A second-order tap outside the centre, where the second-order path has none.
        """
        first = self.linear.in_channels
        with torch.no_grad():
            self.linear.weight.copy_(weight[:, :first])
            if self.second_order_linear is not None:
                centre, reach = weight.shape[2] // 2, SECOND_ORDER_KERNEL_SIZE // 2
                central = weight[:, first:, centre - reach : centre + reach + 1]
                beyond = weight[:, first:].clone()
                beyond[:, :, centre - reach : centre + reach + 1] = 0
                if beyond.any():
                    raise ValueError(f"second-order taps beyond the {SECOND_ORDER_KERNEL_SIZE} central ones")
                self.second_order_linear.weight.copy_(central)

    def forward(self, witnesses: torch.Tensor) -> torch.Tensor:
        inputs = self.products(witnesses)
        x = self.input_conv(inputs)
        x = self.downsampler(x)
        x = self.upsampler(x)
        prediction = self.output_conv(x)[:, 0]
        if self.linear is not None:
            prediction = prediction + self.linear(inputs)[:, 0]
        if self.second_order_linear is not None:
            prediction = prediction + self.second_order_linear(self.second_order(inputs))[:, 0]
        return prediction
