"""The export pipeline and the pins: everything the API does to the model repository."""

from __future__ import annotations

import datetime
import json
import logging
import shutil
import time
from typing import Any

from deepclean.architecture import DeepClean
from deepclean.model_repository import (
    METADATA_FILENAME,
    ONNX_FILENAME,
    PYTHON_BACKEND_MODEL,
    MetadataError,
    Model,
    ModelRepository,
    Pins,
    Platform,
    TritonModelConfig,
    VersionNotFoundError,
    policy_versions,
    prune,
    remove_abandoned,
    reserve_version,
    update_pins,
    write_config,
)

from . import onnx_export, tensorrt_build
from .errors import NotFound
from .onnx_export import OnnxCheck
from .pbtxt_check import parse_model_config
from .settings import ExportSettings
from .training_dir import load_training, locate

log = logging.getLogger(__name__)


class Exporter:
    """Turns training directories into versions of one model and keeps its pins and config."""

    def __init__(self, settings: ExportSettings) -> None:
        self.settings = settings
        self.model: Model = ModelRepository(settings.model_repository).model(settings.model_name)
        self.build_plans = settings.platform is Platform.TENSORRT or (
            settings.tensorrt == "auto" and tensorrt_build.tensorrt_available()
        )
        if settings.platform is Platform.TENSORRT and not tensorrt_build.tensorrt_available():
            raise RuntimeError("platform 'tensorrt_plan' needs TensorRT and a CUDA GPU, and this machine has neither")

    def start(self) -> None:
        """Prepare the repository: remove what a crashed export left behind, write a valid config."""
        self.model.directory.mkdir(parents=True, exist_ok=True)
        for path in remove_abandoned(self.model):
            log.warning("removed %s left by an interrupted export", path)
        if self.model.versions():
            self.refresh_config()

    # --- exporting -------------------------------------------------------------------------

    def export(self, training_dir: str) -> int:
        """Export ``training_dir`` as a new version, make it the canary; returns the version."""
        settings = self.settings
        started = time.monotonic()
        run = load_training(
            locate(settings.training_root, training_dir), settings.witness_channels, settings.sample_rate
        )
        network = onnx_export.build_network(run)
        with reserve_version(self.model) as staged:
            onnx_path = staged.directory / ONNX_FILENAME
            onnx_export.export_onnx(network, onnx_path, settings.onnx_opset, settings.check_samples)
            check = onnx_export.check_onnx(
                network, onnx_path, settings.check_samples, settings.onnx_atol, settings.onnx_rtol
            )
            if settings.platform is Platform.PYTHON:
                shutil.copyfile(PYTHON_BACKEND_MODEL, staged.directory / Platform.PYTHON.model_filename)
            if self.build_plans:
                stride = network.stride
                tensorrt_build.build_plan(
                    onnx_path,
                    staged.directory / Platform.TENSORRT.model_filename,
                    network.num_witnesses,
                    min_samples=stride * 8,
                    opt_samples=int(settings.sample_rate),
                    max_samples=int(settings.sample_rate) * 8,
                )
            metadata = self._version_metadata(run.metadata, staged.version, str(run.directory), network, check)
            (staged.directory / METADATA_FILENAME).write_text(json.dumps(metadata, indent=2) + "\n")
            staged.publish()
        version = staged.version
        update_pins(self.model, lambda pins: pins.with_canary(max(version, pins.canary or 0)))
        self.refresh_config()
        removed = prune(self.model, settings.keep_versions, settings.keep_rollback)
        log.info(
            "exported %s as version %d in %.2f s (ONNX vs torch max |diff| %.2g); pruned %s",
            run.directory,
            version,
            time.monotonic() - started,
            check.max_abs_difference,
            removed or "nothing",
        )
        return version

    def _version_metadata(
        self, training: dict, version: int, source: str, network: DeepClean, check: OnnxCheck
    ) -> dict[str, Any]:
        metadata = dict(training)
        metadata["version"] = version
        metadata["source"] = source
        metadata["export"] = {
            "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "platform": self.settings.platform.value,
            "tensorrt_plan": self.build_plans,
            # What a streaming client needs without torch: block lengths and context.
            "stride": network.stride,
            "receptive_field": network.receptive_field,
            "onnx_check": check.to_json(),
        }
        return metadata

    # --- reading and pinning ---------------------------------------------------------------

    def versions(self) -> list[dict[str, Any]]:
        """Every published version with its metadata, oldest first.

        A version whose metadata cannot be read is listed with ``metadata`` None
        and the reason in ``error``: one damaged version must not hide the others.
        """
        listed = []
        for version in self.model.versions():
            try:
                listed.append({"version": version, "metadata": self.model.metadata(version)})
            except VersionNotFoundError:
                continue  # pruned while listing
            except MetadataError as exc:
                log.warning("version %d: %s", version, exc)
                listed.append({"version": version, "metadata": None, "error": str(exc)})
        return listed

    def pins(self) -> Pins:
        """The current pins."""
        return self.model.pins()

    def _require(self, version: int) -> None:
        try:
            self.model.version_dir(version)
        except VersionNotFoundError as exc:
            raise NotFound(f"version {version} does not exist (published: {self.model.versions()})") from exc

    def set_production(self, version: int) -> Pins:
        """Pin ``version`` as production (promotion or rollback)."""
        self._require(version)
        pins = update_pins(self.model, lambda pins: pins.with_production(version))
        self.refresh_config()
        log.info("production is now version %d", version)
        return pins

    def unset_production(self) -> Pins:
        """Leave no model in production: the cleaner writes raw strain flagged no-model."""
        pins = update_pins(self.model, lambda pins: pins.without_production())
        self.refresh_config()
        log.info("production is now unpinned (no model: the cleaner writes raw strain)")
        return pins

    def set_canary(self, version: int | None) -> Pins:
        """Pin ``version`` as the canary (``None``: no canary)."""
        if version is not None:
            self._require(version)
        pins = update_pins(self.model, lambda pins: pins.with_canary(version))
        self.refresh_config()
        log.info("canary is now version %s", version)
        return pins

    def refresh_config(self) -> None:
        """Rewrite config.pbtxt so the server keeps production, canary and the newest version loaded."""
        settings = self.settings
        with self.model.lock():
            versions = policy_versions(self.model.versions(), self.model.pins())
            config = TritonModelConfig(
                name=self.model.name,
                platform=settings.platform,
                num_witnesses=len(settings.witness_channels),
                versions=tuple(versions),
                instance_kind=settings.instance_kind,
                instance_count=settings.instance_count,
                intra_op_threads=settings.intra_op_threads,
            )
            text = config.render()
            parse_model_config(text)  # never write a config Triton would refuse
            # An unchanged file is left alone: a new mtime would make a polling Triton reload the model.
            if not self.model.config_path.is_file() or self.model.config_path.read_text() != text:
                write_config(self.model, text)
