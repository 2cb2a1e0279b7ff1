"""Stage: write one cleaned 1 s GWF frame per second (docs/interfaces.md, "Cleaned frames")."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepclean.cleaned_frames import CleanedChannelNames
from deepclean.frames import FrameName, list_frames, write_frame

from . import dq
from .metrics import CleanerMetrics
from .pipeline import CleanedSecond

log = logging.getLogger(__name__)


CleanedChannels = CleanedChannelNames
"""Channel names of the cleaned frames (the contract's, ``deepclean.cleaned_frames``)."""


@dataclass
class CleanedFrameWriter:
    """Writes ``<directory>/<site>-<ifo>_<tag>-<gps>-1.gwf`` atomically.

    Parameters
    ----------
    directory
        The cleaned-frame directory.
    site, ifo, tag
        Parts of the file name.
    channels
        Channel names.
    compress
        gzip the frames (about ten times slower to write).
    """

    directory: Path
    site: str
    ifo: str
    channels: CleanedChannels
    tag: str = "DEEPCLEAN"
    compress: bool = False

    def path(self, gps: int) -> Path:
        return FrameName(gps, self.site, self.ifo, self.tag).path(self.directory)

    def last_written(self) -> int | None:
        """GPS of the newest cleaned frame in the directory, or None."""
        frames = list_frames(self.directory, self.site, self.ifo, self.tag)
        return frames[-1].gps if frames else None

    def write(self, second: CleanedSecond) -> Path:
        """Write the frame of ``second``; returns its path."""
        production, canary = second.outputs["production"], second.outputs["canary"]
        rate = len(production.dq)
        data = {
            self.channels.production: production.strain.astype(np.float64, copy=False),
            self.channels.canary: canary.strain.astype(np.float64, copy=False),
            self.channels.production_version: np.full(rate, production.version, dtype=np.int32),
            self.channels.canary_version: np.full(rate, canary.version, dtype=np.int32),
            self.channels.dq: (production.dq | (canary.dq << dq.CANARY_SHIFT)).astype(np.int32),
        }
        return write_frame(
            self.path(second.gps),
            data,
            t0=second.gps,
            duration=1.0,
            compress=self.compress,
        )


class BackgroundWriter:
    """Writes cleaned frames in order on a thread of its own, so writing overlaps cleaning.

    Frames are written in submission order; :meth:`close` waits for the queue
    to drain. A frame lost in a crash is simply re-cleaned on resume (the
    cleaner resumes after the newest frame on disk). A write failing with an
    OS error (disk full, directory read-only) is retried for ``retry_seconds``
    while the queue (and then the stream) waits; if it still fails, it is
    raised again by the next :meth:`submit` or by :meth:`close`, and no later
    frame is written, so the resume point leaves no hole.

    Parameters
    ----------
    writer
        The frame writer.
    depth
        Frames that may wait in the queue before :meth:`submit` blocks.
    retry_seconds
        How long a failing write is retried before the failure is raised.
    """

    def __init__(
        self,
        writer: CleanedFrameWriter,
        depth: int = 8,
        retry_seconds: float = 10.0,
        metrics: CleanerMetrics | None = None,
    ) -> None:
        self.writer = writer
        self.metrics = metrics
        self.retry_seconds = retry_seconds
        self._queue: queue.Queue[CleanedSecond | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._failed = False
        self._thread = threading.Thread(target=self._run, name="frame-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (second := self._queue.get()) is not None:
            if self._failed:
                continue  # never write past a frame that could not be written
            try:
                path = self._write_with_retry(second)
                latency = time.time() - second.arrival
                log.debug("wrote %s (%.3f s after its input arrived)", path.name, latency)
                if self.metrics is not None:
                    self.metrics.record_written(second.gps, latency, second.outputs)
            except BaseException as exc:  # noqa: BLE001 - handed to the streaming thread
                self._error, self._failed = exc, True

    def _write_with_retry(self, second: CleanedSecond) -> Path:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.25
        while True:
            try:
                return self.writer.write(second)
            except OSError as exc:
                if time.monotonic() + delay > deadline:
                    log.error(
                        "cannot write %s: %s; giving up after %.0f s",
                        self.writer.path(second.gps),
                        exc,
                        self.retry_seconds,
                    )
                    raise
                log.error("cannot write %s: %s; retrying", self.writer.path(second.gps), exc)
                time.sleep(delay)
                delay = min(2 * delay, 2.0)

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, second: CleanedSecond) -> None:
        """Queue ``second`` for writing."""
        self._raise()
        self._queue.put(second)

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        self._queue.put(None)
        self._thread.join()
        self._raise()
