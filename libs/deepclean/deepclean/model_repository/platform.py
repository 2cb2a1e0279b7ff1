"""Serving platforms and the model file each one loads from a version directory."""

from __future__ import annotations

import enum


class Platform(str, enum.Enum):
    """Where a model version is served, and what Triton needs to serve it.

    ``onnxruntime_onnx`` and ``tensorrt_plan`` are for NVIDIA's Triton container
    on a GPU node; ``python`` is a Triton python-backend model (``model.py``
    running the version's ``model.onnx`` through onnxruntime) that a Triton
    server with only the python backend can serve.
    """

    ONNX = "onnxruntime_onnx"
    TENSORRT = "tensorrt_plan"
    PYTHON = "python"

    @property
    def model_filename(self) -> str:
        """The file Triton loads from a version directory."""
        return _MODEL_FILENAMES[self]

    @property
    def default_instance_kind(self) -> str:
        """Triton instance kind (``KIND_CPU`` or ``KIND_GPU``) when none is configured."""
        return "KIND_GPU" if self is Platform.TENSORRT else "KIND_CPU"


_MODEL_FILENAMES = {
    Platform.ONNX: "model.onnx",
    Platform.TENSORRT: "model.plan",
    Platform.PYTHON: "model.py",
}

ONNX_FILENAME = "model.onnx"
"""Every version holds the ONNX model, whatever the platform."""
