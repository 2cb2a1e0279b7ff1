"""The network of a training run as ONNX, checked against torch before it is published."""

from __future__ import annotations

import dataclasses
import threading
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from deepclean.architecture import DeepClean
from deepclean.model_repository import INPUT_NAME, OUTPUT_NAME

from .errors import Rejected
from .training_dir import TrainingRun

# The legacy exporter keeps global state while it traces: one export at a time per process.
_EXPORT_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class OnnxCheck:
    """How closely the ONNX model reproduced torch on random input."""

    max_abs_difference: float
    max_abs_output: float
    atol: float
    rtol: float
    input_lengths: tuple[int, ...]

    def to_json(self) -> dict:
        """Summary stored in the version's metadata."""
        return dataclasses.asdict(self)


def build_network(run: TrainingRun) -> DeepClean:
    """The torch network of ``run`` in evaluation mode; raises :class:`Rejected` on a weights mismatch."""
    kwargs = run.metadata["architecture"]["kwargs"]
    try:
        network = DeepClean(**kwargs)
        network.load_state_dict(run.state_dict, strict=True)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise Rejected(f"{run.directory}: weights do not fit DeepClean(**{kwargs}): {exc}") from exc
    return network.eval()


def _block_length(network: DeepClean, samples: int) -> int:
    """``samples`` rounded up to a multiple of the network's stride, at least two receptive fields."""
    length = max(samples, 2 * network.receptive_field + network.stride)
    return -(-length // network.stride) * network.stride


def export_onnx(network: DeepClean, path: Path, opset: int, check_samples: int) -> None:
    """Write ``network`` to ``path`` with dynamic batch and time axes (input ``witness``, output ``noise``)."""
    example = torch.zeros(1, network.num_witnesses, _block_length(network, check_samples))
    with _EXPORT_LOCK, torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter is chosen on purpose (the dynamo one needs onnxscript).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            network,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch", 2: "time"}, OUTPUT_NAME: {0: "batch", 1: "time"}},
            opset_version=opset,
            dynamo=False,
        )


def check_onnx(
    network: DeepClean, path: Path, check_samples: int, atol: float, rtol: float, seed: int = 0
) -> OnnxCheck:
    """Run the ONNX model and torch on the same random witnesses; raises :class:`Rejected` if they differ.

    Two inputs of different batch size and length (both multiples of the
    stride) also prove that the axes are dynamic. Accepted when every output
    is finite and ``|onnx - torch| <= atol + rtol * max|torch|`` everywhere,
    the maximum over the same input. Float32 rounding is relative to the size
    of the sums a sample is made of, not to the sample: where an output of
    scale 10 crosses zero both runtimes differ by ~1e-5 (a network trained
    with the causal guard, whose outputs on random input reach 28, was refused
    by a per-sample relative tolerance for a difference of 3e-5), while a
    wrong export differs by the output's own scale.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise Rejected(f"onnxruntime cannot load the exported model: {exc}") from exc
    generator = np.random.default_rng(seed)
    length = _block_length(network, check_samples)
    shapes = [(2, length), (1, length + network.stride)]
    worst, largest = 0.0, 0.0
    for batch, samples in shapes:
        witnesses = generator.standard_normal((batch, network.num_witnesses, samples)).astype(np.float32)
        with torch.no_grad():
            expected = network(torch.from_numpy(witnesses)).numpy()
        got = session.run([OUTPUT_NAME], {INPUT_NAME: witnesses})[0]
        if got.shape != expected.shape:
            raise Rejected(f"ONNX output shape {got.shape} differs from torch {expected.shape}")
        if not (np.isfinite(got).all() and np.isfinite(expected).all()):
            raise Rejected("the model produces NaN or infinite output on random input")
        difference = np.abs(got.astype(np.float64) - expected)
        scale = float(np.abs(expected).max())
        if not (difference <= atol + rtol * scale).all():
            raise Rejected(
                f"ONNX output differs from torch by up to {difference.max():.3g} "
                f"(tolerance {atol:g} + {rtol:g} * max|torch| = {atol + rtol * scale:.3g})"
            )
        worst = max(worst, float(difference.max()))
        largest = max(largest, float(np.abs(expected).max()))
    return OnnxCheck(worst, largest, atol, rtol, tuple(s for _, s in shapes))
