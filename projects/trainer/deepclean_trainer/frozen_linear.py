"""Train the autoencoder around a linear path held at its closed-form fit.

The linear path's least-squares start (:mod:`linear_spectral`) is already the
best linear filter of the training data in the band, so gradient descent need
not move it; holding it fixed also spares every step the cost of a long
kernel. The autoencoder then learns what the linear path leaves: its target
is the training target minus the linear path's prediction, computed once by
FFT convolution over each segment. The error ``residual - autoencoder(x)`` is
the whole network's error ``target - network(x)``; the loss divides it by the
power of the residual target instead of the target's, a constant factor over
the fixed validation windows (so early stopping picks the same epoch) that
makes the per-epoch losses relative to what the linear path left. The cycle
evaluates the whole network's loss afterwards for the metadata::

    with autoencoder_only(network, scaler, training, validation) as (training, validation):
        ...  # sample windows from these segments and fit the network (its linear path is off)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from scipy.signal import oaconvolve

from deepclean.architecture import DeepClean

from .linear_init import require_linear_path
from .preprocessing import Scaler, Segment

CHUNK_SAMPLES = 2**16
"""The linear paths' inputs are formed this many samples at a time (with the kernel's reach each side): with
the second-order products a whole segment's would take ~1 GB per 1000 s."""


def linear_prediction(network: DeepClean, scaler: Scaler, segment: Segment) -> np.ndarray:
    """The linear paths' (scaled) prediction over a whole segment, as one pass of the network would make it."""
    witnesses = scaler.scale_witnesses(segment.witnesses)
    weight = network.linear_weight()[0].double().numpy()  # (channels, kernel): a cross-correlation
    dilation = network.linear.dilation[0]
    reach = (weight.shape[1] // 2) * dilation
    kernel = np.zeros((weight.shape[0], 2 * reach + 1))
    kernel[:, ::dilation] = weight
    size = witnesses.shape[1]
    total = np.zeros(size)
    for begin in range(0, size, CHUNK_SAMPLES):
        stop = min(begin + CHUNK_SAMPLES, size)
        low, high = max(0, begin - reach), min(size, stop + reach)  # beyond the segment: zeros, as in one pass
        with torch.no_grad():
            inputs = network.linear_inputs(torch.from_numpy(witnesses[:, low:high])[None])[0].numpy()
        for channel, taps in zip(inputs, kernel, strict=True):
            if taps.any():
                part = oaconvolve(channel.astype(np.float64), taps[::-1], mode="full")[reach : reach + channel.size]
                total[begin:stop] += part[begin - low : stop - low]
    return total


def _residual(network: DeepClean, scaler: Scaler, segments: list[Segment]) -> list[Segment]:
    return [
        dataclasses.replace(
            segment, target=segment.target - scaler.target_std * linear_prediction(network, scaler, segment)
        )
        for segment in segments
    ]


@contextmanager
def autoencoder_only(
    network: DeepClean, scaler: Scaler, training: list[Segment], validation: list[Segment]
) -> Iterator[tuple[list[Segment], list[Segment]]]:
    """Training and validation segments whose targets are what the linear path leaves, with the
    network's linear path switched off until the block ends (its weights untouched).

    Raises
    ------
    ValueError
        The network has no linear path to hold fixed.
    """
    require_linear_path(network, "to hold fixed")
    residual = _residual(network, scaler, training), _residual(network, scaler, validation)
    paths = network.linear, network.second_order_linear
    network.linear = network.second_order_linear = None
    try:
        yield residual
    finally:
        network.linear, network.second_order_linear = paths
