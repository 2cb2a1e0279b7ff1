"""Stage: resample a stream into whole blocks with a fixed delay.

Wraps :class:`deepclean.signal.StreamingResampler` (whose output equals one
``resample_poly`` pass over the whole stream) and holds back ``delay`` output
samples, so that every input block yields exactly one output block of the
matching length: the one ending ``delay`` samples before the input block's end.
The delay is at least the resampler's own and is rounded up to ``align``
(the network's stride) so the blocks keep the stride phase of the stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from deepclean.signal import MinimumPhaseResampler, StreamingResampler, streaming_resampler

from .buffers import Block, Gap, SampleBuffer


def minimum_delay(input_rate: int, output_rate: int) -> int:
    """Output samples of look-ahead resampling from ``input_rate`` to ``output_rate`` needs."""
    return StreamingResampler(input_rate, output_rate).delay_samples


@dataclass
class BlockResampler:
    """Resample blocks from ``input_rate`` to ``output_rate``, ``delay`` output samples late.

    Parameters
    ----------
    input_rate, output_rate
        Sample rates in Hz.
    delay
        Output lag in output samples; ``None`` takes :func:`minimum_delay`
        rounded up to a multiple of ``align``.
    align
        Granularity of the default delay.
    phase
        Phase of the resampling filter (:data:`deepclean.signal.resample.PHASES`).
    """

    input_rate: int
    output_rate: int
    delay: int | None = None
    align: int = 1
    phase: str = "linear"
    _stream: StreamingResampler | MinimumPhaseResampler = field(init=False, repr=False)
    _output: SampleBuffer | None = field(default=None, init=False, repr=False)
    _next_input: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._stream = streaming_resampler(self.input_rate, self.output_rate, self.phase)
        least = self._stream.delay_samples
        if self.delay is None:
            self.delay = math.ceil(least / self.align) * self.align
        elif self.delay < least:
            raise ValueError(f"delay {self.delay} is shorter than the {least} samples resampling needs")

    def reset(self) -> None:
        self._stream.reset()
        self._output = None
        self._next_input = None

    def _to_output(self, index: int) -> int:
        scaled = index * self.output_rate
        if scaled % self.input_rate:
            raise ValueError(f"sample {index} at {self.input_rate} Hz is not on the {self.output_rate} Hz grid")
        return scaled // self.input_rate

    def process(self, item: Block | Gap) -> Block | Gap | None:
        """The resampled block ``delay`` samples behind ``item``; ``None`` while priming."""
        if isinstance(item, Gap):
            self.reset()
            return item
        if item.rate != self.input_rate:
            raise ValueError(f"expected {self.input_rate} Hz, got a {item.rate} Hz block")
        if self._next_input != item.start:
            self.reset()
            self._output = SampleBuffer(self.output_rate)
            self._output.start = self._output.stop = self._to_output(item.start)
        self._next_input = item.stop
        resampled = self._stream.push(item.data)
        output = self._output
        output.append(Block(output.stop, self.output_rate, resampled))
        stop = self._to_output(item.stop) - self.delay
        start = stop - (self._to_output(item.stop) - self._to_output(item.start))
        if not output.covers(start, stop):
            return None
        block = Block(start, self.output_rate, output.get(start, stop))
        output.keep_last(output.stop - stop)
        return block
