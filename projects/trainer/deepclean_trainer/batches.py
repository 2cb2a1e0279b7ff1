"""Training batches and validation windows cut from scaled segments.

With a ``warmup`` (the causal mode: the causal filter the loss applies to the
prediction) each witness window starts that many samples before its target
window, which is the witness window's last ``window`` samples.
"""

from __future__ import annotations

import numpy as np
import torch

from .preprocessing import Scaler, Segment


class WindowSampler:
    """Random training windows, optionally favouring the most recent data.

    Start samples are drawn in blocks of ``BLOCK`` samples: a block is picked
    with probability proportional to its number of valid starts times
    ``exp((t - t_newest) / recency_seconds)``, then a start uniformly inside
    it. Recent data weighs more because the couplings drift: the network
    should describe the detector as it is now, where it will be used next.

    Parameters
    ----------
    segments
        Training segments (unscaled); scaled here with ``scaler``.
    window
        Window length in samples.
    seed
        Seed of the sampler's own generator (independent of torch's).
    recency_seconds
        e-folding time of the weight towards the past; None: uniform.
    warmup
        Witness samples before each target window.
    """

    BLOCK = 256

    def __init__(
        self,
        segments: list[Segment],
        scaler: Scaler,
        window: int,
        seed: int,
        recency_seconds: float | None = None,
        warmup: int = 0,
    ) -> None:
        span = window + warmup
        usable = [s for s in segments if s.num_samples >= span]
        if not usable:
            raise ValueError(f"no training segment is as long as one {span}-sample window")
        self.window = window
        self.warmup = warmup
        self._witnesses = [torch.from_numpy(scaler.scale_witnesses(s.witnesses)) for s in usable]
        self._targets = [torch.from_numpy(scaler.scale_target(s.target)) for s in usable]
        segment_of, first, size, middle = [], [], [], []
        for index, s in enumerate(usable):
            starts = s.num_samples - span + 1
            firsts = np.arange(0, starts, self.BLOCK)
            segment_of.append(np.full(firsts.size, index))
            first.append(firsts)
            size.append(np.minimum(self.BLOCK, starts - firsts))
            middle.append(s.start + (firsts + warmup + window / 2) / s.sample_rate)
        self._segment_of = np.concatenate(segment_of)
        self._first = np.concatenate(first)
        self._size = np.concatenate(size)
        times = np.concatenate(middle)
        weights = self._size.astype(float)
        if recency_seconds is not None:
            weights *= np.exp((times - times.max()) / recency_seconds)
        self._probability = weights / weights.sum()
        self._rng = np.random.default_rng(seed)

    @property
    def num_samples(self) -> int:
        return int(sum(t.shape[-1] for t in self._targets))

    def batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Witnesses (batch, num_witnesses, warmup + window) and targets (batch, window)."""
        blocks = self._rng.choice(self._probability.size, size=batch_size, p=self._probability)
        offsets = self._first[blocks] + self._rng.integers(0, self._size[blocks])
        which = self._segment_of[blocks]
        span, lag = self.warmup + self.window, self.warmup
        witnesses = torch.stack([self._witnesses[i][:, o : o + span] for i, o in zip(which, offsets, strict=False)])
        targets = torch.stack([self._targets[i][o + lag : o + span] for i, o in zip(which, offsets, strict=False)])
        return witnesses, targets


def validation_windows(
    segments: list[Segment], scaler: Scaler, window: int, warmup: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every whole, non-overlapping ``window`` of target in the validation segments, each with its witnesses
    from ``warmup`` samples before it."""
    witnesses, targets = [], []
    for segment in segments:
        scaled_w = scaler.scale_witnesses(segment.witnesses)
        scaled_t = scaler.scale_target(segment.target)
        for begin in range(warmup, segment.num_samples - window + 1, window):
            witnesses.append(scaled_w[:, begin - warmup : begin + window])
            targets.append(scaled_t[begin : begin + window])
    if not witnesses:
        raise ValueError(f"the validation data holds no whole {window}-sample window")
    return torch.from_numpy(np.stack(witnesses)), torch.from_numpy(np.stack(targets))
