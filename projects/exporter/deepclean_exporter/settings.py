"""What the export pipeline needs to know, gathered in one value per served model."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from deepclean.model_repository import Platform

DEFAULT_MODEL_NAME = "deepclean"
"""The model served when the configuration names none (``model_names`` of ``deepclean_exporter.main.main``)."""

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""A served model's name: a directory of the repository, a Triton model and a path segment of the API."""


@dataclasses.dataclass(frozen=True)
class ExportSettings:
    """Configuration of the export pipeline of one model (see ``deepclean_exporter.main.main`` for each key).

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


def settings_per_model(
    shared: ExportSettings,
    model_names: Sequence[str],
    model_witness_channels: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, ExportSettings]:
    """The settings of each of ``model_names`` (in that order): ``shared``, with the model's own name and channels.

    Parameters
    ----------
    shared
        The settings every model has in common; its ``witness_channels`` serve
        each model that ``model_witness_channels`` does not name.
    model_names
        The models served, the first one also on the API's un-prefixed routes.
    model_witness_channels
        The witness channels of the models trained on others than ``shared``'s (another detector's).

    Raises
    ------
    ValueError
        A name that is not a usable model name, named twice, or channels for a model not served;
        the message names the key at fault.
    """
    names = list(model_names)
    if not names:
        raise ValueError("key 'model_names': name at least one model")
    for name in names:
        if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
            raise ValueError(
                f"key 'model_names': {name!r} is not a model name (letters, digits, '_', '-' and '.', "
                "starting with a letter or digit, at most 128 characters)"
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"key 'model_names': {repeated} named more than once")
    own_channels = dict(model_witness_channels or {})
    strangers = sorted(set(own_channels) - set(names))
    if strangers:
        raise ValueError(f"key 'model_witness_channels': {strangers} not in model_names {names}")
    for name, channels in own_channels.items():
        if isinstance(channels, str) or not channels or not all(isinstance(c, str) and c for c in channels):
            raise ValueError(f"key 'model_witness_channels': model {name!r} needs a non-empty list of channel names")
    return {
        name: dataclasses.replace(
            shared, model_name=name, witness_channels=tuple(own_channels.get(name, shared.witness_channels))
        )
        for name in names
    }
