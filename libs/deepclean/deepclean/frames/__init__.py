"""GWF frames: names, reading and writing, and following live directories."""

from .io import FrameData, FrameError, MissingChannelError, read_frame, read_timeseries, write_frame
from .naming import FrameName, list_frames

__all__ = [
    "FrameData",
    "FrameError",
    "FrameName",
    "MissingChannelError",
    "list_frames",
    "read_frame",
    "read_timeseries",
    "write_frame",
]
