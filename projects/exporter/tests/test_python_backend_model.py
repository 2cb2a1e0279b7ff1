"""Tests of the python-backend model.py, run here with a stand-in for Triton's pb_utils module.

The real python backend only exists inside a Triton server; the stand-in
implements the few calls model.py makes, so the real model.py code runs on a
real exported version directory.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CHANNELS

from deepclean.model_repository import INPUT_NAME, OUTPUT_NAME


class _Tensor:
    def __init__(self, name: str, array: np.ndarray) -> None:
        self._name, self._array = name, array

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> np.ndarray:
        return self._array


class _Response:
    def __init__(self, output_tensors, error=None) -> None:
        self.output_tensors, self.error = output_tensors, error


@pytest.fixture
def pb_utils(monkeypatch):
    """A stand-in triton_python_backend_utils module."""
    module = types.ModuleType("triton_python_backend_utils")
    module.Tensor = _Tensor
    module.InferenceResponse = _Response
    module.TritonError = lambda message: message
    module.get_input_tensor_by_name = lambda request, name: request.get(name)
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", module)
    return module


def _load_model_py(path: Path):
    spec = importlib.util.spec_from_file_location("exported_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_py_serves_the_version_it_lives_in(pb_utils, exporter, make_training_dir) -> None:
    """model.py of an exported version answers like the torch network; a bad request gets an error."""
    directory = make_training_dir("run-1")
    version = exporter.export(str(directory)).version
    model_dir = exporter.model.directory
    module = _load_model_py(model_dir / str(version) / "model.py")
    instance = module.TritonPythonModel()
    config = json.dumps({"parameters": {"intra_op_num_threads": {"string_value": "1"}}})
    instance.initialize({"model_config": config, "model_repository": str(model_dir), "model_version": str(version)})

    witnesses = np.random.default_rng(3).standard_normal((2, len(CHANNELS), 16 * 64)).astype(np.float32)
    good, bad = instance.execute([{INPUT_NAME: _Tensor(INPUT_NAME, witnesses)}, {}])
    (noise,) = good.output_tensors
    assert good.error is None and noise.name() == OUTPUT_NAME

    from deepclean.architecture import DeepClean

    network = DeepClean(**exporter.model.metadata(version)["architecture"]["kwargs"])
    network.load_state_dict(torch.load(directory / "weights.pt", weights_only=True))
    expected = network.eval()(torch.from_numpy(witnesses)).detach().numpy()
    np.testing.assert_allclose(noise.as_numpy(), expected, rtol=1e-4, atol=1e-5)
    assert bad.error is not None and bad.output_tensors == []
    instance.finalize()


def test_model_py_imports_only_what_the_backend_provides() -> None:
    """model.py is self-contained: numpy, onnxruntime, pb_utils and the standard library."""
    from deepclean.model_repository import PYTHON_BACKEND_MODEL

    source = Path(PYTHON_BACKEND_MODEL).read_text()
    imported = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imported == {"json", "os", "numpy", "onnxruntime", "triton_python_backend_utils"}
