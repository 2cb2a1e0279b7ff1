"""Stage: the input stream, one :class:`InputSecond` (or :class:`Gap`) per strain second.

Driven by the strain frames: each strain second is yielded once its witness
frame is there, or after ``witness_timeout`` seconds without it (witnesses then
``None``: the second is written raw with the input-gap bit). A strain frame
that has not arrived while a later one exists is dropped after
``strain_timeout`` (a :class:`Gap`, covering every missing second at once).
A frame caught mid-write is re-read until it parses or ``settle_timeout``
passes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deepclean.frames import FrameData, FrameError, FrameName, list_frames, read_frame

from .buffers import Gap
from .pipeline import InputSecond

log = logging.getLogger(__name__)


@dataclass
class FrameStream:
    """Where the frames of one stream live and which channels to read."""

    directory: Path
    site: str
    ifo: str
    tag: str
    channels: list[str]

    def path(self, gps: int) -> Path:
        return FrameName(gps, self.site, self.ifo, self.tag).path(self.directory)

    def newest(self) -> int | None:
        frames = list_frames(self.directory, self.site, self.ifo, self.tag)
        return frames[-1].gps if frames else None

    def oldest_after(self, gps: int) -> int | None:
        later = [f.gps for f in list_frames(self.directory, self.site, self.ifo, self.tag) if f.gps > gps]
        return min(later) if later else None


@dataclass
class InputFollower:
    """Follow strain and witness frames from ``start`` (inclusive) to ``stop`` (exclusive, None: forever).

    Parameters
    ----------
    strain, witness
        The two frame streams (strain: strain + state channels; witness: the witnesses).
    strain_channel, state_channel
        Channels of the strain frame.
    witness_timeout
        Seconds to wait for a witness frame after its strain frame arrived.
    strain_timeout
        Seconds to wait for a strain frame when a later one already exists.
    settle_timeout
        Seconds to keep re-reading a frame that does not parse.
    poll_interval
        Seconds between two looks at the directory while waiting.
    should_stop
        Checked while waiting; the follower returns when it says True.
    """

    strain: FrameStream
    witness: FrameStream
    strain_channel: str
    state_channel: str
    witness_timeout: float = 3.0
    strain_timeout: float = 5.0
    settle_timeout: float = 2.0
    poll_interval: float = 0.02
    should_stop: Callable[[], bool] = lambda: False

    def follow(self, start: int, stop: int | None = None) -> Iterator[InputSecond | Gap]:
        gps = start
        while stop is None or gps < stop:
            arrived = self._wait_for_strain(gps)
            if arrived is None:
                return
            if isinstance(arrived, Gap):
                log.warning("strain frames [%d, %d) dropped (%s)", arrived.start, arrived.stop, arrived.reason)
                yield arrived
                gps = arrived.stop
                continue
            strain, arrival = arrived
            witnesses = self._read_witnesses(gps, arrival)
            yield InputSecond(
                gps=gps,
                strain=strain[self.strain_channel],
                state=strain[self.state_channel] if self.state_channel in strain else None,
                witnesses=witnesses,
                arrival=arrival,
            )
            gps += 1

    def _wait_for_strain(self, gps: int) -> tuple[FrameData, float] | Gap | None:
        path = self.strain.path(gps)
        later_seen_at = None
        next_listing = 0.0
        while not self.should_stop():
            if path.exists():
                arrival = time.time()
                frame = self._read(path, self.strain.channels)
                if frame is not None:
                    return frame, arrival
                return Gap(gps, gps + 1, f"strain frame {path.name} never became readable")
            now = time.monotonic()
            if now >= next_listing:  # listing the directory is costly: at most once a second
                next_listing = now + 1.0
                later = self.strain.oldest_after(gps)
                if later is not None:
                    later_seen_at = later_seen_at or now
                    if self._due(later_seen_at):
                        return Gap(gps, later, "strain frames missing")
            time.sleep(self.poll_interval)
        return None

    def _due(self, since: float) -> bool:
        return time.monotonic() - since >= self.strain_timeout

    def _read_witnesses(self, gps: int, arrival: float) -> dict | None:
        path = self.witness.path(gps)
        deadline = time.monotonic() + max(self.witness_timeout - (time.time() - arrival), 0.0)
        while not path.exists():
            if time.monotonic() >= deadline or self.should_stop():
                log.warning("GPS %d: witness frame %s missing after %.1f s", gps, path.name, self.witness_timeout)
                return None
            time.sleep(self.poll_interval)
        frame = self._read(path, self.witness.channels)
        return None if frame is None else frame.data

    def _read(self, path: Path, channels: list[str]) -> FrameData | None:
        """Read ``path``, retrying while it does not parse (mid-write) up to ``settle_timeout``."""
        deadline = time.monotonic() + self.settle_timeout
        while True:
            try:
                return read_frame(path, channels)
            except (FrameError, FileNotFoundError) as exc:
                if time.monotonic() >= deadline:
                    log.error("dropping %s: %s", path.name, exc)
                    return None
            time.sleep(self.poll_interval)
