"""GWF frames: names, reading and writing, and following live directories."""

from .follower import Frame, FrameFollower, FramePair, Gap, JoinedFollower, StreamDeadError
from .io import FrameData, FrameError, MissingChannelError, read_frame, read_timeseries, write_frame
from .naming import FrameName, list_frames

__all__ = [
    "Frame",
    "FrameData",
    "FrameError",
    "FrameFollower",
    "FrameName",
    "FramePair",
    "Gap",
    "JoinedFollower",
    "MissingChannelError",
    "StreamDeadError",
    "list_frames",
    "read_frame",
    "read_timeseries",
    "write_frame",
]
