"""Writing synthetic spans as live-style 1 s GWF frames.

``<strain_dir>/<site>-<ifo>_<strain_tag>-<gps>-1.gwf`` holds the strain and
the state vector, ``<witness_dir>/..._<witness_tag>-...`` the witnesses at
their native rates, and ``<truth_dir>/..._<truth_tag>-...`` the injected noise
(and the injected signals, when there are any).
Every frame is written atomically (:func:`deepclean.frames.write_frame`). The
records of the injected signals go to ``<truth_dir>/<site>-<ifo>_<truth_tag>-injections.jsonl``
(:attr:`FrameLayout.injection_log`), one JSON line each, appended when the
truth frame of the signal's first second is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..frames import FrameName, list_frames, write_frame
from .span import SyntheticSpan


@dataclass(frozen=True)
class FrameLayout:
    """Where the frames of each stream go and how they are named.

    ``truth_dir=None`` writes no truth frames.
    """

    strain_dir: Path
    witness_dir: Path
    truth_dir: Path | None = None
    site: str = "H"
    ifo: str = "H1"
    strain_tag: str = "llhoft"
    witness_tag: str = "lldetchar"
    truth_tag: str = "llnoise"

    def strain_path(self, gps: int) -> Path:
        return FrameName(gps, self.site, self.ifo, self.strain_tag).path(self.strain_dir)

    def witness_path(self, gps: int) -> Path:
        return FrameName(gps, self.site, self.ifo, self.witness_tag).path(self.witness_dir)

    def truth_path(self, gps: int) -> Path:
        if self.truth_dir is None:
            raise ValueError("this layout writes no truth frames (truth_dir is None)")
        return FrameName(gps, self.site, self.ifo, self.truth_tag).path(self.truth_dir)

    @property
    def injection_log(self) -> Path:
        """The JSON-lines file of the injected signals' records, next to the truth frames."""
        if self.truth_dir is None:
            raise ValueError("this layout writes no truth frames (truth_dir is None)")
        return Path(self.truth_dir) / f"{self.site}-{self.ifo}_{self.truth_tag}-injections.jsonl"

    def span_on_disk(self) -> tuple[int, int] | None:
        """The oldest and newest GPS seconds with a strain or witness frame on disk, if any."""
        seconds = [
            gps
            for frames in (
                list_frames(self.strain_dir, self.site, self.ifo, self.strain_tag),
                list_frames(self.witness_dir, self.site, self.ifo, self.witness_tag),
            )
            if frames
            for gps in (frames[0].gps, frames[-1].gps)
        ]
        return (min(seconds), max(seconds)) if seconds else None

    def remove_before(self, gps: int) -> int:
        """Delete this layout's frames (strain, witness, truth) older than ``gps``; returns how many.

        Only files named as this layout's frames are touched.
        """
        streams = [(self.strain_dir, self.strain_tag), (self.witness_dir, self.witness_tag)]
        if self.truth_dir is not None:
            streams.append((self.truth_dir, self.truth_tag))
        removed = 0
        for directory, tag in streams:
            for name in list_frames(directory, self.site, self.ifo, tag):
                if name.gps >= gps:
                    break
                name.path(directory).unlink(missing_ok=True)
                removed += 1
        return removed


def write_strain(span: SyntheticSpan, layout: FrameLayout) -> Path:
    """Write the strain frame of the one-second ``span``."""
    return write_frame(layout.strain_path(span.start), span.strain_frame, span.start, span.duration)


def write_witness(span: SyntheticSpan, layout: FrameLayout) -> Path:
    """Write the witness frame of the one-second ``span``."""
    return write_frame(layout.witness_path(span.start), span.witnesses, span.start, span.duration)


def write_truth(span: SyntheticSpan, layout: FrameLayout) -> Path:
    """Write the truth frame of the one-second ``span``, and log the injected signals that begin in it."""
    path = write_frame(layout.truth_path(span.start), span.truth_frame, span.start, span.duration)
    starting = [i for i in span.injections if span.start <= i.start_gps < span.end]
    if starting:
        with open(layout.injection_log, "a") as log:  # one short write per line: readers see whole lines
            for record in starting:
                log.write(json.dumps(record.as_json()) + "\n")
    return path


def write_span(span: SyntheticSpan, layout: FrameLayout) -> list[Path]:
    """Write every second of ``span`` at once (strain, witness and, if the layout
    has a truth directory, truth frames); no pacing, no injected faults."""
    paths = []
    for gps in range(span.start, span.end):
        second = span.second(gps)
        paths += [write_strain(second, layout), write_witness(second, layout)]
        if layout.truth_dir is not None:
            paths.append(write_truth(second, layout))
    return paths
