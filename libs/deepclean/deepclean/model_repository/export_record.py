"""What the exporter adds to a training run's metadata when it publishes a version of it.

A version's ``metadata.json`` is the training metadata (:mod:`.training_metadata`) plus three
keys, written by the exporter and read by every other side through this module::

    "version": 3,
    "source": "<the training directory it was exported from>",
    "export": {"created": ..., "platform": ..., "tensorrt_plan": ..., "stride": ..., "receptive_field": ...,
               "onnx_check": {...}, "files": {"model.onnx": "<SHA-256>", ...}, "training_sha256": "<SHA-256>"}

``files`` are the checksums every reader verifies (:mod:`.integrity`); ``training_sha256``
identifies the training run, so that exporting the same run twice returns the same version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

VERSION_KEY = "version"
SOURCE_KEY = "source"
EXPORT_KEY = "export"


@dataclass(frozen=True)
class ExportRecord:
    """``"export"``: how and from what a version was made.

    Parameters
    ----------
    created
        UTC time of the export (``YYYY-MM-DDTHH:MM:SSZ``).
    platform
        The Triton platform of the version's model (``python``, ``onnxruntime_onnx``, ``tensorrt_plan``).
    tensorrt_plan
        Whether a TensorRT plan was built beside the ONNX file.
    stride, receptive_field
        What a streaming client needs without torch: block lengths and context.
    onnx_check
        The comparison of the ONNX model with the network it was exported from.
    files
        SHA-256 of each file of the version, by name.
    training_sha256
        One SHA-256 over the training run's metadata and weights.
    """

    created: str
    platform: str
    tensorrt_plan: bool
    stride: int
    receptive_field: int
    onnx_check: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    training_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def version_metadata(training: Mapping[str, Any], version: int, source: str, record: ExportRecord) -> dict[str, Any]:
    """The metadata of version ``version`` exported from the training metadata ``training`` found at ``source``."""
    return {**training, VERSION_KEY: version, SOURCE_KEY: source, EXPORT_KEY: record.to_json()}


def _export(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    export = metadata.get(EXPORT_KEY)
    return export if isinstance(export, Mapping) else {}


def recorded_files(metadata: Mapping[str, Any]) -> dict[str, str] | None:
    """The file checksums a version's metadata records, or ``None`` (a version exported before them)."""
    files = _export(metadata).get("files")
    if not isinstance(files, Mapping) or not all(isinstance(v, str) for v in files.values()):
        return None
    return dict(files)


def recorded_training_digest(metadata: Mapping[str, Any]) -> str | None:
    """The SHA-256 of the training run a version was exported from, or ``None`` if not recorded."""
    digest = _export(metadata).get("training_sha256")
    return digest if isinstance(digest, str) and digest else None
