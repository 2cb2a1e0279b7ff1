"""Retention: remove cleaned frames and report snapshots older than a configured age.

Ages are counted in GPS seconds back from the newest cleaned frame the monitor
has read, so only frames it has already measured are removed, and a monitor
catching up on old data does not delete what it has yet to read.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from deepclean.frames import list_frames

log = logging.getLogger(__name__)
SNAPSHOT = re.compile(r"-(?P<gps>[0-9]+)\.[a-z]+$")


def remove_old_frames(directory: Path, site: str, ifo: str, tag: str, newest_read: int, max_age: int) -> int:
    """Delete frames of the stream that start more than ``max_age`` s before ``newest_read``."""
    removed = 0
    for frame in list_frames(directory, site, ifo, tag):
        if frame.gps >= newest_read - max_age:
            break
        try:
            frame.path(directory).unlink()
            removed += 1
        except FileNotFoundError:
            pass
    if removed:
        log.info("retention: removed %d cleaned frame(s) older than %d s from %s", removed, max_age, directory)
    return removed


def remove_old_snapshots(directory: Path, newest_read: int, max_age: int) -> int:
    """Delete report snapshots ``<name>-<gps>.<ext>`` in ``directory`` older than ``max_age`` s."""
    removed = 0
    if not directory.is_dir():
        return 0
    for path in directory.iterdir():
        match = SNAPSHOT.search(path.name)
        if match and int(match["gps"]) < newest_read - max_age:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
