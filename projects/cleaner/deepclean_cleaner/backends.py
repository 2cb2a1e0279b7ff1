"""Inference backends: where a model version's network runs.

- ``embedded``: an onnxruntime session on the version's ``model.onnx`` in the
  model repository.
- ``triton``: ``tritonclient`` over gRPC to a Triton server serving the same
  repository in poll mode, by model name and version, with a per-call timeout,
  a reconnection after a failure and, while the server is away, an immediate
  :class:`BackendUnavailableError` (the stream goes on with raw strain) until
  ``retry_interval`` has passed.
- ``auto``: Triton while the configured endpoint answers, else embedded, decided
  call by call (:class:`AutoBackend`): a server that starts after the cleaner is
  taken up within ``probe_interval`` seconds, and a server that goes away leaves
  the stream cleaned by onnxruntime instead of raw. Each switch is logged.

Both read the version's metadata from the repository on disk; only the
network runs elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from deepclean.model_repository import INPUT_NAME, OUTPUT_NAME, Model

from .network import NoisePredictor

log = logging.getLogger(__name__)

BackendName = Literal["auto", "embedded", "triton"]


class BackendUnavailableError(RuntimeError):
    """The inference backend cannot run the model now (server away, timeout)."""


class VersionUnavailableError(BackendUnavailableError):
    """The server answers but does not serve this version now (not loaded yet, or unloaded)."""


class ModelLoadError(RuntimeError):
    """A model version cannot be loaded by the backend."""


class Backend(Protocol):
    """Makes a predictor for a published version of ``model``."""

    name: str

    def load(self, model: Model, version: int) -> NoisePredictor: ...


@dataclass
class OnnxPredictor:
    """One onnxruntime session on a version's ONNX file."""

    path: Path
    threads: int = 1

    def __post_init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelLoadError(f"cannot load {self.path}: {exc}") from exc

    def predict(self, witness: np.ndarray) -> np.ndarray:
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(witness, dtype=np.float32)})[0]


@dataclass
class EmbeddedBackend:
    """onnxruntime sessions on the repository's ONNX files."""

    threads: int = 1
    name: str = "embedded"

    def load(self, model: Model, version: int) -> NoisePredictor:
        return OnnxPredictor(model.model_file(version), self.threads)


@dataclass
class TritonConnection:
    """A gRPC client to one Triton server, re-created after a failure.

    Parameters
    ----------
    url
        ``host:port`` of Triton's gRPC endpoint.
    timeout
        Seconds allowed for one inference call.
    retry_interval
        Seconds after a failure during which calls fail at once instead of waiting.
    """

    url: str
    timeout: float = 2.0
    retry_interval: float = 5.0
    _client: object | None = field(default=None, init=False, repr=False)
    _down_until: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def client(self):
        """The gRPC client (created on first use and after a failure)."""
        import tritonclient.grpc as grpcclient

        if time.monotonic() < self._down_until:
            raise BackendUnavailableError(f"Triton at {self.url} is unavailable (retrying in a moment)")
        with self._lock:
            if self._client is None:
                self._client = grpcclient.InferenceServerClient(self.url)
            return self._client

    def failed(self, exc: Exception) -> BackendUnavailableError:
        """Drop the client after ``exc`` and return the error to raise."""
        with self._lock:
            client, self._client = self._client, None
            self._down_until = time.monotonic() + self.retry_interval
        if client is not None:
            with contextlib.suppress(Exception):  # the channel is being discarded anyway
                client.close()
        return BackendUnavailableError(f"Triton at {self.url} failed: {exc}")

    def close(self) -> None:
        """Close the client (a later call makes a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a channel that already failed
                client.close()

    def is_live(self) -> bool:
        """Whether the server answers a liveness check within the timeout."""
        try:
            return bool(self.client().is_server_live(client_timeout=self.timeout))
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            self.failed(exc)
            return False

    def wait_until_live(self, timeout: float) -> bool:
        """Whether the server answers within ``timeout`` seconds (checked every 0.5 s)."""
        deadline = time.monotonic() + timeout
        while True:
            self._down_until = 0.0
            if self.is_live():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    def wait_until_ready(self, model_name: str, version: int, timeout: float) -> None:
        """Block until ``version`` of ``model_name`` is loaded (poll mode picks it up)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if self.client().is_model_ready(model_name, str(version), client_timeout=self.timeout):
                    return
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last = exc
                with self._lock:
                    self._client = None
            time.sleep(0.2)
        raise ModelLoadError(
            f"Triton at {self.url} did not load model {model_name!r} version {version} within {timeout:.0f} s"
            + (f" (last error: {last})" if last else "")
        )


_VERSION_ERRORS = ("not at ready state", "unknown model", "is not found")
"""Words of an error about one version (the server answered): the other slot's version is unaffected."""


def is_version_error(exc: Exception) -> bool:
    """Whether ``exc`` says the server does not serve this version, rather than that the server failed."""
    text = str(exc).lower()
    return any(words in text for words in _VERSION_ERRORS)


@dataclass
class TritonPredictor:
    """Runs one version of a model on a Triton server."""

    connection: TritonConnection
    model_name: str
    version: int
    _down_until: float = field(default=0.0, init=False, repr=False)

    def predict(self, witness: np.ndarray) -> np.ndarray:
        import tritonclient.grpc as grpcclient

        if time.monotonic() < self._down_until:
            raise VersionUnavailableError(
                f"Triton at {self.connection.url} does not serve version {self.version} (retrying in a moment)"
            )
        client = self.connection.client()
        witness = np.ascontiguousarray(witness, dtype=np.float32)
        request = grpcclient.InferInput(INPUT_NAME, list(witness.shape), "FP32")
        request.set_data_from_numpy(witness)
        try:
            result = client.infer(
                self.model_name,
                [request],
                model_version=str(self.version),
                outputs=[grpcclient.InferRequestedOutput(OUTPUT_NAME)],
                client_timeout=self.connection.timeout,
            )
        except Exception as exc:  # InferenceServerException and gRPC errors
            if is_version_error(exc):
                # Only this version is away (unloaded): the channel, shared with the other slot, stays open.
                self._down_until = time.monotonic() + self.connection.retry_interval
                raise VersionUnavailableError(
                    f"Triton at {self.connection.url} does not serve version {self.version}: {exc}"
                ) from exc
            raise self.connection.failed(exc) from exc
        return result.as_numpy(OUTPUT_NAME)


@dataclass
class TritonBackend:
    """Versions served by Triton (the server polls the same repository)."""

    connection: TritonConnection
    load_timeout: float = 30.0
    name: str = "triton"

    def load(self, model: Model, version: int) -> NoisePredictor:
        self.connection.wait_until_ready(model.name, version, self.load_timeout)
        return TritonPredictor(self.connection, model.name, version)


class TritonWatch:
    """Whether a Triton server answers, probed off the streaming thread.

    ``live`` is what the last probe or call found. A call that fails after a probe said
    live (a server that answers liveness checks but not inference: hung, overloaded)
    doubles the wait before the next probe, up to 32 ``probe_interval``; a call that
    succeeds resets it. So such a server costs one call timeout per back-off, not one
    per probe, and each change of ``live`` is logged once.
    """

    MAX_BACKOFF = 32

    def __init__(self, connection: TritonConnection, probe_interval: float = 10.0) -> None:
        self.connection = connection
        self.probe_interval = probe_interval
        self._live = False
        self._failures = 0
        self._next_probe = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def live(self) -> bool:
        return self._live

    def probe(self) -> bool:
        """Ask the server now; returns and records the answer."""
        self.connection._down_until = 0.0  # a probe always asks, whatever the last failure said
        self._set(self.connection.is_live(), "answers a liveness check")
        return self._live

    def failed(self, exc: Exception) -> None:
        """A call to the server failed: inference stays embedded until a later probe finds it live again."""
        with self._lock:
            self._failures += 1
            wait = self.probe_interval * min(2 ** (self._failures - 1), self.MAX_BACKOFF)
            self._next_probe = time.monotonic() + wait
        self._set(False, f"failed: {exc}; next probe in {wait:.0f} s")

    def succeeded(self) -> None:
        """A call to the server succeeded: probes go back to every ``probe_interval``."""
        if self._failures:
            with self._lock:
                self._failures = 0

    def start(self) -> None:
        """Probe now and then every ``probe_interval`` seconds in a daemon thread (idempotent)."""
        if self._thread is None:
            self.probe()
            self._thread = threading.Thread(target=self._run, name="triton-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the probing thread and close the connection's client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.connection.timeout + 1.0)
        self.connection.close()

    def _run(self) -> None:
        while not self._stop.wait(self.probe_interval):
            if time.monotonic() >= self._next_probe:
                self.probe()

    def _set(self, live: bool, why: str) -> None:
        with self._lock:
            changed, self._live = live != self._live, live
        if not changed:
            return
        if live:
            log.info("inference backend: triton at %s (the server %s)", self.connection.url, why)
        else:
            log.warning(
                "inference backend: embedded (onnxruntime) while Triton at %s is away (%s)",
                self.connection.url,
                why if why.startswith("failed") else f"no answer; probing every {self.probe_interval:.0f} s",
            )


@dataclass
class AutoPredictor:
    """One version run by Triton while it answers and serves the version, else by onnxruntime.

    A call that Triton cannot serve (server away, version not loaded yet) is run by the
    embedded session at once, so the stream stays cleaned; the same ONNX model gives the
    same estimate on both.
    """

    watch: TritonWatch
    triton: NoisePredictor
    embedded: NoisePredictor
    version: int = 0
    _told_unserved: bool = field(default=False, init=False, repr=False)

    def predict(self, witness: np.ndarray) -> np.ndarray:
        if self.watch.live:
            try:
                estimate = self.triton.predict(witness)
            except VersionUnavailableError as exc:
                if not self._told_unserved:  # once until Triton serves it: a poll in progress, or a repository
                    self._told_unserved = True  # that is not the one this cleaner reads
                    log.warning("version %d: onnxruntime runs it while Triton does not serve it: %s", self.version, exc)
            except BackendUnavailableError as exc:
                self.watch.failed(exc)
            else:
                self.watch.succeeded()
                self._told_unserved = False
                return estimate
        return self.embedded.predict(witness)


@dataclass
class AutoBackend:
    """Triton while it answers (:class:`TritonWatch`), onnxruntime otherwise, for every version."""

    watch: TritonWatch
    threads: int = 1

    @property
    def name(self) -> str:
        return f"auto ({'triton' if self.watch.live else 'embedded'} now)"

    def load(self, model: Model, version: int) -> NoisePredictor:
        embedded = OnnxPredictor(model.model_file(version), self.threads)
        triton = TritonPredictor(self.watch.connection, model.name, version)
        return AutoPredictor(self.watch, triton, embedded, version)

    def close(self) -> None:
        """Stop probing the server."""
        self.watch.stop()


def select_backend(
    kind: BackendName,
    triton_url: str | None,
    threads: int,
    timeout: float,
    load_timeout: float = 30.0,
    startup_timeout: float = 60.0,
    probe_interval: float = 10.0,
) -> Backend:
    """The backend ``kind`` names; ``auto`` with a ``triton_url`` switches between Triton and embedded.

    With ``triton`` the server may still be starting: it is waited for up to
    ``startup_timeout`` seconds before :class:`BackendUnavailableError`.
    """
    if kind == "embedded":
        return EmbeddedBackend(threads)
    if not triton_url:
        if kind == "triton":
            raise BackendUnavailableError("backend 'triton' needs triton_url (host:port of Triton's gRPC endpoint)")
        log.info("inference backend: embedded (onnxruntime; no triton_url configured)")
        return EmbeddedBackend(threads)
    connection = TritonConnection(triton_url, timeout=timeout)
    if kind == "triton":
        if not connection.wait_until_live(startup_timeout):
            raise BackendUnavailableError(
                f"backend 'triton': no Triton server answers at {triton_url} after {startup_timeout:.0f} s "
                "(start it with servers/triton/serve.sh, or set backend to 'auto' or 'embedded')"
            )
        log.info("inference backend: triton at %s", triton_url)
        return TritonBackend(connection, load_timeout)
    watch = TritonWatch(connection, probe_interval)
    watch.start()
    if not watch.live:
        log.info(
            "inference backend: embedded (onnxruntime) until Triton answers at %s (probed every %.0f s)",
            triton_url,
            probe_interval,
        )
    return AutoBackend(watch, threads)
