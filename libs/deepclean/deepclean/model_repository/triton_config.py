"""A model's Triton configuration (``config.pbtxt``), rendered as protobuf text.

The version policy is ``specific``: the production and canary versions and the
newest version, so a server in ``--model-control-mode=poll`` never unloads the
production model while versions come and go.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from .pins import Pins
from .platform import Platform

CONFIG_FILENAME = "config.pbtxt"
INPUT_NAME = "witness"
OUTPUT_NAME = "noise"


def policy_versions(versions: Iterable[int], pins: Pins) -> list[int]:
    """The versions a server keeps loaded: production, canary and the newest."""
    versions = sorted(versions)
    loaded = set(pins.pinned) & set(versions)
    if versions:
        loaded.add(versions[-1])
    return sorted(loaded)


@dataclasses.dataclass(frozen=True)
class TritonModelConfig:
    """What config.pbtxt says about one model.

    Parameters
    ----------
    name
        The model's name (its directory in the repository).
    platform
        How the versions are served.
    num_witnesses
        Witness channels in the input (its middle dimension).
    versions
        The versions to keep loaded (``version_policy: specific``).
    instance_kind
        ``KIND_CPU`` or ``KIND_GPU``; the platform's default when ``None``.
    instance_count
        Model instances per server.
    intra_op_threads
        Threads per onnxruntime session (python backend only; 0: onnxruntime decides).
    """

    name: str
    platform: Platform
    num_witnesses: int
    versions: tuple[int, ...]
    instance_kind: str | None = None
    instance_count: int = 1
    intra_op_threads: int = 0

    def render(self) -> str:
        """The config.pbtxt text."""
        if self.platform is Platform.PYTHON:
            engine = 'backend: "python"'
        else:
            engine = f'platform: "{self.platform.value}"'
        kind = self.instance_kind or self.platform.default_instance_kind
        versions = ", ".join(str(v) for v in self.versions)
        lines = [
            f'name: "{self.name}"',
            engine,
            # The batch dimension is part of dims: clients send whole blocks and Triton
            # must not batch requests of different lengths together.
            "max_batch_size: 0",
            "input [",
            "  {",
            f'    name: "{INPUT_NAME}"',
            "    data_type: TYPE_FP32",
            f"    dims: [ -1, {self.num_witnesses}, -1 ]",
            "  }",
            "]",
            "output [",
            "  {",
            f'    name: "{OUTPUT_NAME}"',
            "    data_type: TYPE_FP32",
            "    dims: [ -1, -1 ]",
            "  }",
            "]",
            f"version_policy: {{ specific: {{ versions: [ {versions} ] }} }}",
            f"instance_group [ {{ kind: {kind} count: {self.instance_count} }} ]",
        ]
        if self.platform is Platform.PYTHON:
            lines.append(
                f'parameters: {{ key: "intra_op_num_threads" value: {{ string_value: "{self.intra_op_threads}" }} }}'
            )
        return "\n".join(lines) + "\n"
