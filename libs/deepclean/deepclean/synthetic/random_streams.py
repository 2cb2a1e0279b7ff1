"""Seeded random numbers that depend only on (seed, stream, index).

Every random quantity of the synthetic detector is drawn from a generator
seeded by the detector seed, a fixed stream number naming what the numbers
are for, and an index (a block of samples, a GPS second, an epoch). Nothing
depends on where generation started or how the span was chunked, so the same
GPS second always gets the same numbers.
"""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

import numpy as np


class Stream(IntEnum):
    """What a random stream is used for (the numbers are part of the seed: never renumber)."""

    STRAIN_FLOOR = 1
    MAINS_DRIFTS = 2
    MAINS_MONITOR_NOISE = 3
    COUPLING_CHOICE = 4
    STATE_VECTOR = 5
    DROP_STRAIN = 6
    DROP_WITNESS = 7
    LATE_WITNESS = 8
    WITNESS_SHAPE = 9
    MAINS_HARMONICS = 10
    COUPLING_STEP = 11
    RESPONSE_DELAY = 12  # indexed by witness index
    WITNESS_MOTION = 1000  # + witness index
    WITNESS_SENSOR_NOISE = 2000  # + witness index
    INJECTIONS = 3000  # indexed by injection slot (injections.py)


def generator(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    """A generator determined by ``(seed, stream, index)`` alone."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(stream), int(index)])))


def uniform(seed: int, stream: int, index: int) -> float:
    """One uniform number in [0, 1) determined by ``(seed, stream, index)``."""
    state = np.random.SeedSequence([int(seed), int(stream), int(index)]).generate_state(1, np.uint64)[0]
    return float(state >> np.uint64(11)) / 2.0**53


def white_noise(seed: int, stream: int, block_samples: int, first: int, stop: int) -> np.ndarray:
    """Unit-variance white noise for the absolute sample indices ``[first, stop)``.

    The stream is cut into blocks of ``block_samples``; block ``b`` holds the
    numbers of ``generator(seed, stream, b)``, so any sample has the same
    value whatever range it is requested in.
    """
    if stop <= first:
        return np.zeros(0)
    if first < 0:
        raise ValueError(f"sample index {first} is before GPS 0; start the synthetic detector later")
    first_block = first // block_samples
    last_block = (stop - 1) // block_samples
    blocks = [_white_block(seed, stream, block, block_samples) for block in range(first_block, last_block + 1)]
    joined = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    offset = first - first_block * block_samples
    return joined[offset : offset + stop - first]


@lru_cache(maxsize=160)
def _white_block(seed: int, stream: int, block: int, block_samples: int) -> np.ndarray:
    # Cached because neighbouring blocks reuse each other's noise (filter tails, margins);
    # read-only so that a caller cannot change what the next caller gets.
    samples = generator(seed, stream, block).standard_normal(block_samples)
    samples.flags.writeable = False
    return samples
