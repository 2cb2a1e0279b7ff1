"""Tests of the export pipeline against the repository on disk."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from deepclean.model_repository import Pins, read_pins
from deepclean_exporter.errors import Rejected
from deepclean_exporter.exporter import Exporter
from deepclean_exporter.pbtxt_check import parse_model_config


def _policy(exporter: Exporter) -> list[int]:
    parsed = parse_model_config(exporter.model.config_path.read_text())
    return list(parsed.version_policy.specific.versions)


def test_export_publishes_a_complete_version_and_makes_it_canary(exporter, make_training_dir) -> None:
    """A version holds model.onnx, model.py and the training metadata plus version, source and the check."""
    directory = make_training_dir("run-1")
    assert exporter.export(str(directory)).version == 1
    version_dir = exporter.model.directory / "1"
    assert sorted(p.name for p in version_dir.iterdir()) == ["metadata.json", "model.onnx", "model.py"]
    metadata = exporter.model.metadata(1)
    training = json.loads((directory / "metadata.json").read_text())
    assert {k: metadata[k] for k in training} == training
    assert metadata["version"] == 1 and metadata["source"] == str(directory.resolve())
    assert metadata["export"]["onnx_check"]["max_abs_difference"] < 1e-5
    assert (metadata["export"]["stride"], metadata["export"]["receptive_field"]) == (16, 47)
    assert exporter.pins() == Pins(canary=1, offered=1)
    assert _policy(exporter) == [1]


def test_policy_keeps_production_while_canaries_come_and_go(exporter, make_training_dir) -> None:
    """With 1 in production, later exports keep 1 loaded next to the newest canary."""
    exporter.export(str(make_training_dir("run-1")))
    exporter.set_production(1)
    for seed in range(2, 5):
        exporter.export(str(make_training_dir(f"run-{seed}", seed=seed)))
    assert exporter.pins() == Pins(production=1, canary=4, history=(1,), offered=4)
    assert _policy(exporter) == [1, 4]
    exporter.set_production(4)
    exporter.set_production(1)  # rollback
    assert read_pins(exporter.model.pins_path).history == (1, 4, 1)
    assert _policy(exporter) == [1, 4]


def test_config_is_rewritten_only_when_the_policy_changes(exporter, make_training_dir) -> None:
    """Re-pinning the same versions leaves config.pbtxt untouched (no needless Triton reload)."""
    exporter.export(str(make_training_dir("run-1")))
    before = exporter.model.config_path.stat().st_mtime_ns
    exporter.set_canary(1)
    exporter.set_production(1)
    assert exporter.model.config_path.stat().st_mtime_ns == before
    exporter.export(str(make_training_dir("run-2", seed=2)))
    assert exporter.model.config_path.stat().st_mtime_ns != before


def test_pruning_keeps_production_and_rollback_history(exporter, make_training_dir) -> None:
    """keep_versions=3, keep_rollback=2: production, the previous production and the newest three stay."""
    exporter.export(str(make_training_dir("run-1")))
    exporter.set_production(1)
    exporter.export(str(make_training_dir("run-2", seed=2)))
    exporter.set_production(2)
    for seed in range(3, 8):
        exporter.export(str(make_training_dir(f"run-{seed}", seed=seed)))
    assert exporter.model.versions() == [1, 2, 5, 6, 7]


def test_failed_check_publishes_nothing(exporter, make_training_dir, monkeypatch) -> None:
    """When the ONNX check fails, no version, staging directory, pin or config is left behind."""
    from deepclean_exporter import onnx_export

    def failing_check(*args, **kwargs):
        raise Rejected("ONNX output differs from torch by up to 1 (tolerance ...)")

    monkeypatch.setattr(onnx_export, "check_onnx", failing_check)
    with pytest.raises(Rejected):
        exporter.export(str(make_training_dir("run-1")))
    assert exporter.model.versions() == []
    assert sorted(p.name for p in exporter.model.directory.iterdir()) == [".lock"]


_CRASH_MID_EXPORT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from deepclean_exporter import onnx_export
    from deepclean_exporter.exporter import Exporter
    from deepclean_exporter.settings import ExportSettings

    def crash(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies after writing model.onnx

    onnx_export.check_onnx = crash
    repo, root, channels = Path(sys.argv[1]), Path(sys.argv[2]), tuple(sys.argv[3].split(","))
    settings = ExportSettings(repo, "deepclean", root, channels, 4096, check_samples=256)
    Exporter(settings).export(str(root / "run-2"))
    """
)


def test_crash_mid_export_leaves_the_repository_valid(settings, exporter, make_training_dir) -> None:
    """A process killed mid-export leaves only a staging directory, removed at the next start-up."""
    exporter.export(str(make_training_dir("run-1")))
    make_training_dir("run-2", seed=2)
    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            _CRASH_MID_EXPORT,
            str(settings.model_repository),
            str(settings.training_root),
            ",".join(settings.witness_channels),
        ],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    assert (exporter.model.directory / ".staging-2" / "model.onnx").is_file()
    assert exporter.model.versions() == [1]  # readers never see the half-written version
    assert exporter.pins() == Pins(canary=1, offered=1)
    assert _policy(exporter) == [1]

    restarted = Exporter(settings)
    restarted.start()
    assert not (exporter.model.directory / ".staging-2").exists()
    assert restarted.export(str(settings.training_root / "run-2")).version == 2
    assert _policy(restarted) == [2]  # nothing in production: the newest canary only


def test_tensorrt_platform_refuses_to_start_without_tensorrt(settings, monkeypatch) -> None:
    """Asking for TensorRT plans on a machine without TensorRT stops at start-up."""
    import dataclasses

    from deepclean.model_repository import Platform
    from deepclean_exporter import tensorrt_build

    monkeypatch.setattr(tensorrt_build, "tensorrt_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs TensorRT"):
        Exporter(dataclasses.replace(settings, platform=Platform.TENSORRT))


def test_start_rewrites_a_valid_config_for_existing_versions(settings, exporter, make_training_dir) -> None:
    """A deleted config.pbtxt is rewritten at start-up from the versions and pins on disk."""
    exporter.export(str(make_training_dir("run-1")))
    exporter.model.config_path.unlink()
    Exporter(settings).start()
    assert _policy(exporter) == [1]
