"""The causal band-pass of the low-latency cleaning mode and the lead its network is trained for.

In the causal mode the noise estimate is band-passed with the version's
Butterworth sections applied forward only, so a filtered sample depends on the
past alone. The rest of the cleaner's chain still looks ahead of the sample it
produces: the witness resampling, the network's context right of each output
sample and the upsampling of the estimate to the strain rate. A causal version
is therefore trained so that its output sample ``n`` estimates the noise at
``n + lead``, with ``lead`` the sum of those look-aheads (:func:`causal_lead`):
the estimate of the last sample of a second is then complete as soon as that
second's witnesses have arrived. The trainer and the cleaner both take the lead
from here, and the version's metadata records it.

The witnesses of a causal version are resampled with the minimum-phase filter
(:data:`CAUSAL_WITNESS_PHASE`, :mod:`deepclean.signal.resample`): a causal
filter adds no look-ahead, and delays the pass band by its group delay alone
(256->1024 Hz: 6 samples against the linear-phase filter's 40, which the lead
of 170 samples at 1024 Hz counted as 48). The network predicts that much less
far ahead: on the broad-skirts scenario a causal least-squares filter of the
witnesses and their mains products removed 93.6 % of the in-band noise across
the linear-phase horizon (58 samples) and 96.8 % across the minimum-phase one
(10), where the same filter with no horizon removes 96.9 %.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy.signal import sosfilt, sosfilt_zi

from .resample import StreamingResampler, streaming_resampler

__all__ = [
    "causal_bandpass",
    "causal_impulse_response",
    "causal_lead",
    "witness_resampling_delay",
    "witness_resampling_phase",
    "CAUSAL_WITNESS_PHASE",
]

CAUSAL_WITNESS_PHASE = "minimum"
"""Phase of the witnesses' resampling filter for a causal version (a zero-phase one: ``linear``)."""


def witness_resampling_phase(causal: bool) -> str:
    """The phase (:data:`deepclean.signal.resample.PHASES`) of the witnesses' resampling in a mode."""
    return CAUSAL_WITNESS_PHASE if causal else "linear"


def causal_bandpass(data: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Apply ``sos`` forward only along the last axis, started in the steady state of the first sample.

    This is what the cleaner's causal stage computes over a stream (from its
    first sample after a restart), in one pass. Returns a new array.
    """
    data = np.asarray(data, dtype=float)
    if data.ndim > 1:
        return np.stack([causal_bandpass(row, sos) for row in data.reshape(-1, data.shape[-1])]).reshape(data.shape)
    return sosfilt(sos, data, zi=sosfilt_zi(sos) * data[0])[0]


def causal_impulse_response(sos: np.ndarray, tolerance: float = 1e-3) -> np.ndarray:
    """The causal impulse response of ``sos``, cut where the absolute weight left is below ``tolerance``.

    A finite-length equivalent of the filter (a convolution): the weight left
    bounds the error, relative to the input's peak amplitude, of convolving
    with the cut response instead of filtering.
    """
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be between 0 and 1, got {tolerance}")
    length = 1024
    while True:
        impulse = np.zeros(length)
        impulse[0] = 1.0
        response = sosfilt(sos, impulse)
        weight = np.cumsum(np.abs(response)[::-1])[::-1] / np.abs(response).sum()
        below = np.flatnonzero(weight < tolerance)
        if below.size or length >= 2**22:
            return response[: below[0] if below.size else length]
        length *= 2


def witness_resampling_delay(
    witness_rates: Iterable[float], sample_rate: int, align: int, phase: str = "linear"
) -> int:
    """Samples (at ``sample_rate``) the cleaner's witness resampling lags: the largest any rate needs,
    rounded up to ``align`` (the network's stride) so the channels stay on one grid; 0 for the
    ``minimum`` phase."""
    least = max(streaming_resampler(int(rate), sample_rate, phase).delay_samples for rate in witness_rates)
    return -(-least // align) * align


def causal_lead(
    witness_rates: Iterable[float], sample_rate: int, strain_sample_rate: int, context: int, align: int
) -> int:
    """Working-rate samples a causal version's output is trained ahead of its input.

    Parameters
    ----------
    witness_rates
        Native rates (Hz) of the witness channels.
    sample_rate, strain_sample_rate
        The working rate and the strain rate (Hz).
    context
        Samples of the network's context each side of an output sample (the cleaner streams
        with it: :func:`deepclean_cleaner.network.streaming_context`).
    align
        The network's stride.

    Returns
    -------
    int
        Witness resampling delay (none: :data:`CAUSAL_WITNESS_PHASE`) + ``context`` + the upsampling's
        look-ahead in working-rate samples.
    """
    upsampling = StreamingResampler(sample_rate, strain_sample_rate).delay_samples
    return (
        witness_resampling_delay(witness_rates, sample_rate, align, CAUSAL_WITNESS_PHASE)
        + context
        + math.ceil(upsampling * sample_rate / strain_sample_rate)
    )
