"""Held-out figures: predict whole segments and measure the band ASD ratio.

The cleaned strain is formed as the cleaner forms it (docs/interfaces.md):
prediction un-scaled, band-passed with the same zero-phase filter (or, for the
causal mode, the same causal one), subtracted from the strain. The figure is
:mod:`deepclean.figures`' ``band_ratio``, the one
the safety gate, the monitor and the benchmarks report: the mean over the
band's 1 Hz bins of ASD(cleaned)/ASD(raw), from the 1 s periodograms of every
whole second of the held-out segments summed together.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from deepclean.figures import BinJudgement, BinPowers, judge_bins, second_spectra
from deepclean.signal import bandpass_sos, causal_bandpass, zero_phase_bandpass

from .preprocessing import Scaler, Segment


def predict(network: nn.Module, witnesses: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """The network's (scaled) prediction for scaled ``witnesses`` of any length.

    Runs in chunks of ``chunk`` samples with the receptive field of context on
    each side, so the result equals one pass over the whole array.
    """
    stride = network.stride
    context = -(-network.receptive_field // stride) * stride
    chunk = max(stride, chunk // stride * stride)
    total = witnesses.shape[-1]
    padded_total = -(-total // stride) * stride
    padded = np.zeros((witnesses.shape[0], padded_total + 2 * context), dtype=np.float32)
    padded[:, context : context + total] = witnesses
    device = next(network.parameters()).device
    output = np.empty(padded_total, dtype=np.float32)
    network.eval()
    with torch.no_grad():
        for begin in range(0, padded_total, chunk):
            end = min(begin + chunk, padded_total)
            block = torch.from_numpy(padded[None, :, begin : end + 2 * context]).to(device)
            output[begin:end] = network(block)[0, context : context + end - begin].cpu().numpy()
    return output[:total]


def noise_estimate(
    network: nn.Module,
    segment: Segment,
    scaler: Scaler,
    filter_band: tuple[float, float],
    filter_order: int,
    causal: bool = False,
) -> np.ndarray:
    """The network's estimate of the noise in strain units at the working rate, band-passed
    to ``filter_band`` as the cleaner does (``causal``: forward only)."""
    prediction = scaler.unscale_prediction(predict(network, scaler.scale_witnesses(segment.witnesses)))
    sos = bandpass_sos(filter_band, segment.sample_rate, filter_order)
    return causal_bandpass(prediction, sos) if causal else zero_phase_bandpass(prediction, sos)


CHECK_RANGE = (10.0, 500.0)
"""Hz judged bin by bin on the held-out data: the monitor's range, up to the working rate's Nyquist frequency."""


def judge_validation(powers: BinPowers, band: tuple[float, float]) -> BinJudgement:
    """:func:`deepclean.figures.judge_bins` of held-out ``powers`` over :data:`CHECK_RANGE`."""
    return judge_bins(powers, band, (CHECK_RANGE[0], min(CHECK_RANGE[1], powers.sample_rate / 2 - 1)))


def noise_added_outside(judgement: BinJudgement, band: tuple[float, float]) -> tuple[float, ...]:
    """The bins outside ``band`` the judgement says had noise added."""
    return tuple(f for f in judgement.failing_bins if not band[0] <= f <= band[1])


def validation_powers(
    network: nn.Module,
    segments: list[Segment],
    scaler: Scaler,
    filter_band: tuple[float, float],
    filter_order: int,
    causal: bool,
) -> BinPowers:
    """The 1 s spectra of the raw and the cleaned held-out strain, summed (:class:`deepclean.figures.BinPowers`)."""
    seconds = []
    rate = None
    for segment in segments:
        rate = int(segment.sample_rate)
        whole = segment.num_samples // rate
        if whole < 1:
            continue
        noise = noise_estimate(network, segment, scaler, filter_band, filter_order, causal)
        for i in range(whole):
            second = slice(i * rate, (i + 1) * rate)
            seconds.append(second_spectra(segment.strain[second], noise[second]))
    if not seconds:
        raise ValueError("no validation segment holds a whole second")
    return BinPowers.of(seconds, rate)
