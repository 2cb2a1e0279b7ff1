"""Least-squares start for a long linear path, solved from cross-spectra.

The linear path predicts ``y(t) = sum_c sum_k w[c, k] x_c(t + o_k)`` from the
network's inputs ``x_c`` (the witnesses and their products with the mains
monitor). Only the band the cleaner subtracts matters (it band-passes the
prediction), so the fit minimises the error in a fit band around it, and there
the error is a quadratic form in the taps whose coefficients are the inputs'
Welch cross-spectra at the band's bins:

    error = sum_f |Y(f) - sum_c H_c(f) X_c(f)|^2,   H_c(f) = sum_k w[c, k] exp(2 pi i f o_k).

Its normal equations have one unknown per solved tap whatever the span's
length, and building them costs a C x C cross-spectral matrix per bin and
32 s block instead of a pass of the design matrix over every sample, so a
kernel of 255 taps (+-124 ms at 1024 Hz) fits in seconds where the
time-domain start (:mod:`linear_init`) would take minutes. A coupling seen
through a witness that records its motion late (a response delay of ~0.1 s)
needs that reach; 31 taps cannot form it.

Inside a band of ~20 Hz a response needs no finer tap grid than a few tens of
milliseconds, so about 48 taps per channel are solved and the others stay 0;
what the coarse grid does outside the band is removed by the band-pass.

The choice of a recent span after a coupling step is the one of
:func:`linear_init.fit_linear_path`, with the fraction of the validation
target's in-band power left as the score.

How the band's bins count differs between that choice and the fit kept. The
choice weighs them by their power: a step shows first at the line, where most
of the noise is. The fit kept weighs each of them by the band's mean bin power
over its own (:func:`bin_weights`), so that every bin's residual counts
relative to its own power. The BNS range is won at the band's edges, where the
noise is a few times the floor, not at the line, which stays tens of times
above the floor after 98 % of it is removed: on the quality benchmark's
baseline (one-shot) the range rose from 124.45 to 124.65 Mpc, ahead of NOMAD's
124.60, while the band's removal went from 97.8 % to 97.7 %
(``bench/quality/README.md``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
import torch
from scipy.signal.windows import hann

from deepclean.architecture import DeepClean

from .linear_init import BLOCK_SECONDS, LinearStart
from .preprocessing import Scaler, Segment
from .recent_span import SWITCH_FACTOR, choose_recent_span
from .validation import predict

log = logging.getLogger(__name__)

SOLVED_TAPS = 48
"""About this many taps per channel are solved (every ``kernel // SOLVED_TAPS``-th)."""


def _weighted_sum(parts: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """``sum_i weights[i] parts[i]`` without stacking the parts (with 251 inputs a block's cross-spectra are
    tens of MB; most weights are 0 or 1)."""
    total = np.zeros_like(parts[0])
    for weight, part in zip(weights, parts, strict=True):
        if weight == 1:
            total += part
        elif weight:
            total += weight * part
    return total


@dataclass
class _Spectra:
    """Cross-spectra of the inputs and the target at the fit band's bins, summed per block of time."""

    cross: list[np.ndarray] = field(default_factory=list)  # (bins, C, C): sum conj(X_i) X_j
    towards: list[np.ndarray] = field(default_factory=list)  # (bins, C): sum conj(X_i) Y
    power: list[np.ndarray] = field(default_factory=list)  # (bins,): sum |Y|^2
    times: list[float] = field(default_factory=list)  # GPS of each block's middle
    begins: list[float] = field(default_factory=list)  # GPS of each block's first sample

    def weighted(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(_weighted_sum(part, weights) for part in (self.cross, self.towards, self.power))

    def total(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.weighted(np.ones(len(self.cross)))


def _spectra(
    network: DeepClean,
    segments: list[Segment],
    scaler: Scaler,
    nperseg: int,
    bins: np.ndarray,
    silent: bool,
    second_order: bool = False,
    blocks: set[float] | None = None,
) -> _Spectra:
    """The spectra per block of the first-order inputs, or with ``second_order`` of every input of the linear
    paths summed over the blocks beginning at ``blocks`` (GPS; None: all): with 251 inputs a block's
    cross-spectra take ~80 MB, too many to hold one per block of a long span."""
    window = hann(nperseg, sym=False)
    step = nperseg // 2
    window32 = window.astype(np.float32)
    workers = torch.get_num_threads()
    spectra = _Spectra()
    for segment in segments:
        witnesses = scaler.scale_witnesses(segment.witnesses)
        target = scaler.scale_target(segment.target).astype(np.float64)
        if not silent:
            target -= predict(network, witnesses)
        block = round(BLOCK_SECONDS * segment.sample_rate)
        for begin in range(0, target.size - nperseg + 1, block):
            stop = min(begin + block, target.size)
            starts = np.arange(begin, stop - nperseg + 1, step)
            block_begin = segment.start + begin / segment.sample_rate
            if not starts.size or (blocks is not None and block_begin not in blocks):
                continue
            # the products are sample by sample: those of one block need no context
            end = starts[-1] + nperseg
            inputs_of = network.linear_inputs if second_order else network.products
            with torch.no_grad():
                inputs = inputs_of(torch.from_numpy(witnesses[:, begin:end])[None])[0]
            # single precision: the FFT's rounding (~1e-7 of the line) lies far below the floor (~1e-3 of it)
            frames = np.lib.stride_tricks.sliding_window_view(inputs.numpy(), nperseg, axis=1)[:, starts - begin]
            x = scipy.fft.rfft(frames * window32, axis=2, workers=workers)[:, :, bins]  # (C, starts, bins)
            x = x.transpose(2, 1, 0).astype(complex)  # (bins, starts, C)
            y = scipy.fft.rfft(np.lib.stride_tricks.sliding_window_view(target, nperseg)[starts] * window, axis=1)
            y = y[:, bins].T  # (bins, starts)
            parts = (x.conj().transpose(0, 2, 1) @ x, np.einsum("bsc,bs->bc", x.conj(), y), np.sum(np.abs(y) ** 2, 1))
            if second_order and spectra.cross:
                for total, part in zip((spectra.cross, spectra.towards, spectra.power), parts, strict=True):
                    total[0] += part
                continue
            spectra.cross.append(parts[0])
            spectra.towards.append(parts[1])
            spectra.power.append(parts[2])
            spectra.times.append(segment.start + (begin + stop) / 2 / segment.sample_rate)
            spectra.begins.append(block_begin)
    return spectra


@dataclass(frozen=True)
class _TapGroup:
    """Inputs of the linear path whose taps are solved on one grid: ``channels`` and the solved taps'
    indices from the kernel's centre, with their response at the fit band's bins."""

    channels: slice
    solved: np.ndarray
    basis: np.ndarray  # (bins, K): exp(2 pi i f o_k)


def _tap_groups(network: DeepClean, step: int, frequencies: np.ndarray, rate: float) -> list[_TapGroup]:
    """The first-order inputs' taps every ``step``-th; the second-order products' every tap of their
    short path (:data:`deepclean.architecture.SECOND_ORDER_KERNEL_SIZE`, around the centre)."""
    half = network.linear.kernel_size[0] // 2
    dilation = network.linear.dilation[0]
    first = network.num_first_order_inputs
    grids = [(slice(0, first), np.arange(-(half // step) * step, half + 1, step))]
    if network.second_order_linear is not None:
        reach = network.second_order_linear.kernel_size[0] // 2
        grids.append((slice(first, first + network.second_order.num_pairs), np.arange(-reach, reach + 1)))
    return [
        _TapGroup(channels, solved, np.exp(2j * np.pi * np.outer(frequencies, solved * dilation / rate)))
        for channels, solved in grids
    ]


def _solve(
    cross: np.ndarray, towards: np.ndarray, groups: list[_TapGroup], ridge: float, weights: np.ndarray
) -> list[np.ndarray]:
    """Taps ``w`` (one C_g x K_g array per group) minimising the error weighted by ``weights`` per bin, with a
    ridge of ``ridge`` times each group's mean diagonal."""
    cross, towards = cross * weights[:, None, None], towards * weights[:, None]
    sizes = [(g.channels.stop - g.channels.start) * g.solved.size for g in groups]
    rows = []
    for g in groups:
        row = []
        for h in groups:
            outer = g.basis.conj()[:, :, None] * h.basis[:, None, :]  # (bins, K_g, K_h)
            block = np.real(np.tensordot(cross[:, g.channels, h.channels], outer, axes=([0], [0])))
            row.append(block.transpose(0, 2, 1, 3).reshape(block.shape[0] * g.solved.size, -1))
        rows.append(row)
    gram = np.block(rows)
    rhs = np.concatenate(
        [np.real(np.einsum("bc,bk->ck", towards[:, g.channels].conj(), g.basis)).ravel() for g in groups]
    )
    # each group's loading from its own diagonal: the second-order products can carry thousands of times
    # the first-order inputs' power in the band (broad-skirts: 4500 x), and a loading from the mean of
    # both would swamp the first-order taps (the fit then left 97 % of the band's power)
    diagonal = np.diag(gram)
    edges = np.cumsum([0, *sizes])
    loading = np.concatenate(
        [np.full(b - a, ridge * diagonal[a:b].mean()) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    )
    solution = np.linalg.solve(gram + np.diag(loading), rhs)
    pieces = np.split(solution, np.cumsum(sizes)[:-1])
    return [piece.reshape(-1, g.solved.size) for piece, g in zip(pieces, groups, strict=True)]


def bin_weights(power: np.ndarray, inside: np.ndarray, relative_inside: bool) -> np.ndarray:
    """Weights of the fit band's bins in the error the start minimises.

    Parameters
    ----------
    power
        The target's power per bin.
    inside
        Which bins lie in the judged band.
    relative_inside
        Weigh each bin of the judged band by the band's mean bin power over its own (every bin's residual
        relative to its power counts the same); else 1 (the band's residual power, dominated by the line).

    Outside the judged band every bin counts relative to its own power, at least 1: the safety gate and
    the monitor judge each such bin against raw, so no in-band power may be bought with noise there.
    """
    weights = np.ones(power.size)
    if not inside.any() or inside.all():
        return weights
    mean_inside = power[inside].mean()
    weights[~inside] = np.maximum(1.0, mean_inside / np.maximum(power[~inside], 1e-300))
    if relative_inside:
        weights[inside] = mean_inside / np.maximum(power[inside], 1e-300)
    return weights


def _weight(network: DeepClean, groups: list[_TapGroup], taps: list[np.ndarray]) -> torch.Tensor:
    """The linear path's weight holding ``taps`` (the inputs of no group: 0)."""
    weight = torch.zeros_like(network.linear_weight())  # (1, channels, kernel): tap half + i reads x[t + i d]
    half = weight.shape[2] // 2
    for group, group_taps in zip(groups, taps, strict=True):
        weight[0, group.channels, half + group.solved] = torch.from_numpy(group_taps).to(weight.dtype)
    return weight


def _left(
    taps: list[np.ndarray], groups: list[_TapGroup], cross: np.ndarray, towards: np.ndarray, power: np.ndarray
) -> float:
    """Fraction of the target's in-band power the taps leave, from some data's cross-spectra."""
    response = np.concatenate([g.basis @ t.T for g, t in zip(groups, taps, strict=True)], axis=1)  # (bins, C)
    error = power - 2 * np.real(np.einsum("bc,bc->b", towards.conj(), response))
    error += np.real(np.einsum("bi,bij,bj->b", response.conj(), cross, response))
    return float(error.sum() / power.sum())


def fit_linear_path_spectral(
    network: DeepClean,
    segments: list[Segment],
    scaler: Scaler,
    fit_band: tuple[float, float],
    judged_band: tuple[float, float] | None = None,
    validation: list[Segment] | None = None,
    recent_candidates: tuple[float, ...] = (),
    switch_factor: float = SWITCH_FACTOR,
    fftlength: float = 4.0,
    tap_step: int | None = None,
    ridge: float = 1e-3,
    since: float | None = None,
) -> LinearStart:
    """Set ``network.linear`` to the in-band least-squares fit on ``segments``: what it leaves of the
    target's in-band power there, and since when the data it was fitted on run.

    Parameters
    ----------
    network
        A network with a linear path; its autoencoder's output is held fixed (a silent one, all-zero
        output convolution, costs no pass over the data).
    segments, scaler
        Training data and its scaler.
    fit_band
        The band (Hz) whose error is minimised: the band the cleaner subtracts and its filter's skirts.
    judged_band
        The band whose noise is judged as a whole (the configured ``band``). Outside it every bin is
        judged on its own (the safety gate, the monitor: no bin worse than raw), so there the error
        counts relative to the bin's power (weight: the band's mean bin power over the bin's, at
        least 1) and a fit cannot buy in-band power with noise added next to the band. Inside it the
        span is chosen with every bin counting by its power and the fit kept weighs every bin
        relative to its power as well (:func:`bin_weights`, the module notes). ``None``: every bin
        counts by its power.
    validation, recent_candidates, switch_factor
        As :func:`linear_init.fit_linear_path`: a fit on only the most recent ``T`` seconds replaces the
        fit on all data when it leaves at most ``switch_factor`` of what that leaves of the validation
        target above the floor a fit to the validation data leaves (a coupling step:
        :mod:`deepclean_trainer.recent_span`); it is then made again on that span and the validation
        data together.
    since
        GPS from which on the data are known to follow a coupling step a previous version saw
        (:attr:`LinearStart.kept_since` of its start; None: none known). With ``validation`` and
        ``recent_candidates``, the data since then take the place of all the data: the fit the recent
        spans are judged against, and the span kept when none of them is. Without it the versions that
        follow a step would each start again from the freshest seconds, which the validation span right
        after them favours under drift, though more data since the step serve the next minutes better
        (``bench/quality/README.md``, "The span after a coupling step").
    fftlength
        Welch segment length (s) of the cross-spectra; longer than the kernel.
    tap_step
        Solve every ``tap_step``-th tap (``None``: about :data:`SOLVED_TAPS` per channel).
    ridge
        Diagonal loading, as a fraction of the mean diagonal of the normal equations of each group of inputs (first-,
        second-order).

    Raises
    ------
    ValueError
        The network has no linear path, or ``fftlength`` is not longer than the kernel.
    """
    if network.linear is None:
        raise ValueError("the network has no linear path (linear_kernel_size is None)")
    began = time.monotonic()
    rate = segments[0].sample_rate
    kernel, dilation = network.linear.kernel_size[0], network.linear.dilation[0]
    half = kernel // 2
    nperseg = round(fftlength * rate)
    if nperseg < 4 * half * dilation + 2:
        raise ValueError(f"fftlength {fftlength} s is too short for a kernel spanning +-{half * dilation} samples")
    step = tap_step or max(1, kernel // SOLVED_TAPS)
    frequencies = np.fft.rfftfreq(nperseg, 1.0 / rate)
    bins = np.flatnonzero((frequencies >= fit_band[0]) & (frequencies <= fit_band[1]))
    groups = _tap_groups(network, step, frequencies[bins], rate)
    first_groups = groups[:1]
    with torch.no_grad():
        network.set_linear_weight(torch.zeros_like(network.linear_weight()))
    silent = not (network.output_conv.weight.any() or network.output_conv.bias.any())
    training = _spectra(network, segments, scaler, nperseg, bins, silent)
    if not training.cross:
        raise ValueError(f"no {fftlength} s stretch of training data to fit the linear path on")
    cross, towards, power = training.total()
    inside = np.ones(bins.size, dtype=bool)
    if judged_band is not None:
        inside = (frequencies[bins] >= judged_band[0]) & (frequencies[bins] <= judged_band[1])
    choosing, kept = (bin_weights(power, inside, relative_inside) for relative_inside in (False, True))
    fitted_on, kept_since, kept_blocks = (cross, towards), None, None
    if validation and recent_candidates:
        held_out = _spectra(network, validation, scaler, nperseg, bins, silent).total()
        times, begins = np.asarray(training.times), np.asarray(training.begins)
        ages = times.max() - times
        base = begins >= since if since is not None and begins.min() < since else np.ones(times.size, bool)
        if base.sum() < 2:
            base = np.ones(times.size, bool)  # too few blocks since the step seen before: all the data
        remembered = not base.all()
        base_span = ages[base].max()
        base_cross, base_towards = training.weighted(base.astype(float))[:2] if remembered else (cross, towards)
        whole = _left(_solve(base_cross, base_towards, first_groups, ridge, choosing), first_groups, *held_out)
        scores = {}
        for seconds in sorted(recent_candidates, reverse=True):
            recent = ages <= seconds
            if recent.sum() < 2 or seconds >= base_span:
                continue  # too few blocks for a meaningful fit, or no fewer than the base fit's
            candidate = _solve(*training.weighted(recent.astype(float))[:2], first_groups, ridge, choosing)
            scores[seconds] = (_left(candidate, first_groups, *held_out), candidate)
        floor = _left(_solve(held_out[0], held_out[1], first_groups, ridge, choosing), first_groups, *held_out)
        chosen = choose_recent_span(whole, {t: v[0] for t, v in scores.items()}, floor, switch_factor)
        if chosen is not None:
            base = ages <= chosen
        if chosen is not None or remembered:
            # after a step the validation data (all after it) join the fit
            recent_cross, recent_towards, _ = training.weighted(base.astype(float))
            fitted_on = (recent_cross + held_out[0], recent_towards + held_out[1])
            kept_since, kept_blocks = float(begins[base].min()), {float(b) for b in begins[base]}
        described = f"the data since GPS {since:.0f} (a step seen before)" if remembered else "all training data"
        log.info(
            "linear path: validation power left by the fit on %s %.4f, on the most recent %s, "
            "by a fit to the validation data itself %.4f; kept %s",
            described,
            whole,
            {f"{t:g} s": round(v[0], 4) for t, v in scores.items()},
            floor,
            "all" if kept_since is None else f"the data since GPS {kept_since:.0f} ({ages[base].max():.0f} s)",
        )
    taps = _solve(*fitted_on, first_groups, ridge, kept)
    left = _left(taps, first_groups, cross, towards, power)
    first_order_weight, judging_weights = None, None
    if len(groups) > 1:
        # the span is chosen with the first-order inputs (the fit above); the second-order fit is made on it
        first_order_weight = _weight(network, first_groups, taps)
        full = _spectra(network, segments, scaler, nperseg, bins, silent, True, kept_blocks).total()
        full_fitted_on = full[:2]
        if kept_blocks is not None:
            # the held-out data join the kept fits: both orders are also fitted without them, to be judged on them
            held = _spectra(network, validation, scaler, nperseg, bins, silent, True).total()
            full_fitted_on = (full[0] + held[0], full[1] + held[1])
            first = first_groups[0].channels
            judging_weights = (
                _weight(
                    network,
                    first_groups,
                    _solve(full[0][:, first, first], full[1][:, first], first_groups, ridge, kept),
                ),
                _weight(network, groups, _solve(*full[:2], groups, ridge, kept)),
            )
        taps = _solve(*full_fitted_on, groups, ridge, kept)
        left = _left(taps, groups, *full)
    network.set_linear_weight(_weight(network, groups if len(taps) > 1 else first_groups, taps))
    log.info(
        "linear path: spectral least-squares fit of %s taps (every %d of %d, %d samples apart, %.0f-%.0f Hz) "
        "leaves %.4f of the target's in-band power, largest tap %.3g (%.1f s)",
        " + ".join(f"{t.shape[0]} x {t.shape[1]}" for t in taps),
        step,
        kernel,
        dilation,
        *fit_band,
        left,
        max(np.abs(t).max() for t in taps),
        time.monotonic() - began,
    )
    return LinearStart(left, kept_since, first_order_weight, judging_weights)
