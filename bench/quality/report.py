"""The benchmark's outputs: the printed table, ``quality.json`` and ``asd.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLUMNS = (
    ("method", "{}", 38),
    ("removed", "{:.1%}", 8),
    ("58-62", "{:.1%}", 7),
    ("residual", "{:+.1f} dB", 10),
    ("band ASD", "{:.3f}", 9),
    ("max OOB", "{:.4f}", 9),
    ("range Mpc", "{:.2f}", 10),
    ("gap rec.", "{:.0%}", 9),
    ("train s", "{:.0f}", 8),
)


def _cell(fmt: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return fmt.format(value)


def table(results: list[dict[str, Any]], raw_range: float) -> str:
    """The comparison as fixed-width text, one row per method (raw first)."""
    header = " ".join(f"{name:>{width}}" if i else f"{name:<{width}}" for i, (name, _, width) in enumerate(COLUMNS))
    lines = [header, "-" * len(header)]
    rows = [
        {
            "label": "no cleaning (raw)",
            "removed_fraction": 0.0,
            "removed_58_62": 0.0,
            "residual_db": 0.0,
            "band_asd_ratio": 1.0,
            "worst_out_of_band_ratio": 1.0,
            "bns_range_mpc": raw_range,
            "range_gap_recovered": 0.0,
            "training_seconds": None,
        },
        *results,
    ]
    for row in rows:
        values = (
            row["label"],
            row["removed_fraction"],
            row["removed_58_62"],
            row["residual_db"],
            row["band_asd_ratio"],
            row["worst_out_of_band_ratio"],
            row["bns_range_mpc"],
            row["range_gap_recovered"],
            row["training_seconds"],
        )
        cells = [_cell(fmt, value) for (_, fmt, _), value in zip(COLUMNS, values, strict=True)]
        lines.append(
            " ".join(
                f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, (_, _, w)) in enumerate(zip(cells, COLUMNS, strict=False))
            )
        )
    return "\n".join(lines)


def scenario_table(summaries: list[dict[str, Any]]) -> str:
    """One row per scenario and method: removal, worst bin, range gap recovered; then DeepClean's worst case."""
    header = (
        f"{'scenario':<22} {'method':<14} {'removed':>8} {'58-62':>7} {'band ASD':>9} {'max OOB':>9} "
        f"{'range raw':>10} {'cleaned':>8} {'no noise':>9} {'gap rec.':>9} {'train s':>8}"
    )
    lines = [header, "-" * len(header)]
    worst: dict[str, tuple[float, str]] = {}
    for summary in summaries:
        name = summary["scenario"]
        if "error" in summary:
            lines.append(f"{name:<22} FAILED: {summary['error'].splitlines()[0][:80]}")
            continue
        raw, floor = summary["raw"]["bns_range_mpc"], summary["floor"]["bns_range_mpc"]
        for method in summary["methods"]:
            short = method["label"].split(" (")[0]
            lines.append(
                f"{name:<22} {short:<14} {method['removed_fraction']:>8.1%} {method['removed_58_62']:>7.1%} "
                f"{method['band_asd_ratio']:>9.3f} {method['worst_out_of_band_ratio']:>9.4f} {raw:>10.2f} "
                f"{method['bns_range_mpc']:>8.2f} {floor:>9.2f} {method['range_gap_recovered']:>9.0%} "
                f"{_cell('{:.0f}', method['training_seconds']):>8}"
            )
            if short == "DeepClean":
                for key, value in (
                    ("removed_fraction", method["removed_fraction"]),
                    ("range_gap_recovered", method["range_gap_recovered"]),
                    ("worst_out_of_band_ratio", -method["worst_out_of_band_ratio"]),
                ):
                    if key not in worst or value < worst[key][0]:
                        worst[key] = (value, name)
        passed = summary.get("targets", {})
        if passed:
            failed = [k for k, ok in passed.items() if not ok]
            lines.append(f"{'':<22} targets: {'all PASS' if not failed else 'FAIL ' + ', '.join(failed)}")
    if worst:
        lines.append(
            "DeepClean worst case: removed {:.1%} ({}), range gap recovered {:.0%} ({}), max OOB {:.4f} ({})".format(
                worst["removed_fraction"][0],
                worst["removed_fraction"][1],
                worst["range_gap_recovered"][0],
                worst["range_gap_recovered"][1],
                -worst["worst_out_of_band_ratio"][0],
                worst["worst_out_of_band_ratio"][1],
            )
        )
    return "\n".join(lines)


def write_json(path: Path, summary: dict[str, Any]) -> Path:
    path.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    return path


def plot_asds(
    path: Path,
    frequencies: np.ndarray,
    raw: np.ndarray,
    floor: np.ndarray,
    cleaned: dict[str, np.ndarray],
    band: tuple[float, float],
    span: tuple[float, float] = (40.0, 80.0),
    title: str = "",
) -> Path:
    """ASDs of the raw strain, each cleaned strain and the noise floor (raw minus the injected noise)."""
    mask = (frequencies >= span[0]) & (frequencies <= span[1])
    fig, ax = plt.subplots(figsize=(9, 5.5))
    ax.semilogy(frequencies[mask], np.sqrt(raw[mask]), color="0.3", lw=1.6, label="raw")
    for (label, psd), colour in zip(
        cleaned.items(), ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"), strict=False
    ):
        ax.semilogy(frequencies[mask], np.sqrt(psd[mask]), lw=1.0, color=colour, label=label)
    ax.semilogy(
        frequencies[mask], np.sqrt(floor[mask]), color="k", ls="--", lw=0.8, label="floor (raw − injected noise)"
    )
    ax.axvspan(*band, color="0.9", zorder=0, label=f"band {band[0]:g}–{band[1]:g} Hz")
    ax.set_xlim(*span)
    ax.set_xlabel("frequency [Hz]")
    ax.set_ylabel(r"strain ASD [1/$\sqrt{\mathrm{Hz}}$]")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
