"""The synthetic detector writes each configured detector under its own names, with its own couplings."""

from pathlib import Path

import numpy as np

from deepclean.config import parse_config
from deepclean.frames import list_frames, read_frame
from deepclean.synthetic.detector import SyntheticDetector
from deepclean.synthetic.scenarios import scenario_config
from deepclean_tools.detector.main import main as detector

PROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
T0 = 1_400_000_000


def _write(tmp_path: Path, ifo: str) -> dict:
    """Two seconds of ``ifo`` as the project configures it, written under ``tmp_path``; its settings."""
    data = tmp_path / ifo
    values = parse_config(
        detector,
        "detector",
        ["--config", str(PROJECT), "--detector", ifo, "--strain_dir", str(data / "llhoft"),
         "--witness_dir", str(data / "lldetchar"), "--truth_dir", str(data / "truth"), "--start", str(T0),
         "--duration", "2", "--history", "2", "--not_ready_interval", "0", "--retention_seconds", "0",
         "--log_level", "WARNING"],
    )  # fmt: skip
    report = detector(**values)
    assert (report.strain_frames, report.witness_frames, report.truth_frames) == (2, 2, 2)
    return values


def test_h1_and_l1_are_written_apart_with_different_couplings(tmp_path):
    """L1's frames are L-L1_* with L1 channels only (truth too); H1's and L1's noise and coupled loops differ."""
    settings = {ifo: _write(tmp_path, ifo) for ifo in ("H1", "L1")}
    noise = {}
    for ifo, values in settings.items():
        site = ifo[0]
        assert [n.gps for n in list_frames(values["strain_dir"], site, ifo, "llhoft")] == [T0, T0 + 1]
        witnesses = read_frame(next(iter(list_frames(values["witness_dir"], site, ifo, "lldetchar"))).path(
            values["witness_dir"])).data  # fmt: skip
        assert sorted(witnesses) == sorted(values["witness_channels"])
        assert all(channel.startswith(f"{ifo}:") for channel in witnesses)
        truth_frame = next(iter(list_frames(values["truth_dir"], site, ifo, "llnoise")))
        truth = read_frame(truth_frame.path(values["truth_dir"])).data
        assert list(truth) == [f"{ifo}:SYN-INJECTED_NOISE"]
        noise[ifo] = truth[f"{ifo}:SYN-INJECTED_NOISE"]
    assert not list((tmp_path / "L1").rglob("H-H1_*")) and not list((tmp_path / "H1").rglob("L-L1_*"))
    difference = np.std(noise["H1"] - noise["L1"]) / np.std(noise["H1"])
    assert difference > 0.1, f"H1 and L1 inject nearly the same noise (relative difference {difference:.3f})"

    def coupled(values: dict) -> list[str]:
        config = scenario_config(
            values["scenario"],
            seed=values["seed"],
            witness_channels=tuple(values["witness_channels"]),
            mains_channel=values["mains_channel"],
            strain_channel=values["strain_channel"],
        )
        return [channel.split(":", 1)[1] for channel in SyntheticDetector(config).coupled_channels]

    assert coupled(settings["H1"]) != coupled(settings["L1"])
