"""Throughput of the monitor: seconds of cleaned data measured per second of wall time.

Writes ``--seconds`` of synthetic 16384 Hz raw strain and cleaned frames
(production removes half of a 60 Hz line, the canary 90 %) to a temporary
directory, runs the monitor over them with the repository's full-size
settings (64 s windows of 8 s segments of 1 s spectra, bins judged 10-2000 Hz),
and prints the real-time factor of the measuring loop and the time one
report (plots, page, metrics) takes. The exporter URL points at a closed
port, so the promotion it decides stays pending (its retries are in the time).

    nice .venvs/monitor/bin/python bench/monitor_throughput.py --seconds 256
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deepclean.cleaned_frames import CANARY_SHIFT, CLEANED, DQ_RATE, default_channels
from deepclean.frames import FrameName, write_frame
from deepclean_monitor.main import monitor

NAMES = default_channels("H1")

RATE = 16384
T0 = 1_400_000_000


def write_frames(root: Path, seconds: int) -> tuple[Path, Path]:
    strain_dir, cleaned_dir = root / "llhoft", root / "cleaned"
    rng = np.random.default_rng(0)
    for gps in range(T0, T0 + seconds):
        t = gps + np.arange(RATE) / RATE
        line = 20 * np.sin(2 * np.pi * 60 * t)
        raw = rng.normal(size=RATE) + line
        write_frame(FrameName(gps, "H", "H1", "llhoft").path(strain_dir), {"H1:GDS-CALIB_STRAIN": raw}, t0=gps)
        write_frame(
            FrameName(gps, "H", "H1", "DEEPCLEAN").path(cleaned_dir),
            {
                NAMES.production: raw - 0.5 * line,
                NAMES.canary: raw - 0.9 * line,
                NAMES.production_version: np.full(DQ_RATE, 1, dtype=np.int32),
                NAMES.canary_version: np.full(DQ_RATE, 2, dtype=np.int32),
                NAMES.dq: np.full(DQ_RATE, CLEANED | CLEANED << CANARY_SHIFT, dtype=np.int32),
            },
            t0=gps,
        )
    return strain_dir, cleaned_dir


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=256, help="seconds of frames to measure")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        strain_dir, cleaned_dir = write_frames(root, args.seconds)
        settings = {
            "cleaned_dir": cleaned_dir,
            "strain_dir": strain_dir,
            "reports_dir": root / "reports",
            "decision_log": root / "decisions.jsonl",
            "summary_file": root / "reports" / "summaries.h5",
            "exporter_url": f"http://127.0.0.1:{closed_port()}",
            "start_gps": T0,
            "frame_timeout": 0.0,
            "report_interval": 1e9,
            "exit_when_idle": True,
            "log_level": "ERROR",
            "metrics_textfile": True,
            "retry_initial_seconds": 0.5,
            "retry_max_seconds": 0.5,
        }
        import gwpy.astro  # noqa: F401  (the reports' one-off import, seconds long, is not throughput)

        started = time.perf_counter()
        service = monitor(**settings)
        total = time.perf_counter() - started
        report_started = time.perf_counter()
        from deepclean_monitor.reports import Reports

        Reports(service, root / "reports", (58.0, 62.0), 30, 3600, 86400, 604800, True).write()
        report = time.perf_counter() - report_started
    measuring = total - report  # the run wrote one report at its end
    qualities = service.state.qualities
    print(f"frames measured:             {args.seconds} s of 16384 Hz data, 2 streams")
    print(f"band ASD ratio, production:  {qualities[1].band_ratio:.3f} (version 1, 50 % of the line removed)")
    print(f"band ASD ratio, canary:      {qualities[2].band_ratio:.3f} (version 2, 90 % removed)")
    print(f"decisions taken:             {[d.decision.id for d in service.runner.pending]} (exporter down: pending)")
    print(f"measuring loop:              {measuring:.2f} s wall -> real-time factor {args.seconds / measuring:.0f}x")
    print(f"one report (plots, page):    {report:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
