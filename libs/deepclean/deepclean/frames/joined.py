"""Strain frames joined with the witness frames of the same GPS seconds."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from .consumed import ConsumedFrames
from .follower import FrameFollower
from .items import Frame, FramePair, Gap
from .naming import FrameName
from .pending import PendingFrameFile

__all__ = ["JoinedFollower"]

logger = logging.getLogger(__name__)


class JoinedFollower:
    """Strain frames joined with the witness frames of the same seconds.

    Driven by the strain stream: each strain frame is yielded as a
    :class:`FramePair` as soon as its witness frame can be read, or without it
    once ``witness_timeout`` seconds have passed since the strain frame
    arrived. Strain gaps are passed through. Witness frames are read by name
    when needed, so nothing is buffered ahead. The witness frames read are
    checked for rewrites and duplicates as the strain's are (see
    :mod:`deepclean.frames.consumed`), as often as the strain directory is.

    Parameters
    ----------
    strain
        The follower of the strain stream (its clock, sleep and stop are shared).
    witness_directory, witness_tag
        Where the witness frames are and their tag (site, ifo and duration as the strain's).
    witness_channels
        Channels to read from witness frames (all when None).
    witness_timeout
        Seconds after a strain frame's arrival to wait for its witness frame.
    witness_consumed
        Where the witness frames read are remembered and checked (default: a
        :class:`ConsumedFrames` of the witness stream that logs a warning for each).
    """

    def __init__(
        self,
        strain: FrameFollower,
        witness_directory: str | Path,
        witness_tag: str,
        *,
        witness_channels: Sequence[str] | None = None,
        witness_timeout: float = 3.0,
        witness_consumed: ConsumedFrames | None = None,
    ) -> None:
        if witness_timeout < 0:
            raise ValueError(f"witness_timeout must not be negative, got {witness_timeout}")
        self.strain = strain
        self.witness_directory = Path(witness_directory)
        self.witness_tag = witness_tag
        self.witness_channels = witness_channels
        self.witness_timeout = witness_timeout
        if witness_consumed is None:
            witness_consumed = ConsumedFrames(
                replace(strain.files, directory=Path(witness_directory), tag=witness_tag),
                check_interval=strain.scan_interval,
                clock=strain.clock,
            )
        self.witness_consumed = witness_consumed

    def __iter__(self) -> Iterator[FramePair | Gap]:
        for item in self.strain:
            self.witness_consumed.poll()
            if isinstance(item, Gap):
                yield item
                continue
            pair = self._join(item)
            if pair is None:
                return
            yield pair
        self.witness_consumed.check()  # a rewrite just before the end is reported too

    def _join(self, frame: Frame) -> FramePair | None:
        strain = self.strain
        name = FrameName(frame.gps, strain.site, strain.ifo, self.witness_tag, frame.duration)
        pending = PendingFrameFile(
            name, self.witness_directory, self.witness_channels, strain.settle_time, strain.clock
        )
        deadline = frame.arrived + self.witness_timeout
        while not strain.stopped():
            data = pending.poll()
            if data is not None:
                self.witness_consumed.remember(frame.gps, pending.path, pending.signature)
                return FramePair(frame, data)
            if strain.clock() >= deadline:
                reason: Literal["late", "corrupt"] = "corrupt" if pending.seen else "late"
                if pending.seen:
                    detail = pending.error or f"witness frame {pending.path} never became readable"
                else:
                    detail = f"no witness frame {pending.path} within {self.witness_timeout:g} s"
                logger.warning("GPS %d: witness frame %s: %s", frame.gps, reason, detail)
                return FramePair(frame, None, reason, detail)
            strain.idle()
        return None
