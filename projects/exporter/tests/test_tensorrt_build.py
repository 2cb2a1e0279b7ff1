"""Tests of the TensorRT plan build, with a stand-in ``tensorrt`` module (TensorRT needs a GPU).

The real build code runs; the stand-in records what it was asked to do, so
the optimisation profile, the fp16 flag and the exporter's wiring are checked
here and the build itself on a GPU node.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path

import pytest

from deepclean.model_repository import Platform
from deepclean_exporter import tensorrt_build
from deepclean_exporter.errors import Rejected
from deepclean_exporter.exporter import Exporter


def _fake_tensorrt(calls: list, parse_ok: bool = True) -> types.ModuleType:
    """A stand-in for the few TensorRT calls build_plan makes; ``calls`` records them."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0"
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.BuilderFlag = types.SimpleNamespace(FP16="FP16")
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)

    class Profile:
        def set_shape(self, name, minimum, optimum, maximum):
            calls.append(("profile", name, minimum, optimum, maximum))

    class Config:
        def set_flag(self, flag):
            calls.append(("flag", flag))

        def add_optimization_profile(self, profile):
            calls.append(("add_profile",))

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls.append(("network_flags", flags))
            return object()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            return b"serialized-engine"

    class OnnxParser:
        num_errors = 1

        def __init__(self, network, logger):
            pass

        def parse(self, data):
            calls.append(("parse", len(data)))
            return parse_ok

        def get_error(self, index):
            return "unsupported node"

    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    return trt


def test_build_plan_sets_fp16_and_the_streaming_profile(tmp_path: Path, monkeypatch) -> None:
    """The plan is fp16 with a profile over batch 1..8 and the configured lengths; bytes are written."""
    calls: list = []
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(calls))
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"onnx-bytes")
    tensorrt_build.build_plan(onnx_path, tmp_path / "model.plan", 21, 128, 4096, 32768)
    assert ("flag", "FP16") in calls
    assert ("profile", "witness", (1, 21, 128), (1, 21, 4096), (8, 21, 32768)) in calls
    assert ("network_flags", 0) in calls  # TensorRT 10: explicit batch without the flag
    assert (tmp_path / "model.plan").read_bytes() == b"serialized-engine"


def test_build_plan_reports_parser_errors(tmp_path: Path, monkeypatch) -> None:
    """An ONNX file TensorRT cannot parse is rejected with the parser's message."""
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt([], parse_ok=False))
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"onnx-bytes")
    with pytest.raises(Rejected, match="unsupported node"):
        tensorrt_build.build_plan(onnx_path, tmp_path / "model.plan", 21, 128, 4096, 32768)


def test_exporter_adds_a_plan_where_tensorrt_is_available(settings, make_training_dir, monkeypatch) -> None:
    """With TensorRT present, a tensorrt_plan export holds model.onnx and model.plan, and its config says so."""
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt([]))
    monkeypatch.setattr(tensorrt_build, "tensorrt_available", lambda: True)
    exporter = Exporter(dataclasses.replace(settings, platform=Platform.TENSORRT))
    exporter.start()
    version = exporter.export(str(make_training_dir("run-1"))).version
    files = sorted(p.name for p in exporter.model.version_dir(version).iterdir())
    assert files == ["metadata.json", "model.onnx", "model.plan"]
    assert exporter.model.metadata(version)["export"]["tensorrt_plan"] is True
    assert 'platform: "tensorrt_plan"' in exporter.model.config_path.read_text()
