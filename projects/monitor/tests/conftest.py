"""Fixtures of the monitor's tests: frame directories, a served fake exporter, monitor settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_exporter import TOKEN, FakeExporter, ServedExporter
from synthetic_cleaning import FrameDirs


@pytest.fixture
def frame_dirs(tmp_path: Path) -> FrameDirs:
    return FrameDirs(strain_dir=tmp_path / "llhoft", cleaned_dir=tmp_path / "cleaned")


@pytest.fixture
def exporter():
    """A fake exporter with versions 1-4 and no pins, served on a free port."""
    served = ServedExporter(FakeExporter(versions=[1, 2, 3, 4]))
    yield served
    served.close()


@pytest.fixture
def monitor_settings(tmp_path: Path, frame_dirs: FrameDirs, exporter: ServedExporter, monkeypatch) -> dict:
    """Arguments of ``deepclean_monitor.main.monitor`` sized for short synthetic runs."""
    monkeypatch.setenv("DEEPCLEAN_EXPORTER_TOKEN", TOKEN)
    return {
        "cleaned_dir": frame_dirs.cleaned_dir,
        "strain_dir": frame_dirs.strain_dir,
        "reports_dir": tmp_path / "reports",
        "decision_log": tmp_path / "monitor" / "decisions.jsonl",
        "summary_file": tmp_path / "reports" / "summaries.h5",
        "exporter_url": exporter.url,
        "out_of_band_range": (10.0, 1500.0),
        "band": (58.0, 62.0),  # the fixture's frames put their noise around the band's edges at 58 and 62 Hz
        "margin": 0.05,
        "segment_seconds": 4,
        "window_seconds": 12,
        "min_seconds": 12,
        "sustain_seconds": 8,
        "rollback_sustain_seconds": 4,
        "settle_seconds": 8,
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "start_gps": 1_400_000_000,
        "frame_timeout": 0.0,
        "poll_interval": 0.02,
        "report_interval": 3600.0,
        "period_seconds": 16,
        "exit_when_idle": True,
        "log_level": "WARNING",
    }
