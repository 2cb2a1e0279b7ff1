"""The export pipeline and the pins: everything the API does to the model repository."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepclean.architecture import DeepClean
from deepclean.model_repository import (
    METADATA_FILENAME,
    ONNX_FILENAME,
    PYTHON_BACKEND_MODEL,
    DigestCache,
    ExportRecord,
    IntegrityError,
    MetadataError,
    Model,
    ModelRepository,
    Pins,
    PinsError,
    Platform,
    TritonModelConfig,
    VersionNotFoundError,
    file_digests,
    policy_versions,
    prune,
    recorded_files,
    recorded_training_digest,
    remove_abandoned,
    repair_pins,
    reserve_version,
    update_pins,
    verify_files,
    version_metadata,
    write_config,
)
from deepclean.model_repository.staging import PRUNED_PREFIX
from deepclean.model_repository.writing import last_good_is_stale

from . import onnx_export, tensorrt_build
from .errors import NotFound, Unavailable
from .onnx_export import OnnxCheck
from .pbtxt_check import parse_model_config
from .settings import ExportSettings
from .training_dir import load_training, locate, training_digest_of

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Export:
    """The outcome of an export: the version, and whether it was created by this call."""

    version: int
    created: bool


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
        # One export at a time: the check for an earlier export of the same run must see every version.
        self._export_lock = threading.Lock()
        # /healthz and /versions check every version's files at each call: hash a file again only once changed
        self._digests = DigestCache()

    def start(self) -> None:
        """Prepare the repository: remove what a crashed export left behind, repair the pins, write a config."""
        self.model.directory.mkdir(parents=True, exist_ok=True)
        for path in remove_abandoned(self.model):
            log.warning("removed %s left by an interrupted export", path)
        repaired = repair_pins(self.model)
        if repaired:
            log.error("pins.json was damaged: %s", repaired)
        latest = self.model.latest()
        if latest is not None and latest > self.pins().newest_offered:
            log.warning(
                "version %d was published but never made the canary (an export interrupted before its pin "
                "update): making it the canary now",
                latest,
            )
            self._update_pins(lambda pins: pins.with_canary(latest))
        if self.model.versions():
            self.refresh_config()

    # --- exporting -------------------------------------------------------------------------

    def export(self, training_dir: str) -> Export:
        """Export ``training_dir`` as a new version and make it the canary.

        The same training run (same weights and metadata) exported again returns
        its existing version (``created`` False) instead of publishing a second.
        """
        directory = locate(self.settings.training_root, training_dir)
        with self._export_lock:
            digest = training_digest_of(directory)
            existing = self._version_of_training(digest)
            if existing is not None:
                self._offer(existing)
                log.info("%s was already exported as version %d: nothing new published", directory, existing)
                return Export(existing, created=False)
            return Export(self._export_new(directory, digest), created=True)

    def _export_new(self, directory: Path, digest: str) -> int:
        settings = self.settings
        started = time.monotonic()
        run = load_training(directory, settings.witness_channels, settings.sample_rate)
        network = onnx_export.build_network(run)
        try:
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
                files = file_digests(staged.directory, [p.name for p in staged.directory.iterdir() if p.is_file()])
                record = self._export_record(network, check, files, digest)
                metadata = version_metadata(run.metadata, staged.version, str(run.directory), record)
                (staged.directory / METADATA_FILENAME).write_text(json.dumps(metadata, indent=2) + "\n")
                published = staged.publish()
        except OSError as exc:  # disk full, read-only: the staging directory is gone, nothing changed
            reason = exc.strerror or type(exc).__name__
            raise Unavailable(f"the new version could not be written ({reason}); nothing was published") from exc
        version = staged.version
        try:
            verify_files(published, metadata)  # what Triton and the cleaner will read, read back
            self._offer(version)
        except (IntegrityError, OSError, Unavailable) as exc:
            self._unpublish(version)
            raise Unavailable(
                f"version {version} was written but could not be kept, nothing was published: {exc}"
            ) from exc
        try:  # the version is published and pinned: a failure from here on must not fail the export
            self.refresh_config()
            removed = prune(self.model, settings.keep_versions, settings.keep_rollback)
        except OSError as exc:
            log.error(
                "version %d is the canary, but config.pbtxt or pruning failed (retried on the next change): %s",
                version,
                exc,
            )
            removed = []
        log.info(
            "exported %s as version %d in %.2f s (ONNX vs torch max |diff| %.2g); pruned %s",
            run.directory,
            version,
            time.monotonic() - started,
            check.max_abs_difference,
            removed or "nothing",
        )
        return version

    def _offer(self, version: int) -> None:
        """Make ``version`` the canary unless a newer version was already offered."""

        def offer(pins: Pins) -> Pins:
            return pins if version <= pins.newest_offered else pins.with_canary(version)

        self._update_pins(offer)

    def _unpublish(self, version: int) -> None:
        with self.model.lock():
            doomed = self.model.directory / f"{PRUNED_PREFIX}{version}"
            os.rename(self.model.directory / str(version), doomed)
            shutil.rmtree(doomed, ignore_errors=True)
        log.error("version %d withdrawn: it was published but its pins could not be updated", version)

    def _version_of_training(self, digest: str) -> int | None:
        for version in reversed(self.model.versions()):
            try:
                metadata = self.model.metadata(version)
            except (MetadataError, VersionNotFoundError):
                continue
            if recorded_training_digest(metadata) == digest:
                return version
        return None

    def _export_record(
        self, network: DeepClean, check: OnnxCheck, files: dict[str, str], training_sha256: str
    ) -> ExportRecord:
        return ExportRecord(
            created=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            platform=self.settings.platform.value,
            tensorrt_plan=self.build_plans,
            stride=network.stride,
            receptive_field=network.receptive_field,
            onnx_check=check.to_json(),
            files=files,
            training_sha256=training_sha256,
        )

    # --- reading and pinning ---------------------------------------------------------------

    def versions(self) -> list[dict[str, Any]]:
        """Every published version with its metadata and file integrity, oldest first.

        A version whose metadata cannot be read is listed with ``metadata`` None
        and the reason in ``error``: one damaged version must not hide the others.
        ``integrity`` is ``"ok"``, ``"unrecorded"`` (exported before checksums)
        or what does not match.
        """
        listed = []
        for version in self.model.versions():
            try:
                metadata = self.model.metadata(version)
                listed.append(
                    {"version": version, "metadata": metadata, "integrity": self._integrity(version, metadata)}
                )
            except VersionNotFoundError:
                continue  # pruned while listing
            except MetadataError as exc:
                log.warning("version %d: %s", version, exc)
                listed.append({"version": version, "metadata": None, "error": str(exc), "integrity": "unknown"})
        return listed

    def _integrity(self, version: int, metadata: dict[str, Any]) -> str:
        if not recorded_files(metadata):
            return "unrecorded"
        try:
            verify_files(self.model.version_dir(version), metadata, self._digests)
        except IntegrityError as exc:
            return str(exc)
        return "ok"

    def problems(self) -> list[str]:
        """What is wrong with the repository (empty: healthy): pins, config, metadata, damaged files."""
        found = []
        try:
            self.pins()
            if self.model.pins_path.exists() and last_good_is_stale(self.model):
                found.append(
                    "pins.json.last-good is stale: its last update failed (a damaged pins.json could not be restored)"
                )
        except PinsError as exc:
            found.append(f"pins.json: {exc}")
        if self.model.versions() and not found:
            try:
                with self.model.lock():
                    current = self.model.config_path.read_text()
                    if current != self._config_text():
                        found.append("config.pbtxt does not match the pins (a pin change could not rewrite it)")
            except OSError as exc:
                found.append(f"config.pbtxt cannot be read: {exc.strerror or exc}")
        for entry in self.versions():
            if entry["metadata"] is None:
                found.append(f"version {entry['version']}: {entry['error']}")
            elif entry["integrity"] not in ("ok", "unrecorded"):
                found.append(f"version {entry['version']}: {entry['integrity']}")
        return found

    def pins(self) -> Pins:
        """The current pins."""
        return self.model.pins()

    def _update_pins(self, change: Callable[[Pins], Pins]) -> Pins:
        """Apply ``change`` to the pins, restoring a damaged pins.json first; 503 when they cannot be written."""
        try:
            try:
                return update_pins(self.model, change)
            except PinsError as exc:
                log.error("pins.json is damaged (%s): repaired: %s", exc, repair_pins(self.model))
                return update_pins(self.model, change)
        except OSError as exc:  # pins.json is replaced atomically: the old pins still stand
            raise Unavailable(
                f"the pins could not be written ({exc.strerror or type(exc).__name__}); unchanged"
            ) from exc

    def _require(self, version: int) -> None:
        """Raise :class:`NotFound` unless ``version`` is published (call under the model lock)."""
        try:
            self.model.version_dir(version)
        except VersionNotFoundError as exc:
            raise NotFound(f"version {version} does not exist (published: {self.model.versions()})") from exc

    def set_production(self, version: int) -> Pins:
        """Pin ``version`` as production (promotion or rollback)."""

        def promote(pins: Pins) -> Pins:
            self._require(version)  # under the lock pruning takes: the version cannot vanish in between
            return pins.with_production(version)

        return self._repin(promote, "production is now version %d", version)

    def unset_production(self) -> Pins:
        """Leave no model in production: the cleaner writes raw strain flagged no-model."""
        message = "production is now unpinned (no model: the cleaner writes raw strain)"
        return self._repin(lambda pins: pins.without_production(), message)

    def set_canary(self, version: int | None) -> Pins:
        """Pin ``version`` as the canary (``None``: no canary)."""

        def pin(pins: Pins) -> Pins:
            if version is not None:
                self._require(version)
            return pins.with_canary(version)

        return self._repin(pin, "canary is now version %s", version)

    def _repin(self, change: Callable[[Pins], Pins], message: str, *args: object) -> Pins:
        """Change the pins, serve what they now name and log ``message`` (with ``args``); the new pins."""
        pins = self._update_pins(change)
        self.refresh_config()
        log.info(message, *args)
        return pins

    def _config_text(self) -> str:
        """The config.pbtxt that serves production, canary and the newest version (call under the lock)."""
        settings = self.settings
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
        return text

    def refresh_config(self) -> None:
        """Rewrite config.pbtxt so the server keeps production, canary and the newest version loaded."""
        with self.model.lock():
            text = self._config_text()
            # An unchanged file is left alone: a new mtime would make a polling Triton reload the model.
            if not self.model.config_path.is_file() or self.model.config_path.read_text() != text:
                write_config(self.model, text)
