"""Stage: un-scale predictions to strain units and band-pass them (zero phase, or causal).

The zero-phase band-pass is the forward-backward application of the version's
Butterworth sections (what ``scipy.signal.sosfiltfilt`` does over a whole span),
split so that it streams:

- the forward pass runs causally over the stream with its state carried from
  block to block, so it is exact (as if the whole past had been filtered);
- the backward pass needs the future: for each output block it starts
  ``lookahead`` samples after the block's end, on the forward output extended
  by ``padding`` samples of even reflection of the input (as ``sosfiltfilt``
  pads a span's end), so its start-up transient has died down by the block.

The stage therefore lags its input by ``lookahead`` samples, most of the
cleaner's latency. The only error against filtering the whole span comes from
the unknown future: with the default 8th-order 58-62 Hz Butterworth and 0.85 s
of look-ahead it is ~0.5 % RMS of the estimate for a mains line with sidebands
and a few per cent for broadband input (see tests/test_pipeline.py).

A version trained for the causal (low-latency) mode is band-passed by
:class:`CausalNoiseFilter` instead: the same sections, forward only, with the
state carried from block to block, so it adds no delay and equals one pass of
:func:`deepclean.signal.causal_bandpass` over the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import sosfilt, sosfilt_zi

from deepclean.model_repository import FilterKind, FilterSpec
from deepclean.signal import bandpass_sos

from .buffers import Block, Gap, SampleBuffer


def design_bandpass(filter_spec: FilterSpec, sample_rate: float) -> np.ndarray:
    """Second-order sections of the band-pass a version's metadata names (its ``filter``).

    :class:`NoiseFilter` applies them forward and backward, which is what
    :attr:`FilterKind.BUTTER_SOS_ZERO_PHASE` means; :class:`CausalNoiseFilter`
    forward only (:attr:`FilterKind.BUTTER_SOS_CAUSAL`).
    """
    if filter_spec.kind not in (FilterKind.BUTTER_SOS_ZERO_PHASE, FilterKind.BUTTER_SOS_CAUSAL):
        raise ValueError(f"metadata 'filter.kind' {filter_spec.kind.value!r} is not supported by the cleaner")
    return bandpass_sos(filter_spec.band, sample_rate, order=filter_spec.order)


@dataclass
class _ScaledBandpass:
    """Un-scale predictions and run the band-pass forward over the stream, restarting after a gap or a jump.

    Parameters
    ----------
    sos
        Band-pass sections (:func:`design_bandpass`).
    target_mean, target_std
        The version's target scaler: noise = prediction * target_std + target_mean.
    history
        Samples the forward pass runs before the first output (its settling time after a restart).
    """

    sos: np.ndarray
    target_mean: float
    target_std: float
    history: int
    _state: np.ndarray | None = field(default=None, init=False, repr=False)
    _seen: int = field(default=0, init=False, repr=False)
    lookahead: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._unit_state = sosfilt_zi(self.sos)

    def reset(self) -> None:
        self._state = None
        self._seen = 0

    def process(self, item: Block | Gap) -> Block | Gap | None:
        """Filtered noise for the block ``lookahead`` samples behind ``item``; ``None`` while the filter settles."""
        if isinstance(item, Gap):
            self.reset()
            return item
        noise = item.data * self.target_std + self.target_mean
        if not self._follows(item):
            self.reset()
            self._restart(item)
            self._state = self._unit_state * noise[0]  # as causal_bandpass starts a span
        forward, self._state = sosfilt(self.sos, noise, zi=self._state)
        self._carry(item, noise, forward)
        self._seen += item.size
        if self._seen < self.history + item.size + self.lookahead:
            return None
        return self._output(item, forward)

    def _follows(self, item: Block) -> bool:
        """``item`` continues the stream filtered so far."""
        raise NotImplementedError

    def _restart(self, item: Block) -> None:
        """Start a new stream at ``item``."""

    def _carry(self, item: Block, noise: np.ndarray, forward: np.ndarray) -> None:
        """Keep what the next blocks need of ``item``."""
        raise NotImplementedError

    def _output(self, item: Block, forward: np.ndarray) -> Block:
        """The output block once the filter has settled."""
        raise NotImplementedError


@dataclass
class NoiseFilter(_ScaledBandpass):
    """Turn scaled predictions into band-passed noise in strain units.

    Parameters
    ----------
    sos, target_mean, target_std, history
        As for every band-pass stage (:class:`_ScaledBandpass`).
    lookahead
        Samples of the future used for each output block.
    padding
        Samples of even reflection after the look-ahead (``None``: the working
        rate's second, i.e. the length of the first block seen).
    """

    lookahead: int = field()  # required: the base class's default of 0 is the causal stage's
    padding: int | None = None
    _forward: SampleBuffer | None = field(default=None, init=False, repr=False)
    _tail: np.ndarray | None = field(default=None, init=False, repr=False)

    def reset(self) -> None:
        super().reset()
        self._forward = None
        self._tail = None

    def _follows(self, item: Block) -> bool:
        return self._forward is not None and self._forward.stop == item.start

    def _restart(self, item: Block) -> None:
        self._forward = SampleBuffer(item.rate)

    def _carry(self, item: Block, noise: np.ndarray, forward: np.ndarray) -> None:
        keep = self._padding(item) + 1
        self._forward.append(Block(item.start, item.rate, forward))
        self._tail = noise[-keep:] if self._tail is None else np.concatenate([self._tail, noise])[-keep:]

    def _output(self, item: Block, forward: np.ndarray) -> Block:
        """The block ``lookahead`` samples behind ``item``, filtered backward from the future and a reflection."""
        stop = self._forward.stop
        start = stop - self.lookahead - item.size
        reflection = self._tail[-2::-1][: self._padding(item)]
        extension, _ = sosfilt(self.sos, reflection, zi=self._state)
        backward_input = np.concatenate([self._forward.get(start, stop), extension])[::-1]
        backward, _ = sosfilt(self.sos, backward_input, zi=self._unit_state * backward_input[0])
        self._forward.keep_last(self.lookahead)
        return Block(start, item.rate, backward[::-1][: item.size])

    def _padding(self, item: Block) -> int:
        return item.size if self.padding is None else self.padding


@dataclass
class CausalNoiseFilter(_ScaledBandpass):
    """Turn scaled predictions into causally band-passed noise in strain units, without delay.

    Takes the parameters of every band-pass stage (:class:`_ScaledBandpass`); its ``lookahead`` is always 0.
    """

    _next: int | None = field(default=None, init=False, repr=False)

    def reset(self) -> None:
        super().reset()
        self._next = None

    def _follows(self, item: Block) -> bool:
        return self._next == item.start

    def _carry(self, item: Block, noise: np.ndarray, forward: np.ndarray) -> None:
        self._next = item.stop

    def _output(self, item: Block, forward: np.ndarray) -> Block:
        return Block(item.start, item.rate, forward)
