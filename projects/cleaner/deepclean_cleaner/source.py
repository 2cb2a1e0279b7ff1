"""Stage: the input stream, one :class:`InputSecond` (or :class:`Gap`) per strain second.

An adapter over the shared :class:`deepclean.frames.follower.JoinedFollower`
(strain frames joined with the witness frames of the same second, waiting up to
a witness timeout): a :class:`FramePair` becomes an :class:`InputSecond`
(witnesses ``None`` when late or corrupt), a strain gap becomes a
:class:`Gap` of the cleaner's stages.

Each second is read once. A strain or witness frame rewritten after it was read,
or a second file for a second already read, is not read again (the cleaned
frame already written stays as it is): one warning per stream and second, and
``deepclean_cleaner_input_frames_replaced_total{stream}`` counts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np

from deepclean.frames import ConsumedFrames, FrameFollower, FramePair, JoinedFollower, ReplacedFrame
from deepclean.frames.items import PairedStreams

from .buffers import Gap
from .metrics import CleanerMetrics
from .pipeline import InputSecond

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputSource(PairedStreams):
    """Where the input frames are and how long to wait for them.

    Parameters
    ----------
    strain_dir, witness_dir, site, ifo, strain_tag, witness_tag, strain_channel, state_channel
        The live frames and the channels of the strain frames (:class:`~deepclean.frames.items.PairedStreams`).
    witness_channels
        Witness channels to read.
    strain_timeout
        Seconds to wait for the next strain frame before it is a dropped second.
    witness_timeout
        Seconds after a strain frame's arrival to wait for its witness frame.
    max_lag
        Seconds behind the newest frame beyond which the follower jumps ahead (None: never).
    metrics
        Where input frames replaced after they were read are counted (None: nowhere).
    replaced_window
        Seconds of frames read that are watched for a rewrite or a second file.
    """

    witness_channels: list[str]
    strain_timeout: float = 5.0
    witness_timeout: float = 3.0
    max_lag: float | None = None
    metrics: CleanerMetrics | None = None
    replaced_window: int = 300
    _consumed: dict[str, ConsumedFrames] = field(default_factory=dict, init=False, repr=False)

    def oldest(self) -> int | None:
        """GPS of the oldest strain frame present."""
        frames = self.strain_frames()
        return frames[0].gps if frames else None

    def newest(self) -> int | None:
        """GPS of the newest strain frame present."""
        frames = self.strain_frames()
        return frames[-1].gps if frames else None

    def follow(self, start: int | None, stop: threading.Event, end: int | None = None) -> Iterator[InputSecond | Gap]:
        """Input seconds from GPS ``start`` (None: the live edge) until ``stop`` is set or GPS ``end``.

        Raises :class:`deepclean.frames.StreamDeadError` when nothing arrives for a long time.
        """
        strain = FrameFollower(
            self.strain_dir,
            self.site,
            self.ifo,
            self.strain_tag,
            channels=[self.strain_channel, self.state_channel],
            start=start,
            end=end,
            timeout=self.strain_timeout,
            max_lag=self.max_lag,
            stop=stop,
            consumed=self._frames_read("strain"),
        )
        joined = JoinedFollower(
            strain,
            self.witness_dir,
            self.witness_tag,
            witness_channels=self.witness_channels,
            witness_timeout=self.witness_timeout,
            witness_consumed=self._frames_read("witness"),
        )
        for item in joined:
            if isinstance(item, Gap):
                yield item
                continue
            yield self._second(item)

    def _frames_read(self, stream: Literal["strain", "witness"]) -> ConsumedFrames:
        """The frames of ``stream`` read so far, kept across :meth:`follow` calls."""
        if stream not in self._consumed:
            self._consumed[stream] = ConsumedFrames(
                self.strain_files() if stream == "strain" else self.witness_files(),
                on_replaced=partial(self._replaced, stream),
                window=self.replaced_window,
                # a witness arriving after its second was passed was already logged as late
                report_passed=stream == "strain",
            )
        return self._consumed[stream]

    def _replaced(self, stream: str, event: ReplacedFrame) -> None:
        outcome = (
            "the feed went back: not cleaned"
            if event.change == "passed"
            else "keeping the frame read first (not cleaned again)"
        )
        log.warning("GPS %d: %s frame %s; %s", event.gps, stream, event, outcome)
        if self.metrics is not None:
            self.metrics.record_input_replaced(stream, passed=event.change == "passed")

    def _second(self, pair: FramePair) -> InputSecond:
        frame = pair.strain
        witnesses = pair.witness.data if pair.witness is not None else None
        if witnesses is not None:
            witnesses = self._finite_or_none(frame.gps, witnesses)
        return InputSecond(
            gps=frame.gps,
            strain=frame.data[self.strain_channel],
            state=frame.data[self.state_channel],
            witnesses=witnesses,
            arrival=time.time() - (time.monotonic() - frame.arrived),
        )

    def _finite_or_none(self, gps: int, witnesses: dict) -> dict | None:
        """The witnesses, or None (an input gap) when a sample is NaN or infinite.

        One such sample would otherwise stay in the filters' carried state and
        spoil every later second of the stream.
        """
        bad = [channel for channel in self.witness_channels if not np.isfinite(witnesses[channel]).all()]
        if not bad:
            return witnesses
        log.warning(
            "GPS %d: non-finite witness samples in %s; writing raw strain for this second",
            gps,
            ", ".join(bad),
        )
        return None
