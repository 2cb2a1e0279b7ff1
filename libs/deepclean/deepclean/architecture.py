"""The DeepClean network: a fully convolutional 1-D autoencoder.

Input: witnesses, shape (batch, num_witnesses, time); output: the predicted
noise in (scaled) strain, shape (batch, time). The time axis must be a
multiple of :attr:`DeepClean.stride`. Every layer is a convolution, so the
network can be streamed exactly by feeding each block with enough context on
both sides (:attr:`DeepClean.receptive_field`).
"""

from __future__ import annotations

import torch
from torch import nn


def _block(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm1d(channels), nn.Tanh())


class DeepClean(nn.Module):
    """Input conv, four stride-2 conv blocks N→8→16→32→64, mirrored transposed
    convs back to N, output conv to one channel."""

    widths = (8, 16, 32, 64)

    def __init__(self, num_witnesses: int, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.num_witnesses = num_witnesses
        self.kernel_size = kernel_size
        pad = kernel_size // 2
        n = num_witnesses
        self.input_conv = _block(nn.Conv1d(n, n, kernel_size, padding=pad), n)
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

    @property
    def stride(self) -> int:
        """The time axis must be a multiple of this many samples."""
        return 2 ** len(self.widths)

    @property
    def receptive_field(self) -> int:
        """Samples of context each side of an output sample that can affect it."""
        half = self.kernel_size // 2
        reach = half  # input conv
        for level in range(len(self.widths)):  # downsampling convs at stride 2**level
            reach += half * 2**level
        for level in reversed(range(len(self.widths))):  # transposed convs
            reach += (half + 1) * 2**level
        return reach + half  # output conv

    def forward(self, witnesses: torch.Tensor) -> torch.Tensor:
        x = self.input_conv(witnesses)
        x = self.downsampler(x)
        x = self.upsampler(x)
        return self.output_conv(x)[:, 0]
