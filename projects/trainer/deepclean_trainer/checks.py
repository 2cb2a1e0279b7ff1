"""Data checks run before any training.

Each failed check raises :class:`DataCheckError` with a reason that names the
channel, file or GPS second at fault; the trainer logs it, skips the cycle and
tries again at the next one.
"""

from __future__ import annotations

import numpy as np


class DataCheckError(RuntimeError):
    """The data of a training span cannot be trained on; the message says why."""


def check_finite(samples: np.ndarray, channel: str, gps: int) -> None:
    """Reject NaN or infinite samples."""
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise DataCheckError(f"channel {channel} has {bad} NaN/inf sample(s) in GPS second {gps}")


def check_rate(channel: str, rate: float, expected: float | None, gps: int, path: str) -> None:
    """Reject a sample rate that differs from the expected (configured or first-seen) one."""
    if rate <= 0 or rate != int(rate):
        raise DataCheckError(f"channel {channel} in {path} has a non-integer sample rate {rate} Hz")
    if expected is not None and rate != expected:
        raise DataCheckError(f"channel {channel} is at {rate:g} Hz in {path} (GPS {gps}), expected {expected:g} Hz")


def is_flat(samples: np.ndarray) -> bool:
    """A channel that does not move at all over a stretch is dead."""
    return samples.size > 0 and float(np.ptp(samples)) == 0.0


def saturated_fraction(samples: np.ndarray, min_run: int = 4) -> float:
    """Fraction of samples stuck at the channel's extreme value for ``min_run`` or more
    consecutive samples: the flat tops of a clipped (saturated) signal.

    A quantised but unclipped signal reaches its extremes only in isolated
    samples, so it scores 0 here.
    """
    if samples.size < min_run:
        return 0.0
    stuck = np.zeros(samples.size, dtype=bool)
    for extreme in (samples.max(), samples.min()):
        at_extreme = samples == extreme
        # run lengths of consecutive samples at the extreme
        edges = np.diff(np.concatenate(([0], at_extreme.view(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        for start, end in zip(starts, ends, strict=False):
            if end - start >= min_run:
                stuck[start:end] = True
    return float(stuck.mean())


def check_stretch_channels(
    channels: dict[str, np.ndarray], start: int, duration: int, max_saturated_fraction: float
) -> None:
    """Reject a flat or saturated channel in a stretch of ready data starting at GPS ``start``."""
    for channel, samples in channels.items():
        if is_flat(samples):
            raise DataCheckError(
                f"channel {channel} is flat (constant {samples.flat[0]!r}) over GPS {start}-{start + duration}"
            )
        fraction = saturated_fraction(samples)
        if fraction > max_saturated_fraction:
            raise DataCheckError(
                f"channel {channel} is saturated over GPS {start}-{start + duration}: "
                f"{fraction:.1%} of samples stuck at its extreme value (limit {max_saturated_fraction:.1%})"
            )


def check_enough_ready(ready_seconds: int, required: int, start: int, end: int) -> None:
    """Reject a span with too little analysis-ready data in usable stretches."""
    if ready_seconds < required:
        raise DataCheckError(
            f"not enough analysis-ready data in GPS {start}-{end}: {ready_seconds} s in usable stretches, "
            f"need {required} s"
        )
