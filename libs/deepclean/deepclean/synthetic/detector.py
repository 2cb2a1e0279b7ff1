"""The synthetic detector: spans generated in fixed blocks.

Time is cut into blocks of :data:`BLOCK_SECONDS` aligned to multiples of
that length in GPS. Each block is produced by the same computation whatever
span was asked for (the white noise of a block comes from ``(seed, block)``,
drifts and the mains phase are functions of GPS time, filters reach into the
neighbouring blocks' noise deterministically), so every GPS second has the
same samples however it is reached: in a long history span, one second at a
time, after a restart, at any speed.

The world the detector simulates is set by :class:`DetectorConfig`; its
defaults are the baseline detector, and :mod:`deepclean.synthetic.scenarios`
names other worlds (coupling steps, faster drifts, harmonics, ...).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from .colouring import FirFilter, strain_floor_filter
from .detector_config import H1_WITNESSES, STEP_GPS, DetectorConfig
from .mains import MainsModel
from .random_streams import Stream, generator, white_noise
from .span import SyntheticSpan
from .state_vector import StateModel
from .witnesses import MAINS_MONITOR_NOISE, MOTION_RATE, LoopMotion, ResponseDelay, resample

__all__ = ["BLOCK_SECONDS", "ENVELOPE_RATE", "H1_WITNESSES", "STEP_GPS", "DetectorConfig", "SyntheticDetector"]

BLOCK_SECONDS = 16
"""Generation block length (part of the seed: changing it changes the data)."""

ENVELOPE_RATE = 4 * MOTION_RATE
"""Rate (Hz) of the in-phase and quadrature envelope of the injected noise."""

_MARGIN_SECONDS = 1  # motion generated beyond the block so that resampling has no edges
_FLOOR_FILTER_SECONDS = 2
_CACHED_BLOCKS = 3


class SyntheticDetector:
    """Generates :class:`SyntheticSpan` objects for any GPS span.

    Examples
    --------
    >>> detector = SyntheticDetector(DetectorConfig(seed=3))
    >>> span = detector.generate(1400000000, 64)
    >>> span.strain.shape, span.witnesses["H1:ASC-DHARD_P_OUT_DQ"].shape
    ((1048576,), (131072,))
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        cfg = self.config
        self.angular_channels = [c for c in cfg.witness_channels if c != cfg.mains_channel]
        self.loops = {
            channel: LoopMotion.random(cfg.seed, index, cfg.loops)
            for index, channel in enumerate(self.angular_channels)
        }
        self.coupled_channels = self._coupled_channels()
        for channel in self.coupled_channels if cfg.loops.delayed else ():
            loop = self.loops[channel]
            self.loops[channel] = replace(loop, delay=ResponseDelay.random(cfg.seed, loop.index, cfg.loops))
        for channel, scale in cfg.counts_scale.items():
            loop = self.loops[channel]
            self.loops[channel] = replace(loop, counts_per_unit=loop.counts_per_unit * scale)
        self.mains = MainsModel.random(
            cfg.seed, cfg.num_coupled, cfg.noise_rms, cfg.bilinear_fraction, settings=cfg.mains, step_gps=cfg.step_gps
        )
        self.state = StateModel(cfg.seed, cfg.not_ready_interval, cfg.not_ready_duration)
        self._floor_filter = FirFilter(
            strain_floor_filter(cfg.strain_sample_rate, _FLOOR_FILTER_SECONDS, cfg.design_curve)
        )
        self._blocks: OrderedDict[int, SyntheticSpan] = OrderedDict()
        self._carrier: np.ndarray | None = None
        self._lock = threading.Lock()

    def _coupled_channels(self) -> list[str]:
        """``coupled_witnesses``, then loops in the seed's random order, up to ``num_coupled``."""
        cfg = self.config
        choice = generator(cfg.seed, Stream.COUPLING_CHOICE).permutation(len(self.angular_channels))
        forced = [self.angular_channels.index(channel) for channel in dict.fromkeys(cfg.coupled_witnesses)]
        chosen = forced + [index for index in choice if index not in forced]
        return [self.angular_channels[i] for i in sorted(chosen[: cfg.num_coupled])]

    def generate(self, start: int, duration: int) -> SyntheticSpan:
        """The data of ``[start, start + duration)`` (whole GPS seconds)."""
        if int(start) != start or int(duration) != duration or duration < 1:
            raise ValueError(f"start and duration must be whole seconds (duration >= 1), got {start}, {duration}")
        start, duration = int(start), int(duration)
        end = start + duration
        pieces = []
        for block in range(start // BLOCK_SECONDS, (end - 1) // BLOCK_SECONDS + 1):
            span = self._block(block)
            lo, hi = max(start, span.start), min(end, span.end)
            pieces.append(span.slice(lo, hi - lo))
        return SyntheticSpan.concatenate(pieces)

    def _block(self, block: int) -> SyntheticSpan:
        with self._lock:  # one detector may serve several threads
            if block in self._blocks:
                self._blocks.move_to_end(block)
                return self._blocks[block]
            span = self._generate_block(block * BLOCK_SECONDS)
            self._blocks[block] = span
            while len(self._blocks) > _CACHED_BLOCKS:
                self._blocks.popitem(last=False)
            return span

    def _generate_block(self, gps: int) -> SyntheticSpan:
        cfg = self.config
        rate = cfg.strain_sample_rate
        offsets = np.arange(BLOCK_SECONDS * rate) / rate
        floor = self._floor(gps)
        if self.mains.strain_harmonics:
            floor = floor + self.mains.harmonics_in_strain(gps, offsets)
        margin = _MARGIN_SECONDS * MOTION_RATE
        motions = {
            channel: loop.motion(cfg.seed, gps, -margin, BLOCK_SECONDS * MOTION_RATE + margin)
            for channel, loop in self.loops.items()
        }
        truth = self._injected_noise(gps, offsets, motions)
        witnesses = {channel: self._witness(channel, gps, motions) for channel in cfg.witness_channels}
        return SyntheticSpan(
            start=gps,
            duration=BLOCK_SECONDS,
            strain=floor + truth,
            floor=floor,
            truth=truth,
            state=self.state.samples(gps, gps + BLOCK_SECONDS),
            witnesses=witnesses,
            strain_sample_rate=rate,
            witness_sample_rates={channel: cfg.sample_rates[channel] for channel in cfg.witness_channels},
            strain_channel=cfg.strain_channel,
            state_channel=cfg.state_channel,
            truth_channel=cfg.truth_channel,
        )

    def _floor(self, gps: int) -> np.ndarray:
        rate = self.config.strain_sample_rate

        def white(first: int, stop: int) -> np.ndarray:
            return white_noise(self.config.seed, Stream.STRAIN_FLOOR, BLOCK_SECONDS * rate, first, stop)

        return self._floor_filter.coloured(white, gps * rate, (gps + BLOCK_SECONDS) * rate)

    def _injected_noise(self, gps: int, offsets: np.ndarray, motions: dict[str, np.ndarray]) -> np.ndarray:
        # The baseband signal (a few hertz wide) is computed at ENVELOPE_RATE and
        # interpolated to the strain rate; the carrier is the same in every block.
        margin = _MARGIN_SECONDS * ENVELOPE_RATE
        slow_offsets = np.arange(-margin, BLOCK_SECONDS * ENVELOPE_RATE + margin) / ENVELOPE_RATE
        coupled = None
        if self.coupled_channels:
            coupled = np.stack(
                [resample(motions[channel], MOTION_RATE, ENVELOPE_RATE) for channel in self.coupled_channels]
            )
        baseband = self.mains.baseband(gps, slow_offsets, coupled)
        if self._carrier is None:
            self._carrier = self.mains.carrier(offsets)
        return self.mains.strain(
            np.interp(offsets, slow_offsets, baseband.real) + 1j * np.interp(offsets, slow_offsets, baseband.imag),
            self._carrier,
        )

    def _witness(self, channel: str, gps: int, motions: dict[str, np.ndarray]) -> np.ndarray:
        cfg = self.config
        rate = cfg.sample_rates[channel]
        if channel == cfg.mains_channel:
            offsets = np.arange(BLOCK_SECONDS * rate) / rate
            sensor = white_noise(
                cfg.seed, Stream.MAINS_MONITOR_NOISE, BLOCK_SECONDS * rate, gps * rate, (gps + BLOCK_SECONDS) * rate
            )
            return self.mains.voltage(gps, offsets) + MAINS_MONITOR_NOISE * sensor
        loop = self.loops[channel]
        motion = motions[channel]
        if loop.delay is not None:
            motion = loop.delay.recorded(motion, gps, -_MARGIN_SECONDS * MOTION_RATE)
        motion = resample(motion, MOTION_RATE, rate)[_MARGIN_SECONDS * rate : -_MARGIN_SECONDS * rate]
        sensor = loop.sensor(cfg.seed, rate, gps * rate, (gps + BLOCK_SECONDS) * rate)
        return loop.counts_per_unit * (motion + sensor)
