"""What flows between the cleaner's stages: blocks of samples and gap markers (the library's ``Gap``).

Time is counted in integer sample indices at a block's own rate from GPS 0
(sample ``i`` at ``rate`` Hz is at GPS ``i / rate``), so stages align blocks
exactly without floating-point GPS arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepclean.frames import Gap  # noqa: F401 - GPS [start, end) without data: every stage restarts after it


@dataclass(frozen=True)
class Block:
    """Contiguous samples of one or more channels: ``data`` has time on its last axis."""

    start: int
    rate: int
    data: np.ndarray

    @property
    def size(self) -> int:
        return int(self.data.shape[-1])

    @property
    def stop(self) -> int:
        return self.start + self.size

    @property
    def gps(self) -> float:
        return self.start / self.rate


class SampleBuffer:
    """A growing window of contiguous samples at one rate, trimmed from the front.

    Parameters
    ----------
    rate
        Sample rate of the blocks it holds.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._chunks: list[np.ndarray] = []
        self.start: int | None = None
        self.stop: int | None = None

    def __len__(self) -> int:
        return 0 if self.start is None else self.stop - self.start

    def clear(self) -> None:
        self._chunks = []
        self.start = self.stop = None

    def append(self, block: Block) -> None:
        """Add ``block``; it must follow the held samples without a hole."""
        if block.rate != self.rate:
            raise ValueError(f"block at {block.rate} Hz appended to a {self.rate} Hz buffer")
        if self.stop is not None and block.start != self.stop:
            raise ValueError(f"block starting at sample {block.start} does not follow sample {self.stop}")
        if self.start is None:
            self.start = block.start
        if block.size:
            self._chunks.append(block.data)
        self.stop = block.stop

    def covers(self, start: int, stop: int) -> bool:
        return self.start is not None and self.start <= start and stop <= self.stop

    def get(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` (a new array); raises if not all held."""
        if not self.covers(start, stop):
            raise ValueError(f"samples [{start}, {stop}) are not in the buffer [{self.start}, {self.stop})")
        if start == stop:
            return np.zeros(self._chunks[0].shape[:-1] + (0,)) if self._chunks else np.zeros(0)
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks, axis=-1)]
        offset = start - self.start
        return self._chunks[0][..., offset : offset + stop - start].copy()

    def tail(self, count: int) -> Block:
        """The last ``count`` samples as a block."""
        return Block(self.stop - count, self.rate, self.get(self.stop - count, self.stop))

    def keep_last(self, count: int) -> None:
        """Drop all but the last ``count`` samples."""
        if len(self) > count:
            kept = self.tail(count)
            self._chunks = [kept.data]
            self.start = kept.start
