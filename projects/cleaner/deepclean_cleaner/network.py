"""Stage: stream the fully convolutional network exactly.

Each block of witnesses is sent to the network with ``context`` samples of the
past on the left and holds back ``context`` samples at its right end for the
next call, so every predicted sample sees its whole receptive field: the
output lags the input by ``context`` samples and equals one pass over the
whole span (away from its ends) instead of recomputing overlapping windows.

A version trained for the causal mode estimates the noise ``lead`` samples
after each output sample (:func:`deepclean.signal.causal_lead`): its blocks are
stamped that much later, so they come out ``lead - context`` samples ahead of
the input instead of behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from deepclean.network_reach import DEFAULT_WIDTHS, receptive_field, streaming_context

from .buffers import Block, Gap, SampleBuffer

__all__ = ["DEFAULT_WIDTHS", "NoisePredictor", "StreamedNetwork", "receptive_field", "streaming_context"]

DOWNSAMPLING_LEVELS = len(DEFAULT_WIDTHS)


class NoisePredictor(Protocol):
    """Runs one model version: witnesses ``(batch, channels, time)`` float32 -> ``(batch, time)``."""

    def predict(self, witness: np.ndarray) -> np.ndarray: ...


@dataclass
class StreamedNetwork:
    """Standardise witnesses with a version's scaler and predict the (scaled) noise.

    Parameters
    ----------
    predictor
        Runs the model version (embedded onnxruntime or Triton).
    channel_index
        Rows of the incoming witness block, in the order the version expects.
    witness_mean, witness_std
        The version's scaler statistics, one per channel in that order.
    context
        Samples of context each side; a multiple of ``stride``.
    stride
        Block lengths (and the context) must be multiples of this.
    lead
        Samples after an output sample whose noise it estimates (the version's ``latency.lead``).
    """

    predictor: NoisePredictor
    channel_index: np.ndarray
    witness_mean: np.ndarray
    witness_std: np.ndarray
    context: int
    stride: int = 2**DOWNSAMPLING_LEVELS
    lead: int = 0
    _history: SampleBuffer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.context % self.stride:
            raise ValueError(f"context {self.context} is not a multiple of the stride {self.stride}")
        self._mean = np.asarray(self.witness_mean, dtype=np.float64)[:, None]
        self._scale = 1.0 / np.asarray(self.witness_std, dtype=np.float64)[:, None]

    def reset(self) -> None:
        self._history = None

    def process(self, item: Block | Gap) -> Block | Gap | None:
        """Predictions for the block ``context - lead`` samples behind ``item``; ``None`` while priming."""
        if isinstance(item, Gap):
            self.reset()
            return item
        if item.size % self.stride:
            raise ValueError(f"block of {item.size} samples is not a multiple of the stride {self.stride}")
        standardised = ((item.data[self.channel_index] - self._mean) * self._scale).astype(np.float32)
        block = Block(item.start, item.rate, standardised)
        if self._history is None or self._history.stop != item.start:
            self._history = SampleBuffer(item.rate)
        history = self._history
        history.append(block)
        needed = 2 * self.context + item.size
        if len(history) < needed:
            return None
        window = history.get(history.stop - needed, history.stop)
        predicted = np.asarray(self.predictor.predict(window[None]))[0]
        history.keep_last(2 * self.context)
        start = item.start - self.context + self.lead
        return Block(
            start,
            item.rate,
            predicted[self.context : self.context + item.size].astype(np.float64),
        )
