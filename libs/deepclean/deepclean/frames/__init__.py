"""GWF frames: names, reading and writing, and following live directories."""

from .consumed import ConsumedFrames, ReplacedFrame
from .follower import FrameFollower
from .io import FrameData, FrameError, MissingChannelError, read_frame, read_timeseries, write_frame
from .items import Frame, FramePair, Gap, GapReason, StreamDeadError
from .joined import JoinedFollower
from .naming import FrameName, StreamFiles, list_frames

__all__ = [
    "ConsumedFrames",
    "Frame",
    "FrameData",
    "FrameError",
    "FrameFollower",
    "FrameName",
    "FramePair",
    "Gap",
    "GapReason",
    "JoinedFollower",
    "MissingChannelError",
    "ReplacedFrame",
    "StreamDeadError",
    "StreamFiles",
    "list_frames",
    "read_frame",
    "read_timeseries",
    "write_frame",
]
