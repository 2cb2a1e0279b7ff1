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

In the causal mode the loss judges the prediction after the causal band-pass
(:mod:`deepclean_trainer.loss`); the filter is linear, so the same fit is made
with every input column (and the autoencoder's part) passed through it, the
rows where it has not settled left out. The target lies ``lead`` samples after
the output there, so the taps that matter read the newest witnesses, at the
right end of a kernel as wide as the network's context: ``newest_taps`` solves
for those only (as many as a centred kernel would have). The fit is to the
loss's target (there the strain over 10-200 Hz), but the fractions left that
choose a recent span after a coupling step are of each segment's
``estimate_band_target`` (the strain over the estimate's band): most of the
wide target's power is noise no witness explains, which puts every fraction
close to 1 and hides a step (the causal coupling-step scenario kept the fit on
all data although the most recent 128 s left half as much in the band).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.signal import oaconvolve

from deepclean.architecture import DeepClean
from deepclean.signal import causal_bandpass, causal_impulse_response

from .error_weighting import ErrorWeighting
from .preprocessing import Scaler, Segment
from .recent_span import SWITCH_FACTOR, choose_recent_span
from .validation import predict

log = logging.getLogger(__name__)


BLOCK_SECONDS = 32.0
"""The normal equations are summed per block of this many seconds, so any weighting by age is a cheap re-sum."""


CHUNK_VALUES = 2**24
"""Largest design-matrix chunk (values) summed into the normal equations at once (128 MB)."""


@dataclass(frozen=True)
class LinearStart:
    """What a least-squares start fitted."""

    left: float
    """Fraction of the target's (in-band) power the fit leaves on its training data."""
    kept_since: float | None
    """GPS where the training data the fit kept after a coupling step begin (a block's first sample); None: all."""
    first_order_weight: torch.Tensor | None = None
    """The linear path's weight fitted the same way without the second-order products (None: the network has
    none): the alternative :func:`deepclean_trainer.band_choice.choose_order` judges."""
    judging_weights: tuple[torch.Tensor, torch.Tensor] | None = None
    """When the held-out data joined the fits (after a step): both orders' weights fitted without them, first
    and second order, which :func:`deepclean_trainer.band_choice.choose_order` judges on them instead."""


@dataclass
class _Equations:
    """Normal equations of the linear path, summed per block of time."""

    grams: list[np.ndarray] = field(default_factory=list)
    rhs: list[np.ndarray] = field(default_factory=list)
    power: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # GPS of each block's middle
    begins: list[float] = field(default_factory=list)  # GPS of each block's first sample
    rows: int = 0

    def weighted(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        gram = np.tensordot(weights, np.asarray(self.grams), axes=1)
        rhs = np.tensordot(weights, np.asarray(self.rhs), axes=1)
        return gram, rhs, float(weights @ np.asarray(self.power))

    def total(self) -> tuple[np.ndarray, np.ndarray, float]:
        return self.weighted(np.ones(len(self.grams)))


def _equations(
    network: DeepClean,
    segments: list[Segment],
    scaler: Scaler,
    offsets: np.ndarray,
    row_step: int,
    chunk_rows: int,
    autoencoder_silent: bool,
    prediction_filter: np.ndarray | None = None,
    weighting: ErrorWeighting | None = None,
    estimate_band: bool = False,
) -> _Equations:
    """The normal equations against each segment's ``target`` (``estimate_band``: its
    ``estimate_band_target``)."""
    half = network.linear.kernel_size[0] // 2 * network.linear.dilation[0]  # samples each side
    unknowns = network.linear.in_channels * offsets.size
    settle = 0 if prediction_filter is None else causal_impulse_response(prediction_filter).size
    reach = 0 if weighting is None else weighting.reach
    equations = _Equations()
    for segment in segments:
        witnesses = scaler.scale_witnesses(segment.witnesses)
        target = scaler.scale_target(segment.estimate_band_target if estimate_band else segment.target)
        target = target.astype(np.float64)
        if not autoencoder_silent:
            autoencoder = predict(network, witnesses).astype(np.float64)
            target -= autoencoder if prediction_filter is None else causal_bandpass(autoencoder, prediction_filter)
        with torch.no_grad():
            inputs = network.products(torch.from_numpy(witnesses)[None])[0].numpy().astype(np.float64)
        if prediction_filter is not None:
            for row in inputs:  # row by row: the inputs are the largest array here
                row[:] = causal_bandpass(row, prediction_filter)
        if weighting is not None:
            target = oaconvolve(target, weighting.target, mode="same")
            for row in inputs:
                row[:] = oaconvolve(row, weighting.estimate, mode="same")
        rows = np.arange(max(half, settle) + reach, target.size - half - reach, row_step)
        block_rows = max(1, round(BLOCK_SECONDS * segment.sample_rate / row_step))
        for begin in range(0, rows.size, block_rows):
            block = rows[begin : begin + block_rows]
            gram, rhs, power = np.zeros((unknowns, unknowns)), np.zeros(unknowns), 0.0
            for first in range(0, block.size, chunk_rows):
                chunk = block[first : first + chunk_rows]
                design = inputs[:, chunk[:, None] + offsets[None, :]].transpose(1, 0, 2).reshape(chunk.size, unknowns)
                gram += design.T @ design
                rhs += design.T @ target[chunk]
                power += float(target[chunk] @ target[chunk])
            equations.grams.append(gram)
            equations.rhs.append(rhs)
            equations.power.append(power)
            equations.times.append(segment.start + (block[0] + block[-1]) / 2 / segment.sample_rate)
            equations.begins.append(segment.start + block[0] / segment.sample_rate)
            equations.rows += block.size
    return equations


def require_linear_path(network: DeepClean, why: str) -> None:
    """Raise ValueError, ending its message with ``why``, when ``network`` has no linear path."""
    if network.linear is None:
        raise ValueError(f"the network has no linear path {why}")


def _solve(gram: np.ndarray, rhs: np.ndarray, ridge: float) -> np.ndarray:
    unknowns = rhs.size
    return np.linalg.solve(gram + np.eye(unknowns) * (ridge * np.trace(gram) / unknowns), rhs)


def _left(coefficients: np.ndarray, gram: np.ndarray, rhs: np.ndarray, power: float) -> float:
    """Fraction of the target power ``coefficients`` leave, from the normal equations of some data."""
    return float((power - 2 * coefficients @ rhs + coefficients @ gram @ coefficients) / power)


def fit_linear_path(
    network: DeepClean,
    segments: list[Segment],
    scaler: Scaler,
    validation: list[Segment] | None = None,
    recent_candidates: tuple[float, ...] = (),
    switch_factor: float = SWITCH_FACTOR,
    tap_step: int = 3,
    row_step: int = 2,
    ridge: float = 1e-3,
    chunk_rows: int = 32768,
    prediction_filter: np.ndarray | None = None,
    newest_taps: int | None = None,
    weighting: ErrorWeighting | None = None,
    since: float | None = None,
) -> LinearStart:
    """Set ``network.linear`` to the least-squares fit on ``segments``: the fraction of the
    target's power it leaves (over the training equations, unweighted), and since when the data it
    was fitted on run.

    With ``validation`` segments and ``recent_candidates``, the fit is also
    made on only the most recent ``T`` seconds of training data for each ``T``
    of ``recent_candidates``, and a shorter span replaces the whole one only
    when what it leaves of the validation target above the floor (what a fit to
    the validation data itself leaves) is at most ``switch_factor`` of what the
    whole span's fit leaves above it (:mod:`deepclean_trainer.recent_span`).
    Couplings that drift slowly are best fitted on all the data (the model
    serves the next minutes, not the last ones: a fit to the freshest seconds
    follows the drift's current phase and is worse a few minutes later); a
    coupling that stepped is not, and a step makes the fit on all data leave
    several times more of the validation target than a fit on the data after
    the step. A shorter span chosen, the fit is made again on it
    and the validation data together (the freshest seconds after a step are
    too valuable to hold out), so the validation loss of the start is then
    optimistic and gradient descent rarely improves on it. ``since`` (GPS: where a previous
    version's start kept its data after a step, :attr:`LinearStart.kept_since`) makes the data
    since then take the place of all the data, as in
    :func:`deepclean_trainer.linear_spectral.fit_linear_path_spectral`.

    With ``prediction_filter`` (second-order sections: the causal mode's band-pass)
    the fit is of the filtered prediction to the target; with ``newest_taps``
    only the newest ``newest_taps`` taps of the kernel (those reading the newest
    witnesses) are solved for. With ``weighting``
    (:func:`deepclean_trainer.error_weighting.error_weighting`) the squared
    error is weighted per frequency as the causal loss weighs it; the fraction
    returned is then of the weighted error, and the recent spans are still
    scored unweighted. ``tap_step`` and ``newest_taps`` count the path's
    taps, each ``linear_dilation`` samples from the next.

    Raises
    ------
    ValueError
        The network has no linear path.
    """
    require_linear_path(network, "(linear_kernel_size is None)")
    began = time.monotonic()
    half = network.linear.kernel_size[0] // 2  # taps each side of the centre tap
    if newest_taps is None:
        taps = np.arange(-(half // tap_step) * tap_step, half + 1, tap_step)
    else:
        taps = np.arange(half - (min(newest_taps, 2 * half + 1) - 1) // tap_step * tap_step, half + 1, tap_step)
    offsets = taps * network.linear.dilation[0]  # the samples those taps read, from the output sample
    with torch.no_grad():
        network.linear.weight.zero_()
    unknowns = network.linear.in_channels * offsets.size
    chunk_rows = max(1, min(chunk_rows, CHUNK_VALUES // unknowns))
    # the autoencoder's part of the prediction (the linear path is 0 now) is held fixed;
    # a silent one (output convolution all zero, a cold start) needs no pass over the data
    autoencoder_silent = not (network.output_conv.weight.any() or network.output_conv.bias.any())
    training = _equations(
        network, segments, scaler, offsets, row_step, chunk_rows, autoencoder_silent, prediction_filter, weighting
    )
    if training.rows < unknowns:
        raise ValueError(f"{training.rows} samples are too few to fit {unknowns} linear taps")
    gram, rhs, power = training.total()
    coefficients, chosen, kept_since = _solve(gram, rhs, ridge), None, None
    if validation and recent_candidates:

        def held_out_equations(weighted: ErrorWeighting | None, estimate_band: bool) -> _Equations:
            return _equations(
                network,
                validation,
                scaler,
                offsets,
                row_step,
                chunk_rows,
                autoencoder_silent,
                prediction_filter,
                weighted,
                estimate_band,
            )

        held_out = held_out_equations(weighting, estimate_band=False).total()
        # scored unweighted: beside the band the weighted target is mostly the strain's own floor,
        # which puts every fraction near 1 (harmonics: 0.75-0.77 against 0.05-0.06 unweighted)
        narrow = any(segment.narrow_target is not None for segment in validation)
        scored = held_out_equations(None, estimate_band=True).total() if weighting or narrow else held_out
        times, begins = np.asarray(training.times), np.asarray(training.begins)
        ages = times.max() - times

        def enough(blocks: np.ndarray) -> bool:
            return blocks.sum() * BLOCK_SECONDS * segments[0].sample_rate / row_step >= 4 * unknowns

        base = begins >= since if since is not None and begins.min() < since else np.ones(times.size, bool)
        if not enough(base):
            base = np.ones(times.size, bool)  # too few equations since the step seen before: all the data
        remembered = not base.all()
        base_coefficients = _solve(*training.weighted(base.astype(float))[:2], ridge) if remembered else coefficients
        whole = _left(base_coefficients, *scored)
        scores = {}
        for seconds in sorted(recent_candidates, reverse=True):
            recent = ages <= seconds
            if not enough(recent) or seconds >= ages[base].max():
                continue  # too few equations for a meaningful fit, or no fewer than the base fit's
            candidate = _solve(*training.weighted(recent.astype(float))[:2], ridge)
            scores[seconds] = (_left(candidate, *scored), candidate)
        floor = _left(_solve(held_out[0], held_out[1], ridge), *scored)
        chosen = choose_recent_span(whole, {t: v[0] for t, v in scores.items()}, floor, switch_factor)
        if chosen is not None:
            base = ages <= chosen
        if chosen is not None or remembered:
            # After a step the data since it is all that describes the coupling now: the fit is
            # made again on the recent training span and the validation span together.
            recent_gram, recent_rhs, _ = training.weighted(base.astype(float))
            coefficients = _solve(recent_gram + held_out[0], recent_rhs + held_out[1], ridge)
            kept_since = float(begins[base].min())
        log.info(
            "linear path: validation power left in the estimate's band by the fit on %s %.4f, "
            "on the most recent %s, by a fit to the validation data itself %.4f; kept %s",
            f"the data since GPS {since:.0f} (a step seen before)" if remembered else "all training data",
            whole,
            {f"{t:g} s": round(v[0], 4) for t, v in scores.items()},
            floor,
            "all" if kept_since is None else f"the data since GPS {kept_since:.0f} ({ages[base].max():.0f} s)",
        )
    left = _left(coefficients, gram, rhs, power)
    with torch.no_grad():
        # (1, channels, kernel): a cross-correlation, tap half + k reads x[t + k * dilation]
        weight = network.linear.weight
        weight[0, :, half + taps] = torch.from_numpy(coefficients.reshape(network.linear.in_channels, taps.size)).to(
            weight.dtype
        )
    log.info(
        "linear path: least-squares fit of %d taps on %d samples leaves %.4f of the target power, "
        "largest tap %.3g (%.1f s)",
        unknowns,
        training.rows,
        left,
        np.abs(coefficients).max(),
        time.monotonic() - began,
    )
    return LinearStart(float(left), kept_since)
