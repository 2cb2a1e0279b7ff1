"""Resampling by integer ratios, one-shot and streaming.

Both paths use the polyphase FIR of :func:`scipy.signal.resample_poly`
(a Kaiser-windowed sinc, ``firwin(2 * half_len + 1, 1 / max(up, down))``
with ``half_len = 10 * max(up, down)``). :class:`StreamingResampler` applies
the same filter block by block with :func:`scipy.signal.upfirdn`, carrying
the input history between blocks, so the concatenation of its outputs equals
the one-shot output over the whole span (to rounding, ~1e-15 relative).

``phase="minimum"`` (the causal cleaning mode's witnesses) applies the
minimum-phase filter with the same magnitude response
(:func:`scipy.signal.minimum_phase`, ``half=False``) causally: output sample
``m`` depends on input up to its own time only, so the stream lags its input
by nothing, and in the pass band the filter delays the signal by its group
delay alone (256->1024: 6 samples at 5-60 Hz against the linear-phase
filter's 40). The phase response is not flat, which the network trained on
witnesses resampled the same way learns. :class:`MinimumPhaseResampler` is
the streaming form.

Latency: output sample ``m`` needs input up to ``half_len`` upsampled
samples after it, so after a block ending at input time ``T`` the resampler
has emitted the output up to ``T - delay``, with ``delay = (half_len // down)
/ output_rate`` seconds (16384->4096: 2.4 ms, 1024->4096: 9.8 ms,
512->4096: 19.5 ms, 256->4096: 39 ms, 4096->16384: 2.4 ms). Those last samples come out with
the next block (or :meth:`StreamingResampler.flush` at the end of a stream).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import firwin, minimum_phase, resample_poly, upfirdn

__all__ = [
    "PHASES",
    "MinimumPhaseResampler",
    "StreamingResampler",
    "resample",
    "resampling_factors",
    "resampling_filter",
    "streaming_resampler",
]

_WINDOW = ("kaiser", 5.0)  # resample_poly's default window

PHASES = ("linear", "minimum")
"""Phase responses of the resampling filter: ``linear`` (zero phase once its delay is taken off) or
``minimum`` (causal, no delay, the phase the network learns)."""


def resampling_factors(input_rate: float, output_rate: float) -> tuple[int, int]:
    """The reduced ``(up, down)`` with ``output_rate / input_rate == up / down``.

    Raises
    ------
    ValueError
        A rate is not a positive integer.
    """
    for label, rate in (("input_rate", input_rate), ("output_rate", output_rate)):
        if rate <= 0 or rate != int(rate):
            raise ValueError(f"{label} must be a positive whole number of Hz, got {rate}")
    ratio = Fraction(int(output_rate), int(input_rate))
    return ratio.numerator, ratio.denominator


def resampling_filter(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR ``resample_poly`` designs for ``up/down`` (unit DC gain)."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    return firwin(2 * half_len + 1, 1.0 / max_rate, window=_WINDOW)


def minimum_phase_filter(up: int, down: int) -> np.ndarray:
    """The minimum-phase filter with :func:`resampling_filter`'s magnitude response (unit DC gain)."""
    linear = resampling_filter(up, down)
    filtered = minimum_phase(linear, method="homomorphic", half=False)
    return filtered / filtered.sum()


def _check_phase(phase: str) -> None:
    if phase not in PHASES:
        raise ValueError(f"resampling phase must be one of {PHASES}, got {phase!r}")


def resample(
    data: np.ndarray, input_rate: float, output_rate: float, axis: int = -1, phase: str = "linear"
) -> np.ndarray:
    """Resample ``data`` from ``input_rate`` to ``output_rate`` along ``axis``.

    The rates must be whole numbers of Hz; their ratio is reduced (e.g.
    16384->4096 is 1/4, 1024->4096 is 4/1). Equal rates return a copy.
    ``phase`` is one of :data:`PHASES` (module notes); ``minimum`` treats the
    samples before the first as zeros, as a stream started there does.
    """
    _check_phase(phase)
    up, down = resampling_factors(input_rate, output_rate)
    data = np.asarray(data)
    if up == down == 1:
        return data.copy()
    if phase == "minimum":
        length = -(-data.shape[axis] * up // down)
        filtered = upfirdn(minimum_phase_filter(up, down) * up, data, up, down, axis=axis)
        return np.take(filtered, np.arange(length), axis=axis)
    return resample_poly(data, up, down, axis=axis, window=resampling_filter(up, down))


def streaming_resampler(
    input_rate: float, output_rate: float, phase: str = "linear"
) -> StreamingResampler | MinimumPhaseResampler:
    """The streaming resampler for ``phase`` (:data:`PHASES`): equal, block by block, to :func:`resample`."""
    _check_phase(phase)
    if phase == "minimum":
        return MinimumPhaseResampler(input_rate, output_rate)
    return StreamingResampler(input_rate, output_rate)


class _BufferedStream:
    """What both streaming resamplers share: the input buffer carried between blocks."""

    _buffer: np.ndarray | None
    _total_in: int

    @property
    def buffered_samples(self) -> int:
        """Input samples held for the next outputs (bounded: about the filter's length)."""
        return 0 if self._buffer is None else self._buffer.shape[-1]

    def _extend(self, block: np.ndarray, lead: int) -> np.ndarray:
        """The buffer with ``block`` appended (a new stream's buffer starts with ``lead`` zeros)."""
        block = np.asarray(block, dtype=float)
        if block.ndim == 0:
            raise ValueError("a block must have a time axis")
        history = np.zeros(block.shape[:-1] + (lead,)) if self._buffer is None else self._buffer
        if block.shape[:-1] != history.shape[:-1]:
            raise ValueError(
                f"block shape {block.shape} does not match the stream's leading shape {history.shape[:-1]}"
            )
        self._total_in += block.shape[-1]
        return np.concatenate((history, block), axis=-1)


class StreamingResampler(_BufferedStream):
    """Resample a stream block by block, equal to one-shot :func:`resample`.

    Blocks are arrays whose last axis is time (leading axes, e.g. channels,
    must stay the same from block to block). Each :meth:`push` returns the
    output samples that the input so far determines; their concatenation over
    a stream is the one-shot output of the whole stream, and :meth:`flush`
    returns the tail (the stream's end padded with zeros, as one-shot does).

    Parameters
    ----------
    input_rate, output_rate
        Whole numbers of Hz.

    Attributes
    ----------
    delay_samples : int
        Output samples the stream lags behind its input after a block whose
        length is a multiple of ``down``: a block of ``n`` input samples
        always yields ``n * up / down`` output samples, the last
        ``delay_samples`` of its span arriving with the next block.
    delay : float
        ``delay_samples`` in seconds.
    """

    def __init__(self, input_rate: float, output_rate: float) -> None:
        self.input_rate = int(input_rate)
        self.output_rate = int(output_rate)
        self.up, self.down = resampling_factors(input_rate, output_rate)
        identity = self.up == self.down == 1
        self._filter = np.ones(1) if identity else resampling_filter(self.up, self.down) * self.up
        self._half_len = (len(self._filter) - 1) // 2
        self.delay_samples = self._half_len // self.down
        self.delay = self.delay_samples / self.output_rate
        self.reset()

    def reset(self) -> None:
        """Forget the stream (after a gap): the next block starts a new stream."""
        # The buffer holds input samples [buffer_start, total_in). Its start is
        # kept where (half_len - buffer_start * up) is a multiple of down, so
        # that upfirdn's decimation phase lands on the samples resample_poly
        # keeps; zeros before the stream's start are what one-shot pads with.
        lead = next(r for r in range(self.down) if (self._half_len + r * self.up) % self.down == 0)
        self._lead = lead
        self._buffer: np.ndarray | None = None
        self._buffer_start = -lead
        self._total_in = 0
        self._next_out = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        """Add a block of input; return the output samples it completes."""
        buffer = self._extend(block, self._lead)
        # Output m needs upsampled input up to index m * down + half_len,
        # i.e. m * down + half_len < total_in * up.
        ready = -(-(self._total_in * self.up - self._half_len) // self.down)
        return self._emit(buffer, max(ready, self._next_out))

    def flush(self) -> np.ndarray:
        """The remaining output of the stream, its end padded with zeros; then reset."""
        if self._buffer is None:
            self.reset()
            return np.zeros(0)
        total_out = -(-self._total_in * self.up // self.down)
        pad = np.zeros(self._buffer.shape[:-1] + (2 * self._half_len // self.up + 1,))
        out = self._emit(np.concatenate((self._buffer, pad), axis=-1), total_out)
        self.reset()
        return out

    def _emit(self, buffer: np.ndarray, end: int) -> np.ndarray:
        """Compute one-shot outputs [next_out, end) from ``buffer`` and keep what later outputs need."""
        start = self._next_out
        if end <= start:
            self._buffer = buffer
            return np.zeros(buffer.shape[:-1] + (0,))
        # upfirdn output j of the buffer is convolution index j * down + buffer_start * up
        # of the whole stream; one-shot output m is convolution index m * down + half_len.
        offset = (self._half_len - self._buffer_start * self.up) // self.down
        first_input = (start * self.down - self._half_len) // self.up - self._buffer_start
        first_input = max(first_input - first_input % self.down, 0)
        # Only the part of the buffer that reaches outputs [start, end) is filtered.
        last_input = (end - 1) * self.down + self._half_len
        last_input = last_input // self.up - self._buffer_start + 1
        segment = buffer[..., first_input:last_input]
        filtered = upfirdn(self._filter, segment, self.up, self.down, axis=-1)
        shift = offset + start - first_input * self.up // self.down
        out = filtered[..., shift : shift + end - start]
        self._next_out = end
        # Keep the input the next output needs, dropping whole multiples of down
        # so the buffer start keeps its phase.
        needed = (end * self.down - self._half_len) // self.up - self._buffer_start
        drop = max(needed - needed % self.down, 0)
        self._buffer = buffer[..., drop:]
        self._buffer_start += drop
        return out


class MinimumPhaseResampler(_BufferedStream):
    """Stream form of ``resample(..., phase="minimum")``: a causal filter, so no delay.

    Same interface as :class:`StreamingResampler`; ``delay_samples`` is 0: a
    block of ``n`` input samples (a multiple of ``down``) yields the ``n * up /
    down`` output samples of its own span.
    """

    def __init__(self, input_rate: float, output_rate: float) -> None:
        self.input_rate = int(input_rate)
        self.output_rate = int(output_rate)
        self.up, self.down = resampling_factors(input_rate, output_rate)
        identity = self.up == self.down == 1
        self._filter = np.ones(1) if identity else minimum_phase_filter(self.up, self.down) * self.up
        self.delay_samples = 0
        self.delay = 0.0
        self.reset()

    def reset(self) -> None:
        """Forget the stream (after a gap): the next block starts a new stream."""
        # The buffer holds input samples [buffer_start, total_in), buffer_start a multiple of down so
        # that upfirdn's output j of the buffer is the stream's output j + buffer_start * up / down.
        self._buffer: np.ndarray | None = None
        self._buffer_start = 0
        self._total_in = 0
        self._next_out = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        """Add a block of input; return the output samples it completes."""
        buffer = self._extend(block, 0)
        # output m reads upsampled input up to index m * down, known once m * down < total_in * up
        end = -(-self._total_in * self.up // self.down)
        first = self._buffer_start * self.up // self.down
        filtered = upfirdn(self._filter, buffer, self.up, self.down, axis=-1)
        out = filtered[..., self._next_out - first : end - first]
        self._next_out = end
        # the next output reads input back to (end * down - len(filter) + 1) / up
        needed = max((end * self.down - len(self._filter) + 1) // self.up, 0) - self._buffer_start
        drop = max(needed - needed % self.down, 0)
        self._buffer = buffer[..., drop:]
        self._buffer_start += drop
        return out

    def flush(self) -> np.ndarray:
        """Nothing is held back; resets the stream."""
        self.reset()
        return np.zeros(0)
