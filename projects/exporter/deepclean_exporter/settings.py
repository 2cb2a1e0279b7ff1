"""What the export pipeline needs to know, gathered in one value."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deepclean.model_repository import Platform


@dataclasses.dataclass(frozen=True)
class ExportSettings:
    """Configuration of the export pipeline (see ``deepclean_exporter.main.main`` for each key).

    The ONNX check accepts the exported model when, on random input,
    ``|onnx - torch| <= onnx_atol + onnx_rtol * |torch|`` holds for every
    output sample and every output is finite.
    """

    model_repository: Path
    model_name: str
    training_root: Path
    witness_channels: tuple[str, ...]
    sample_rate: float
    platform: Platform = Platform.PYTHON
    tensorrt: str = "auto"
    instance_kind: str | None = None
    instance_count: int = 1
    intra_op_threads: int = 0
    keep_versions: int = 5
    keep_rollback: int = 3
    onnx_opset: int = 17
    check_samples: int = 4096
    onnx_atol: float = 1e-5
    onnx_rtol: float = 1e-4
