"""Training batches and validation windows cut from scaled segments."""

from __future__ import annotations

import numpy as np
import torch

from .preprocessing import Scaler, Segment


class WindowSampler:
    """Random training windows, drawn uniformly over every valid start sample.

    Parameters
    ----------
    segments
        Training segments (unscaled); scaled here with ``scaler``.
    window
        Window length in samples.
    seed
        Seed of the sampler's own generator (independent of torch's).
    """

    def __init__(self, segments: list[Segment], scaler: Scaler, window: int, seed: int) -> None:
        usable = [s for s in segments if s.num_samples >= window]
        if not usable:
            raise ValueError(f"no training segment is as long as one {window}-sample window")
        self.window = window
        self._witnesses = [torch.from_numpy(scaler.scale_witnesses(s.witnesses)) for s in usable]
        self._targets = [torch.from_numpy(scaler.scale_target(s.target)) for s in usable]
        counts = np.array([s.num_samples - window + 1 for s in usable])
        self._first_start = np.concatenate(([0], np.cumsum(counts)))
        self._rng = np.random.default_rng(seed)

    @property
    def num_samples(self) -> int:
        return int(sum(t.shape[-1] for t in self._targets))

    def batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Witnesses (batch, num_witnesses, window) and targets (batch, window)."""
        flat = self._rng.integers(0, self._first_start[-1], size=batch_size)
        which = np.searchsorted(self._first_start, flat, side="right") - 1
        offsets = flat - self._first_start[which]
        witnesses = torch.stack(
            [self._witnesses[i][:, o : o + self.window] for i, o in zip(which, offsets)]
        )
        targets = torch.stack([self._targets[i][o : o + self.window] for i, o in zip(which, offsets)])
        return witnesses, targets


def validation_windows(segments: list[Segment], scaler: Scaler, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every whole, non-overlapping ``window`` of the validation segments."""
    witnesses, targets = [], []
    for segment in segments:
        scaled_w = scaler.scale_witnesses(segment.witnesses)
        scaled_t = scaler.scale_target(segment.target)
        for begin in range(0, segment.num_samples - window + 1, window):
            witnesses.append(scaled_w[:, begin : begin + window])
            targets.append(scaled_t[begin : begin + window])
    if not witnesses:
        raise ValueError(f"the validation data holds no whole {window}-sample window")
    return torch.from_numpy(np.stack(witnesses)), torch.from_numpy(np.stack(targets))
