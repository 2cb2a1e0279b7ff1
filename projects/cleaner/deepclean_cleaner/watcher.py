"""Follow the pins file and load the pinned versions in the background.

The repository is the contract (no HTTP to the exporter): the watcher reads
``pins.json`` every ``poll_interval`` seconds; when the production or canary
pin changes it reads the version's metadata, checks its files against the
checksums recorded at export, checks it fits the cleaner, and loads it with
the backend, all off the streaming thread. The pipeline takes the loaded
versions with :meth:`ModelWatcher.take_changes` between two blocks.
A version that fails to load is logged and retried after ``retry_interval``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from deepclean.model_repository import (
    IntegrityError,
    MetadataError,
    Model,
    PinsError,
    VersionNotFoundError,
    verify_files,
)

from .backends import Backend, BackendUnavailableError, ModelLoadError
from .model_chain import ChainSettings, IncompatibleModelError, LoadedModel, ModelChain
from .pipeline import SLOTS

log = logging.getLogger(__name__)

_LOAD_ERRORS = (
    IntegrityError,
    MetadataError,
    VersionNotFoundError,
    ModelLoadError,
    BackendUnavailableError,
    IncompatibleModelError,
    KeyError,
    ValueError,
)


@dataclass
class ModelWatcher:
    """Keeps a loaded model for each pinned slot; hands over changes on request.

    Parameters
    ----------
    model
        The model in the repository.
    backend
        Loads a version's predictor.
    settings
        Used to check a version fits the cleaner before it is handed over.
    poll_interval
        Seconds between two reads of pins.json.
    retry_interval
        Seconds before a version that failed to load is tried again.
    """

    model: Model
    backend: Backend
    settings: ChainSettings
    poll_interval: float = 1.0
    retry_interval: float = 30.0
    _wanted: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(SLOTS), init=False)
    _changes: dict[str, LoadedModel | None] = field(default_factory=dict, init=False)
    _loaded: dict[int, LoadedModel] = field(default_factory=dict, init=False)
    _failed: dict[int, float] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def poll(self) -> None:
        """Read the pins once and load what changed (called by the thread, or directly)."""
        try:
            pins = self.model.pins()
        except PinsError as exc:
            log.error("cannot read the pins, keeping the current models: %s", exc)
            return
        for slot, version in (("production", pins.production), ("canary", pins.canary)):
            if version == self._wanted[slot]:
                continue
            if version is None:
                self._hand_over(slot, None)
                continue
            loaded = self._load(version)
            if loaded is not None:
                self._hand_over(slot, loaded)
        in_use = {v for v in self._wanted.values() if v is not None}
        self._loaded = {v: m for v, m in self._loaded.items() if v in in_use}

    def _load(self, version: int) -> LoadedModel | None:
        if version in self._loaded:
            cached = self._loaded[version]
            try:  # moving to another slot: a server (Triton) may reload the files, so they must still match
                verify_files(self.model.version_dir(version), cached.metadata)
                return cached
            except (IntegrityError, VersionNotFoundError) as exc:
                del self._loaded[version]
                self._failed[version] = time.monotonic()
                log.error("cannot use model version %d any more: %s", version, exc)
                return None
        failed_at = self._failed.get(version)
        if failed_at is not None and time.monotonic() - failed_at < self.retry_interval:
            return None
        try:
            metadata = self.model.metadata(version)
            # A damaged file is refused by name (the checksums the exporter recorded), never served.
            verify_files(self.model.version_dir(version), metadata)
            predictor = self.backend.load(self.model, version)
            loaded = LoadedModel(version, metadata, predictor)
            chain = ModelChain(loaded, self.settings)  # raises if the version does not fit the configuration
        except _LOAD_ERRORS as exc:
            self._failed[version] = time.monotonic()
            log.error(
                "cannot use model version %d (retrying in %.0f s): %s",
                version,
                self.retry_interval,
                exc,
            )
            return None
        self._failed.pop(version, None)
        self._loaded[version] = loaded
        log.info("loaded model version %d with the %s backend: %s", version, self.backend.name, chain.description)
        return loaded

    def _hand_over(self, slot: str, loaded: LoadedModel | None) -> None:
        with self._lock:
            self._changes[slot] = loaded
            self._wanted[slot] = loaded.version if loaded else None

    def take_changes(self) -> dict[str, LoadedModel | None]:
        """The slots whose model changed since the last call, with their new model (None: unpinned)."""
        with self._lock:
            changes, self._changes = self._changes, {}
        return changes

    def start(self) -> None:
        """Poll in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.poll()
            except Exception:
                log.exception("model watcher: unexpected error")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
