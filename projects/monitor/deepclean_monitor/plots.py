"""PNG plots of the cleaning: ASDs around the band, and the band ratio over time.

Drawn with matplotlib's Agg backend (no display needed) and written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from deepclean.atomic_files import replace_file

from .policy import Decision
from .version_windows import VersionQuality


@dataclass(frozen=True)
class RatioPoint:
    """The band ratio of ``version`` (live as ``stream``) over the window ending at ``gps``."""

    gps: int
    version: int
    stream: str
    band_ratio: float
    worst_bin: float


def plot_asds(
    streams: dict[str, VersionQuality | None],
    band: tuple[float, float],
    path: Path,
    margin_hz: float = 20.0,
) -> Path:
    """Raw vs cleaned ASD from ``band[0] - margin_hz`` to ``band[1] + margin_hz``, one panel per stream."""
    figure, axes = plt.subplots(1, len(streams), figsize=(5.5 * len(streams), 4), squeeze=False, sharey=True)
    for axis, (stream, quality) in zip(axes[0], streams.items(), strict=True):
        axis.set_title(f"{stream}: " + (f"version {quality.version}" if quality else "no data"))
        axis.axvspan(*band, color="0.9", label="target band")
        if quality is not None:
            powers = quality.powers
            shown = (powers.frequencies >= band[0] - margin_hz) & (powers.frequencies <= band[1] + margin_hz)
            f = powers.frequencies[shown]
            axis.semilogy(f, np.sqrt(powers.psd("raw")[shown]), color="0.4", label="raw")
            axis.semilogy(f, np.sqrt(powers.psd("cleaned")[shown]), color="tab:blue", label="cleaned")
            axis.text(
                0.02,
                0.02,
                f"band ratio {quality.band_ratio:.3f}\n"
                f"worst out of band {quality.worst_bin:.3f} at {quality.worst_bin_frequency:g} Hz\n"
                f"BNS range {quality.range_raw:.4g} -> {quality.range_cleaned:.4g} Mpc "
                f"({'better than raw' if quality.better_than_raw else 'NOT better than raw'})\n"
                f"{quality.seconds} s of data",
                transform=axis.transAxes,
                fontsize=8,
                va="bottom",
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"},
            )
        axis.set_xlabel("frequency [Hz]")
        axis.legend(loc="upper right", fontsize=8)
    axes[0][0].set_ylabel("ASD [strain/√Hz]")
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.91, wspace=0.06)
    return _save(figure, path)


def plot_band_ratio(
    points: Sequence[RatioPoint], decisions: Sequence[Decision], path: Path, pending: Sequence[Decision] = ()
) -> Path:
    """Band ratio per version over time, with the decisions marked (dotted: still pending)."""
    figure, axis = plt.subplots(figsize=(11, 4))
    t0 = min([p.gps for p in points] + [d.gps for d in (*decisions, *pending)], default=0)
    for version in sorted({p.version for p in points}):
        mine = [p for p in points if p.version == version]
        axis.plot([p.gps - t0 for p in mine], [p.band_ratio for p in mine], marker=".", label=f"version {version}")
    marks = [(d, False) for d in decisions] + [(d, True) for d in pending]
    for decision, waiting in marks:
        color = "0.5" if waiting else "tab:green" if decision.action == "promote" else "tab:red"
        axis.axvline(decision.gps - t0, color=color, linestyle=":" if waiting else "--")
        label = decision.label + (" (pending)" if waiting else "")
        axis.annotate(
            label,
            (decision.gps - t0, 0.97),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color=color,
        )
    axis.axhline(1.0, color="0.5", linewidth=0.8)
    axis.set_xlabel(f"seconds after GPS {t0}")
    axis.set_ylabel("band ASD ratio (cleaned/raw)")
    axis.set_ylim(0, max([1.1] + [p.band_ratio * 1.05 for p in points if np.isfinite(p.band_ratio)]))
    axis.grid(alpha=0.3)
    if points:
        axis.legend(loc="upper left", fontsize=8)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.95)
    return _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> Path:
    buffer = io.BytesIO()  # fixed margins: tight_layout would double the drawing time
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return replace_file(path, buffer.getvalue())
