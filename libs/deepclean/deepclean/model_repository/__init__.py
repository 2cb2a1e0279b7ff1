"""The Triton model repository on disk: versions, their metadata, pins and config.pbtxt.

Layout (docs/interfaces.md)::

    <repository>/<model>/config.pbtxt
    <repository>/<model>/pins.json              {"production": 3, "canary": 4, "history": [1, 3]}
    <repository>/<model>/<version>/model.onnx   (+ model.plan with TensorRT, model.py for the python backend)
    <repository>/<model>/<version>/metadata.json

Reading (cleaner, monitor, anything that serves or inspects models)::

    from deepclean.model_repository import ModelRepository

    model = ModelRepository(root).model("deepclean")
    model.versions()            # [1, 2, 3]: published versions, oldest first
    model.latest()              # 3, or None
    pins = model.pins()         # Pins(production=2, canary=3, history=(1, 2))
    model.metadata(3)           # training metadata + "version", "source", "export" (the JSON object)
    TrainingMetadata.from_json(model.metadata(3))   # the same, typed: .scaler, .filter, .witness_channels...
    model.model_file(3)         # .../deepclean/3/model.onnx
    model.version_dir(3)        # raises VersionNotFoundError if not published
    verify_files(model.version_dir(3), model.metadata(3))   # raises IntegrityError if a file is damaged

A version directory appears complete (it is renamed into place) and pins.json
is replaced atomically, so polling these calls is safe while the exporter
writes. Watch ``model.pins_path`` (its mtime) to notice a promotion or a new
canary without HTTP calls.

Writing (the exporter): :func:`reserve_version` → fill ``staged.directory`` →
``staged.publish()``; :func:`update_pins`, :func:`write_config` with a
:class:`TritonModelConfig`, :func:`prune`, and :func:`remove_abandoned` at
start-up.
"""

from .export_record import (
    EXPORT_KEY,
    SOURCE_KEY,
    VERSION_KEY,
    ExportRecord,
    recorded_files,
    recorded_training_digest,
    version_metadata,
)
from .integrity import (
    DigestCache,
    IntegrityError,
    file_digests,
    recorded_digests,
    training_digest,
    verify_files,
)
from .metadata import (
    METADATA_FILENAME,
    MetadataError,
    check_matches_configuration,
    check_metadata,
    read_metadata,
    read_training_metadata,
    write_training_metadata,
)
from .model import Model, VersionNotFoundError
from .pins import PINS_FILENAME, Pins, PinsError, read_pins, write_pins
from .platform import ONNX_FILENAME, Platform
from .pruning import prune, versions_to_keep
from .repository import ModelRepository
from .staging import StagedVersion, remove_abandoned, reserve_version
from .training_metadata import (
    ArchitectureSpec,
    FilterKind,
    FilterSpec,
    ScalerParameters,
    TrainingMetadata,
    TrainingSpan,
    ValidationFigures,
)
from .triton_config import CONFIG_FILENAME, INPUT_NAME, OUTPUT_NAME, TritonModelConfig, policy_versions
from .writing import repair_pins, update_pins, write_config

PYTHON_BACKEND_MODEL = __path__[0] + "/python_backend_model.py"
"""Source of the python-backend ``model.py`` copied into each version (platform ``python``)."""

__all__ = [
    "CONFIG_FILENAME",
    "INPUT_NAME",
    "METADATA_FILENAME",
    "ONNX_FILENAME",
    "OUTPUT_NAME",
    "PINS_FILENAME",
    "PYTHON_BACKEND_MODEL",
    "ArchitectureSpec",
    "DigestCache",
    "FilterKind",
    "FilterSpec",
    "IntegrityError",
    "MetadataError",
    "Model",
    "ModelRepository",
    "Pins",
    "PinsError",
    "Platform",
    "ScalerParameters",
    "StagedVersion",
    "TrainingMetadata",
    "TrainingSpan",
    "TritonModelConfig",
    "ValidationFigures",
    "VersionNotFoundError",
    "check_matches_configuration",
    "check_metadata",
    "file_digests",
    "policy_versions",
    "prune",
    "read_metadata",
    "read_pins",
    "read_training_metadata",
    "recorded_digests",
    "EXPORT_KEY",
    "SOURCE_KEY",
    "VERSION_KEY",
    "ExportRecord",
    "recorded_files",
    "recorded_training_digest",
    "version_metadata",
    "remove_abandoned",
    "repair_pins",
    "reserve_version",
    "training_digest",
    "update_pins",
    "verify_files",
    "versions_to_keep",
    "write_config",
    "write_pins",
    "write_training_metadata",
]
