"""An fp16 TensorRT plan built from the ONNX model, where TensorRT and a GPU exist.

``import tensorrt`` fails on machines without it: :func:`tensorrt_available`
says so and the exporter skips the plan (or refuses to start when the
platform is ``tensorrt_plan``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from deepclean.model_repository import INPUT_NAME

from .errors import Rejected


def tensorrt_available() -> bool:
    """True when the ``tensorrt`` package imports here and a CUDA GPU is visible."""
    return importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available()


def build_plan(
    onnx_path: Path,
    plan_path: Path,
    num_witnesses: int,
    min_samples: int,
    opt_samples: int,
    max_samples: int,
    max_batch: int = 8,
) -> None:
    """Serialise an fp16 engine for ``onnx_path`` to ``plan_path``.

    The optimisation profile covers batches 1..``max_batch`` and
    ``min_samples``..``max_samples`` witness samples (multiples of the stride).
    """
    import tensorrt as trt  # only on GPU nodes

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if int(trt.__version__.split(".")[0]) < 10:  # explicit batch is the only mode from TensorRT 10 on
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise Rejected(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(
        INPUT_NAME,
        (1, num_witnesses, min_samples),
        (1, num_witnesses, opt_samples),
        (max_batch, num_witnesses, max_samples),
    )
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise Rejected(f"TensorRT failed to build an engine from {onnx_path}")
    plan_path.write_bytes(bytes(engine))
