"""What the frame followers yield (frames, pairs of frames and gap markers), and where a pair's streams are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .io import FrameData
from .naming import FrameName, StreamFiles, list_frames

__all__ = ["Frame", "FramePair", "Gap", "GapReason", "PairedStreams", "StreamDeadError"]

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


@dataclass(frozen=True)
class PairedStreams:
    """Where the strain and witness frames of a detector are, and the strain frames' channels.

    Attributes
    ----------
    strain_dir, witness_dir
        Directories of the strain and witness frames.
    site, ifo, strain_tag, witness_tag
        Parts of their file names.
    strain_channel, state_channel
        The strain and state-vector channels of the strain frames.
    """

    strain_dir: Path
    witness_dir: Path
    site: str
    ifo: str
    strain_tag: str
    witness_tag: str
    strain_channel: str
    state_channel: str

    def strain_files(self) -> StreamFiles:
        return StreamFiles(Path(self.strain_dir), self.site, self.ifo, self.strain_tag)

    def witness_files(self) -> StreamFiles:
        return StreamFiles(Path(self.witness_dir), self.site, self.ifo, self.witness_tag)

    def strain_frames(self) -> list[FrameName]:
        """The strain frames present, in GPS order."""
        return list_frames(self.strain_dir, self.site, self.ifo, self.strain_tag)

    def witness_frames(self) -> list[FrameName]:
        """The witness frames present, in GPS order."""
        return list_frames(self.witness_dir, self.site, self.ifo, self.witness_tag)
