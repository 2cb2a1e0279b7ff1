"""Sending finished trainings to the exporter; none is ever lost.

A training directory is *pending* when it is complete, has no
``exported.json``, its validation in-band ASD ratio is at most
``max_band_asd_ratio``, it added noise in no bin outside the band and lost no
BNS range on the held-out data (a version that does not clearly clean is never
sent). Pending directories are found on disk, so after a restart the ones a
crash or an exporter outage left behind are sent first.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from deepclean.exporter_api import ExporterClient, ExporterRejected

from .training_directory import TrainingDirectory, complete_directories

log = logging.getLogger(__name__)


def is_eligible(directory: TrainingDirectory, max_band_asd_ratio: float) -> bool:
    """Whether the version cleans clearly enough to be exported: its held-out in-band ASD ratio is at
    most ``max_band_asd_ratio``, it added noise in no bin outside the band there, and the cleaned
    held-out strain's BNS range is not below the raw one's (``ValidationFigures.range_lost``)."""
    try:
        validation = directory.schema.validation
    except (OSError, ValueError):  # MetadataError is a ValueError, as is bad JSON
        return False
    if validation is None:
        return False
    cleans = validation.band_asd_ratio <= max_band_asd_ratio
    return cleans and not validation.noise_added_bins and not validation.range_lost


def pending(root: Path, max_band_asd_ratio: float) -> list[TrainingDirectory]:
    """Complete, eligible, not yet exported directories, oldest first."""
    return [d for d in complete_directories(root) if d.exported_version is None and is_eligible(d, max_band_asd_ratio)]


def send_pending(
    client: ExporterClient,
    root: Path,
    max_band_asd_ratio: float,
    stop: threading.Event,
    max_attempts: int | None = None,
    first_delay: float = 2.0,
) -> list[int]:
    """Export every pending directory, oldest first; return the new versions.

    Stops early (leaving the rest pending) when ``stop`` is set or the
    exporter stays unavailable for ``max_attempts`` tries.
    """
    versions = []
    for directory in pending(root, max_band_asd_ratio):
        try:
            version = client.export_with_retry(directory.path, stop, first_delay=first_delay, max_attempts=max_attempts)
        except ExporterRejected as exc:
            log.error("the exporter refused %s: %s", directory.path, exc)
            continue
        if version is None:
            log.warning("%s is still pending export", directory.path)
            break
        directory.mark_exported(version)
        log.info("exported %s as version %d", directory.path.name, version)
        versions.append(version)
    return versions


class ExportWorker(threading.Thread):
    """Background thread that sends pending directories whenever woken (and at start)."""

    def __init__(
        self,
        client: ExporterClient,
        root: Path,
        max_band_asd_ratio: float,
        stop: threading.Event,
        first_delay: float = 2.0,
    ) -> None:
        super().__init__(name="export-worker", daemon=True)
        self.client, self.root, self.max_band_asd_ratio, self.stop = client, root, max_band_asd_ratio, stop
        self.first_delay = first_delay
        self._wake = threading.Event()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        while not self.stop.is_set():
            self._wake.wait(timeout=1.0)
            if self.stop.is_set():
                break
            if self._wake.is_set():
                self._wake.clear()
                try:
                    send_pending(
                        self.client, self.root, self.max_band_asd_ratio, self.stop, first_delay=self.first_delay
                    )
                except Exception:  # keep the service alive; the directories stay pending
                    log.exception("export worker failed; will retry when woken")
