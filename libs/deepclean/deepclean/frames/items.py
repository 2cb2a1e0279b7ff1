"""What the frame followers yield: frames, pairs of frames and gap markers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .io import FrameData

__all__ = ["Frame", "FramePair", "Gap", "GapReason", "StreamDeadError"]

GapReason = Literal["dropped", "corrupt", "behind"]
"""Why seconds are missing: no file in time, a file never readable, skipped to catch up."""


class StreamDeadError(RuntimeError):
    """Too many frames in a row timed out with no file of the stream arriving at all."""


@dataclass(frozen=True)
class Frame:
    """One frame of a stream, read and checked.

    Attributes
    ----------
    gps, duration
        The GPS second the frame starts at and its length in seconds.
    path
        The file it was read from.
    data
        Its channels (:class:`~deepclean.frames.io.FrameData`).
    arrived
        When the file landed, on the follower's monotonic clock (estimated from
        the file's age, so a frame read from history arrived long ago).
    """

    gps: int
    duration: int
    path: Path
    data: FrameData
    arrived: float

    @property
    def end(self) -> int:
        return self.gps + self.duration


@dataclass(frozen=True)
class Gap:
    """Seconds ``[start, end)`` of a stream that will not be yielded, and why."""

    start: int
    end: int
    reason: GapReason
    detail: str = ""

    @property
    def duration(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class FramePair:
    """A strain frame and the witness frame of the same GPS second, if it came in time.

    ``witness`` is None when the witness frame did not arrive (``witness_missing
    == "late"``) or could not be read (``"corrupt"``) by the witness timeout;
    ``detail`` then says what went wrong.
    """

    strain: Frame
    witness: FrameData | None
    witness_missing: Literal["late", "corrupt"] | None = None
    detail: str = ""

    @property
    def gps(self) -> int:
        return self.strain.gps

    @property
    def duration(self) -> int:
        return self.strain.duration

    @property
    def complete(self) -> bool:
        return self.witness is not None
