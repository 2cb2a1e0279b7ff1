"""The command line: the [tool.typeo.scripts.monitor] table of the repository's pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepclean.config import parse_config
from deepclean.figures import DEFAULT_MIN_EXCESS, DEFAULT_SIGMA
from deepclean_monitor.cli import main
from deepclean_monitor.main import monitor

CONFIG = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_repository_table_parses():
    """Every key of the monitor's table is an argument of monitor() and has a valid value."""
    values = parse_config(monitor, "monitor", ["--config", str(CONFIG)])
    assert list(values["band"]) == [55.0, 65.0]
    assert values["cleaned_dir"] == CONFIG.parent / "run" / "cleaned" / "H1"  # the first detector's
    assert values["decision_log"] == CONFIG.parent / "run" / "monitor" / "H1" / "decisions.jsonl"
    assert values["production_channel"] is None  # the contract's name for the ifo (deepclean.cleaned_frames)
    assert values["min_seconds"] <= values["window_seconds"]
    assert values["rollback_memory_seconds"] == 1800
    # the judgement of the bins takes the library's defaults, as the cleaner's safety gate does
    assert (values["sigma"], values["min_excess"]) == (DEFAULT_SIGMA, DEFAULT_MIN_EXCESS)


@pytest.mark.parametrize(
    ("argument", "key"),
    [
        ("--margin=1.5", "margin"),
        ("--segment_seconds=0", "segment_seconds"),
        ("--sigma=-1", "sigma"),
        ("--rollback_memory_seconds=0", "rollback_memory_seconds"),
    ],
)
def test_out_of_range_value_stops_at_start_up(argument, key, capsys, monkeypatch):
    """A value out of range stops the monitor before it does anything, naming the key."""
    monkeypatch.setattr("sys.argv", ["deepclean-monitor", "--config", str(CONFIG), argument])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert key in capsys.readouterr().err


def test_inconsistent_values_stop_at_start_up(capsys, monkeypatch, tmp_path):
    """Settings valid alone but not together (a minimum longer than the window) stop with both keys named."""
    monkeypatch.setattr(
        "sys.argv",
        ["deepclean-monitor", "--config", str(CONFIG), "--min_seconds=128", f"--reports_dir={tmp_path}"],
    )
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "min_seconds (128)" in err and "window_seconds (64)" in err
    assert not any(tmp_path.iterdir())
