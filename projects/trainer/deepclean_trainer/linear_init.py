"""Least-squares start for the network's linear path.

Most of the mains noise is a linear filter of the witnesses and their
products with the mains monitor (architecture notes). That filter has a
closed-form best fit, so instead of letting Adam find it from zero the trainer
solves for it first: the linear path's taps minimise the squared error between
the scaled target and ``linear(inputs) + autoencoder(inputs)`` over the training
data, with the autoencoder's current output held fixed. Gradient descent then
starts at the linear optimum and spends its steps on what is left (and on the
drift the validation data shows).

To keep the normal equations small, only every ``tap_step``-th tap of the
kernel is solved for (the others stay 0) and only every ``row_step``-th
sample is used as an equation; the noise is a narrow band near 60 Hz, far
below the working rate, so neither loses anything measurable.

The mains line is nearly a pure sinusoid, so the lags of the mains channel
(and of its products) are nearly collinear: unregularised, the solution puts
large taps of opposite sign on them that cancel in double precision but not in
the float32 of ONNX (or the float16 of TensorRT). A ridge of ``ridge`` times
the mean diagonal of the normal equations keeps the largest tap below 1 on the
synthetic detector (6 without it); gradient descent recovers the little fit it
costs (98.05 % held-out removal against 97.99 % without it).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from deepclean.architecture import DeepClean

from .preprocessing import Scaler, Segment
from .validation import predict

log = logging.getLogger(__name__)


def fit_linear_path(
    network: DeepClean,
    segments: list[Segment],
    scaler: Scaler,
    tap_step: int = 3,
    row_step: int = 2,
    ridge: float = 1e-3,
    chunk_rows: int = 32768,
) -> float:
    """Set ``network.linear`` to the least-squares fit on ``segments``; the fraction of the
    target's power it leaves (over the equations used).

    Raises
    ------
    ValueError
        The network has no linear path.
    """
    if network.linear is None:
        raise ValueError("the network has no linear path (linear_kernel_size is None)")
    began = time.monotonic()
    half = network.linear.kernel_size[0] // 2
    offsets = np.arange(-(half // tap_step) * tap_step, half + 1, tap_step)
    with torch.no_grad():
        network.linear.weight.zero_()
    unknowns = network.linear.in_channels * offsets.size
    gram = np.zeros((unknowns, unknowns))
    rhs = np.zeros(unknowns)
    target_power, rows_used = 0.0, 0
    # the autoencoder's part of the prediction (the linear path is 0 now) is held fixed;
    # a silent one (output convolution all zero, a cold start) needs no pass over the data
    autoencoder_silent = not (network.output_conv.weight.any() or network.output_conv.bias.any())
    for segment in segments:
        witnesses = scaler.scale_witnesses(segment.witnesses)
        target = scaler.scale_target(segment.target).astype(np.float64)
        if not autoencoder_silent:
            target -= predict(network, witnesses)
        with torch.no_grad():
            inputs = network.products(torch.from_numpy(witnesses)[None])[0].numpy().astype(np.float64)
        rows = np.arange(half, target.size - half, row_step)
        for begin in range(0, rows.size, chunk_rows):
            chunk = rows[begin : begin + chunk_rows]
            design = inputs[:, chunk[:, None] + offsets[None, :]].transpose(1, 0, 2).reshape(chunk.size, unknowns)
            gram += design.T @ design
            rhs += design.T @ target[chunk]
            target_power += float(target[chunk] @ target[chunk])
        rows_used += rows.size
    if rows_used < unknowns:
        raise ValueError(f"{rows_used} samples are too few to fit {unknowns} linear taps")
    regularised = gram + np.eye(unknowns) * (ridge * np.trace(gram) / unknowns)
    coefficients = np.linalg.solve(regularised, rhs)
    left = (target_power - 2 * coefficients @ rhs + coefficients @ gram @ coefficients) / target_power
    with torch.no_grad():
        weight = network.linear.weight  # (1, channels, kernel): a cross-correlation, tap half + o reads x[t + o]
        weight[0, :, half + offsets] = torch.from_numpy(
            coefficients.reshape(network.linear.in_channels, offsets.size)
        ).to(weight.dtype)
    log.info("linear path: least-squares fit of %d taps on %d samples leaves %.4f of the target power, "
             "largest tap %.3g (%.1f s)", unknowns, rows_used, left, np.abs(coefficients).max(), time.monotonic() - began)
    return float(left)
