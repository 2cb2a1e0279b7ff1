"""Compact summaries of each period, kept in an HDF5 file after the frames are gone.

One row per (period, version): the span, the seconds of data, the band ratio
(mean, min, max over the evaluations of the period), the worst out-of-band
bin's ratio, and the period's promotions, rollbacks (unpinning production
counts as one; rejecting a canary, in neither) and missing frames. Rows are
appended to a resizable compound dataset ``summaries``. When the monitor stops
mid-period it writes the part it saw (``period_end`` says where it stopped);
after a restart the rest of that period gets a row of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .plots import RatioPoint

ROW = np.dtype(
    [
        ("period_start", "i8"),
        ("period_end", "i8"),
        ("version", "i4"),
        ("evaluations", "i4"),
        ("band_ratio_mean", "f8"),
        ("band_ratio_min", "f8"),
        ("band_ratio_max", "f8"),
        ("out_of_band_ratio_max", "f8"),
        ("promotions", "i4"),
        ("rollbacks", "i4"),
        ("frames_missing", "i4"),
    ]
)


@dataclass
class PeriodSummaries:
    """Collects one period's figures and appends them to ``path`` when the period ends."""

    path: Path
    period_seconds: int
    period_start: int | None = None
    points: list[RatioPoint] = field(default_factory=list)
    promotions: int = 0
    rollbacks: int = 0
    frames_missing: int = 0

    def add_point(self, point: RatioPoint) -> None:
        self._roll_to(point.gps - 1)  # a point covers the data before its GPS: the last second decides the period
        self.points.append(point)

    def add_decision(self, action: str, gps: int) -> None:
        self._roll_to(gps)
        if action == "promote":
            self.promotions += 1
        elif action != "reject":  # a rejected canary changes no pin
            self.rollbacks += 1

    def add_missing(self, gps: int, count: int = 1) -> None:
        self._roll_to(gps)
        self.frames_missing += count

    def flush(self, end_gps: int | None = None) -> int:
        """Append the current period (up to ``end_gps``) to the file; the number of rows written."""
        if self.period_start is None:
            return 0
        end = end_gps if end_gps is not None else self.period_start + self.period_seconds
        rows = self._rows(self.period_start, end)
        if rows.size:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(self.path, "a") as f:
                if "summaries" not in f:
                    f.create_dataset("summaries", shape=(0,), maxshape=(None,), dtype=ROW, chunks=True)
                    f["summaries"].attrs["description"] = __doc__.split("\n\n")[1].replace("\n", " ")
                dataset = f["summaries"]
                dataset.resize((dataset.shape[0] + rows.size,))
                dataset[-rows.size :] = rows
        self.points.clear()
        self.promotions = self.rollbacks = self.frames_missing = 0
        return int(rows.size)

    def _roll_to(self, gps: int) -> None:
        start = gps - gps % self.period_seconds
        if self.period_start is None:
            self.period_start = start
        elif start > self.period_start:
            self.flush()
            self.period_start = start

    def _rows(self, start: int, end: int) -> np.ndarray:
        versions = sorted({p.version for p in self.points}) or (
            [0] if self.promotions + self.rollbacks + self.frames_missing else []
        )
        rows = np.zeros(len(versions), dtype=ROW)
        for row, version in zip(rows, versions, strict=True):
            ratios = np.array([p.band_ratio for p in self.points if p.version == version])
            worst = [p.worst_bin for p in self.points if p.version == version]
            row["period_start"], row["period_end"], row["version"] = start, end, version
            row["evaluations"] = ratios.size
            row["band_ratio_mean"] = ratios.mean() if ratios.size else np.nan
            row["band_ratio_min"] = ratios.min() if ratios.size else np.nan
            row["band_ratio_max"] = ratios.max() if ratios.size else np.nan
            row["out_of_band_ratio_max"] = max(worst) if worst else np.nan
            row["promotions"], row["rollbacks"], row["frames_missing"] = (
                self.promotions,
                self.rollbacks,
                self.frames_missing,
            )
        return rows


def read_summaries(path: Path) -> np.ndarray:
    """All rows written so far (an empty array if none)."""
    if not Path(path).exists():
        return np.zeros(0, dtype=ROW)
    with h5py.File(path, "r") as f:
        return f["summaries"][()] if "summaries" in f else np.zeros(0, dtype=ROW)
