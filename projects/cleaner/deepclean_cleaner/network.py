"""Stage: stream the fully convolutional network exactly.

Each block of witnesses is sent to the network with ``context`` samples of the
past on the left and holds back ``context`` samples at its right end for the
next call, so every predicted sample sees its whole receptive field: the
output lags the input by ``context`` samples and equals one pass over the
whole span (away from its ends) instead of recomputing overlapping windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .buffers import Block, Gap, SampleBuffer

DEFAULT_WIDTHS = (8, 16, 32, 64)
"""Default channels of deepclean.architecture.DeepClean's stride-2 levels (metadata may name others)."""
DOWNSAMPLING_LEVELS = len(DEFAULT_WIDTHS)


class NoisePredictor(Protocol):
    """Runs one model version: witnesses ``(batch, channels, time)`` float32 -> ``(batch, time)``."""

    def predict(self, witness: np.ndarray) -> np.ndarray: ...


def receptive_field(kernel_size: int, levels: int = DOWNSAMPLING_LEVELS) -> int:
    """Samples each side of an output sample that can affect it (same as DeepClean.receptive_field)."""
    half = kernel_size // 2
    reach = half + sum(half * 2**level for level in range(levels))
    reach += sum((half + 1) * 2**level for level in range(levels))
    return reach + half


def streaming_context(kernel_size: int, levels: int = DOWNSAMPLING_LEVELS) -> int:
    """Receptive field rounded up to a multiple of the network's stride."""
    stride = 2**levels
    return math.ceil(receptive_field(kernel_size, levels) / stride) * stride


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
    """

    predictor: NoisePredictor
    channel_index: np.ndarray
    witness_mean: np.ndarray
    witness_std: np.ndarray
    context: int
    stride: int = 2**DOWNSAMPLING_LEVELS
    _history: SampleBuffer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.context % self.stride:
            raise ValueError(f"context {self.context} is not a multiple of the stride {self.stride}")
        self._mean = np.asarray(self.witness_mean, dtype=np.float64)[:, None]
        self._scale = 1.0 / np.asarray(self.witness_std, dtype=np.float64)[:, None]

    def reset(self) -> None:
        self._history = None

    def process(self, item: Block | Gap) -> Block | Gap | None:
        """Predictions for the block ``context`` samples behind ``item``; ``None`` while priming."""
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
        start = item.start - self.context
        return Block(
            start,
            item.rate,
            predicted[self.context : self.context + item.size].astype(np.float64),
        )
