"""The synthetic detector service: where it resumes, its command line (restart, SIGTERM, bad values, scenarios),
its injections, and the configuration's detector table against its signature."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deepclean.config import drifted_defaults
from deepclean.frames import FrameName, read_frame
from deepclean.synthetic import DetectorConfig, FrameLayout, SyntheticDetector, write_span
from deepclean.synthetic.injections import InjectedDetector, InjectionConfig, read_injection_log
from deepclean.synthetic.scenarios import SCENARIOS, scenario_config
from deepclean_tools.detector import cli
from deepclean_tools.detector.main import current_gps, main, resume_plan

T0 = 1400000000
CONFIG = Path(__file__).resolve().parents[2] / "pyproject.toml"
STRAIN = "H1:GDS-CALIB_STRAIN"
MAINS = "H1:PEM-CS_MAINSMON_EBAY_1_DQ"


def _layout(root: Path, truth: bool = True) -> FrameLayout:
    return FrameLayout(root / "llhoft", root / "lldetchar", root / "truth" if truth else None)


def _gps(directory: Path) -> list[int]:
    return sorted(FrameName.parse(p.name).gps for p in directory.glob("*.gwf"))


def _injected(config: InjectionConfig) -> InjectedDetector:
    return InjectedDetector(SyntheticDetector(DetectorConfig(seed=5, not_ready_interval=None)), config)


def test_resume_plan(tmp_path):
    """Without a start the detector resumes after the newest frame, writing only the history not yet on disk."""
    layout = _layout(tmp_path)
    start, history = resume_plan(layout, 600)
    assert abs(start - (current_gps() - 600)) <= 2 and history == 600
    write_span(SyntheticDetector().generate(T0, 2), layout)
    assert resume_plan(layout, 600) == (T0 + 2, 598)
    assert resume_plan(layout, 1) == (T0 + 2, 0)


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    command = [sys.executable, "-m", "deepclean_tools.detector", "--config", str(CONFIG), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _dirs(root: Path) -> list[str]:
    return ["--strain_dir", str(root / "s"), "--witness_dir", str(root / "w"), "--truth_dir", str(root / "t")]


def test_cli_resumes_seamlessly_and_stops_cleanly_on_sigterm(tmp_path):
    """The CLI resumes after the frames on disk with the same data and exits 0 on SIGTERM mid-stream."""
    write_span(SyntheticDetector().generate(T0, 3), FrameLayout(tmp_path / "s", tmp_path / "w", tmp_path / "t"))
    second = _cli(
        *_dirs(tmp_path),
        "--speed",
        "20",
        "--history",
        "0",
        "--not_ready_interval",
        "0",
        "--retention_seconds",
        "0",
        "--drop_witness_gps",
        f"[{T0 + 4}]",
    )
    deadline = time.monotonic() + 120
    while len(_gps(tmp_path / "s")) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0, second.stderr.read()
    written = _gps(tmp_path / "s")
    assert written == list(range(T0, T0 + len(written))) and len(written) >= 8
    assert T0 + 4 not in _gps(tmp_path / "w")
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary files left
    expected = SyntheticDetector().generate(T0 + 3, 2)
    for gps in (T0 + 3, T0 + 4):  # across the restart
        frame = read_frame(tmp_path / "s" / f"H-H1_llhoft-{gps}-1.gwf")
        assert np.array_equal(frame[STRAIN], expected.second(gps).strain)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--speed", "-2"), ("--not_ready_interval", "10"), ("--mains_channel", "H1:NOT-A-WITNESS")],
)
def test_cli_rejects_bad_values_naming_the_key(tmp_path, capsys, option, value):
    """A bad option (out of its type's range or failing the detector's checks) exits 2, names it, writes nothing."""
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--config", str(CONFIG), *_dirs(tmp_path), option, value, "--duration", "1"])
    assert stopped.value.code == 2
    assert option.lstrip("-") in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_detector_cli_writes_the_injection_channel_and_log(tmp_path):
    """deepclean-detector with injection_interval writes the truth channel and the JSON-lines log."""
    report = main(
        strain_dir=tmp_path / "llhoft",
        witness_dir=tmp_path / "lldetchar",
        truth_dir=tmp_path / "truth",
        start=T0,
        duration=8,
        history=8,
        seed=5,
        not_ready_interval=0.0,
        injection_interval=4,
        injection_kinds=["sine_gaussian"],
        log_level="WARNING",
    )
    assert report.truth_frames == 8
    layout = FrameLayout(tmp_path / "llhoft", tmp_path / "lldetchar", tmp_path / "truth")
    expected = _injected(InjectionConfig(interval=4, kinds=("sine_gaussian",))).generate(T0, 8)
    channels = read_frame(layout.truth_path(T0 + 5), ["H1:SYN-INJECTION"])
    np.testing.assert_array_equal(channels["H1:SYN-INJECTION"], expected.second(T0 + 5).injection)
    assert [r["slot"] for r in read_injection_log(layout.injection_log)] == [
        i.slot for i in expected.injections if i.start_gps >= T0
    ]


def test_the_detector_table_restates_no_default_differently():
    assert drifted_defaults(main, "detector", CONFIG) == {}


def test_cli_lists_scenarios(capsys):
    """--list-scenarios prints one line per scenario, needing no other option."""
    cli.main(["--list-scenarios"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(SCENARIOS)


def test_cli_writes_a_scenario(tmp_path):
    """The CLI writes the frames of the scenario asked for, with the step where --step_gps puts it."""
    dirs = {name: tmp_path / name for name in ("strain", "witness", "truth")}
    options = {
        "config": CONFIG,
        **{f"{name}_dir": path for name, path in dirs.items()},
        "scenario": "independent",
        "step_gps": T0 + 2,
        "start": T0,
        "duration": 4,
        "history": 4,
        "not_ready_interval": 0,
        "retention_seconds": 0,
        "log_level": "WARNING",
    }
    cli.main([f"--{key}={value}" for key, value in options.items()])
    expected = SyntheticDetector(scenario_config("independent", step_gps=T0 + 2)).generate(T0, 4)
    for gps in (T0, T0 + 3):
        strain = read_frame(dirs["strain"] / f"H-H1_llhoft-{gps}-1.gwf")
        witnesses = read_frame(dirs["witness"] / f"H-H1_lldetchar-{gps}-1.gwf")
        truth = read_frame(dirs["truth"] / f"H-H1_llnoise-{gps}-1.gwf")
        second = expected.second(gps)
        assert np.array_equal(strain["H1:GDS-CALIB_STRAIN"], second.strain)
        assert np.array_equal(truth["H1:SYN-INJECTED_NOISE"], second.truth)
        assert witnesses.sample_rate(MAINS) == 2048
        assert np.array_equal(witnesses[MAINS], second.witnesses[MAINS])
