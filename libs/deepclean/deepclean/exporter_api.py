"""The exporter's HTTP API as the other services call it, and the rule of its bearer token.

docs/interfaces.md, "Exporter HTTP API", is the contract; this module is its client side and the one
owner of the token rule, which the exporter (server side) applies too:

- the token is ``$DEEPCLEAN_EXPORTER_TOKEN`` when set, else the first line of the token file;
- it is read again at every call, so a token file fixed by an operator is picked up without a restart;
- a token shorter than :data:`MIN_TOKEN_LENGTH` is refused with an error naming where it came from;
- whoever needs the file first (the suite launcher, the exporter) creates it with a random token, mode 0600.

Every failure is an :class:`ExporterError`::

    ExporterError             status: the HTTP status (None: no answer); permanent: asking again cannot help
    ├── ExporterUnavailable   no answer, a timeout, a 5xx or an answer that is not the API's: retry
    └── ExporterRejected      a 4xx: the request itself was refused
        └── TokenError        no usable token, so nothing was sent (status None, not permanent)

The trainer retries only :class:`ExporterUnavailable`; the monitor retries everything not
:attr:`~ExporterError.permanent` (400, 404, 405, 409, 422), so a 401 waits for an operator to fix the token.

One exporter serves one model per detector: a client names its model (``model_name``, the service's
configured one) and calls that model's routes, ``/models/<model>/export`` and so on; without a name it
calls the un-prefixed routes, which serve the exporter's default (first) model.

Example::

    client = ExporterClient("http://127.0.0.1:5005", Path("run/exporter.token"), model_name="deepclean-h1")
    exported = client.export(Path("/data/training/2024-05-01T00"))  # Exported(version=3, created=True)
    client.set_canary(exported.version)
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import quote

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

TOKEN_ENV = "DEEPCLEAN_EXPORTER_TOKEN"
MIN_TOKEN_LENGTH = 16
PERMANENT_STATUSES = frozenset({400, 404, 405, 409, 422})

Slot = Literal["production", "canary"]
SLOTS: tuple[Slot, ...] = ("production", "canary")


class ExporterError(RuntimeError):
    """A call to the exporter failed.

    Parameters
    ----------
    message
        What was asked and what went wrong (never the token).
    status
        The HTTP status of the answer; None when there was none.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def permanent(self) -> bool:
        """True when asking again cannot help: the exporter refused the request itself."""
        return self.status in PERMANENT_STATUSES


class ExporterUnavailable(ExporterError):
    """The exporter did not answer, timed out, failed on its side (5xx) or answered outside the API."""


class ExporterRejected(ExporterError):
    """The exporter refused the request (4xx); the message holds its reason."""


class TokenError(ExporterRejected):
    """No usable token: none set, the file unreadable, empty or too short. Nothing was sent."""


class Exported(NamedTuple):
    """The answer to ``POST /export``: the version, and False when the run had been exported before."""

    version: int
    created: bool


def read_token(token_file: Path | None, create: bool = False) -> str:
    """The exporter token: ``$DEEPCLEAN_EXPORTER_TOKEN`` if set, else the first line of ``token_file``.

    Parameters
    ----------
    token_file
        The configured ``exporter_token_file``; None when only the variable is meant to be used.
    create
        Create ``token_file`` (:func:`create_token_file`) when it is missing and the variable is unset.

    Returns
    -------
    str
        The token, stripped.

    Raises
    ------
    TokenError
        When neither source holds a token of at least :data:`MIN_TOKEN_LENGTH` characters.
    """
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return _long_enough(from_env, f"${TOKEN_ENV}")
    if token_file is None:
        raise TokenError(f"no exporter token: set ${TOKEN_ENV} or exporter_token_file")
    token_file = Path(token_file)
    if create:
        create_token_file(token_file)
    try:
        lines = token_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TokenError(
            f"no exporter token: exporter_token_file {token_file} does not exist and ${TOKEN_ENV} is unset"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise TokenError(f"cannot read exporter_token_file {token_file}: {reason}") from exc
    token = lines[0].strip() if lines else ""
    if not token:
        raise TokenError(f"exporter_token_file {token_file} is empty")
    return _long_enough(token, f"exporter_token_file {token_file}")


def create_token_file(token_file: Path) -> bool:
    """Write a random token to ``token_file`` (mode 0600) unless the file exists; True when it was created.

    The file appears whole (written beside it, then linked into place), so a service reading it at that
    moment never sees it empty, and of two processes creating it at once, the second keeps the first's.
    """
    token_file = Path(token_file)
    token_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{token_file.name}.", suffix=".tmp", dir=token_file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        os.link(tmp, token_file)
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("generated a new exporter token in %s", token_file)
    return True


def _long_enough(token: str, source: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(
            f"the exporter token from {source} has {len(token)} characters, fewer than {MIN_TOKEN_LENGTH}: "
            "use a long random one"
        )
    return token


class ExporterClient:
    """Calls the exporter at ``url``; mutating calls carry the token, read again at each call.

    Parameters
    ----------
    url
        The exporter's base URL (``exporter_url``).
    token_file
        Where the token is read when ``$DEEPCLEAN_EXPORTER_TOKEN`` is unset (:func:`read_token`).
    model_name
        The model whose versions and pins the calls concern (``/models/<model_name>/...``);
        None: the exporter's default model (its un-prefixed routes).
    token
        A fixed token instead of the rule (tests, tools).
    timeout
        Seconds to wait for any answer but an export's.
    export_timeout
        Seconds to wait for ``POST /export``: on a GPU node it builds a TensorRT plan.
    """

    def __init__(
        self,
        url: str,
        token_file: Path | None = None,
        *,
        model_name: str | None = None,
        token: str | None = None,
        timeout: float = 5.0,
        export_timeout: float = 120.0,
    ) -> None:
        if model_name is not None and (
            not isinstance(model_name, str) or not model_name or "/" in model_name or model_name.startswith(".")
        ):
            raise ValueError(f"model_name must be a model's name (None: the default model), got {model_name!r}")
        self.url = url.rstrip("/")
        self.model_name = model_name
        self._prefix = "" if model_name is None else f"/models/{quote(model_name, safe='')}"
        self.token_file = token_file
        self.timeout, self.export_timeout = timeout, export_timeout
        self._token = token
        self._session: requests.Session | None = None

    def export(self, training_dir: Path) -> Exported:
        """Export ``training_dir`` (sent as an absolute path) once; 201 is a new version, 200 an existing one."""
        path = self._prefix + "/export"
        status, answer = self._call(
            "POST", path, {"training_dir": str(Path(training_dir).resolve())}, self.export_timeout
        )
        version = _version(answer, f"POST {self.url}{path}")
        if version is None:
            raise ExporterUnavailable(f"POST {self.url}{path}: unexpected answer {answer!r:.200}")
        return Exported(version, bool(answer.get("created", status == 201)))

    def export_with_retry(
        self,
        training_dir: Path,
        stop: threading.Event,
        first_delay: float = 2.0,
        max_delay: float = 300.0,
        max_attempts: int | None = None,
    ) -> int | None:
        """Export, retrying with exponential back-off while the exporter is unavailable.

        Returns
        -------
        int or None
            The version; None when ``stop`` was set or ``max_attempts`` ran out first.

        Raises
        ------
        ExporterRejected
            At once: asking again cannot help.
        """
        delay, attempt = first_delay, 0
        while not stop.is_set():
            attempt += 1
            try:
                exported = self.export(training_dir)
            except ExporterUnavailable as exc:
                if max_attempts is not None and attempt >= max_attempts:
                    log.warning("export of %s: %s; giving up after %d attempts", training_dir, exc, attempt)
                    return None
                log.warning("export of %s: %s; retrying in %.0f s", training_dir, exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, max_delay)
                continue
            if not exported.created:
                log.info("%s had already been exported as version %d", training_dir, exported.version)
            return exported.version
        return None

    def versions(self) -> dict[str, Any]:
        """``{"versions": [...], "production": n, "canary": m}``."""
        return self._call("GET", self._prefix + "/versions")[1]

    def pins(self) -> dict[Slot, int | None]:
        """The version pinned in each slot (None when unset)."""
        return {slot: self.pin(slot) for slot in SLOTS}

    def pin(self, slot: Slot) -> int | None:
        """The version pinned as ``slot`` (None when unset)."""
        path = f"{self._prefix}/{_checked_slot(slot)}"
        return _version(self._call("GET", path)[1], f"GET {self.url}{path}")

    def set_production(self, version: int) -> int:
        """Pin ``version`` as production; the version the exporter now reports."""
        return self._put_pin("production", int(version))

    def set_canary(self, version: int | None) -> int | None:
        """Pin ``version`` as canary (None: no canary); the version the exporter now reports."""
        return self._put_pin("canary", None if version is None else int(version))

    def unset_production(self) -> None:
        """Leave no model in production (``DELETE /production``): the cleaner writes raw strain."""
        self._put_pin("production", None, method="DELETE")

    def _put_pin(self, slot: Slot, version: int | None, method: str = "PUT") -> int | None:
        path = f"{self._prefix}/{slot}"
        call = f"{method} {self.url}{path}"
        body = {"version": version} if method == "PUT" else None
        answer = self._call(method, path, body)[1]
        if _version(answer, call) != version or "version" not in answer:
            raise ExporterUnavailable(f"{call} {version}: exporter answered {answer!r:.200}")
        return version

    def _call(
        self, method: str, path: str, body: dict | None = None, timeout: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One request; its status and JSON object, or the :class:`ExporterError` that classifies it."""
        import requests  # not at import time: the exporter service reads tokens here but makes no calls

        call = f"{method} {self.url}{path}"
        headers = {} if method == "GET" else {"Authorization": f"Bearer {self._bearer(call)}"}
        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.request(
                method, self.url + path, json=body, headers=headers, timeout=timeout or self.timeout
            )
        except requests.RequestException as exc:
            raise ExporterUnavailable(f"{call}: {exc.__class__.__name__}: {exc}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400:
            reason = answer.get("error", answer) if isinstance(answer, dict) else response.text[:200]
            error = ExporterUnavailable if response.status_code >= 500 else ExporterRejected
            raise error(f"{call}: HTTP {response.status_code}: {reason}", status=response.status_code)
        if not isinstance(answer, dict):
            raise ExporterUnavailable(f"{call}: unexpected answer {response.text[:200]!r}")
        return response.status_code, answer

    def _bearer(self, call: str) -> str:
        try:
            return _long_enough(self._token, "the token argument") if self._token else read_token(self.token_file)
        except TokenError as exc:
            raise TokenError(f"{call}: {exc}") from None


def _checked_slot(slot: str) -> str:
    if slot not in SLOTS:
        raise ValueError(f"no pin slot {slot!r}: the exporter has {', '.join(SLOTS)}")
    return slot


def _version(answer: dict[str, Any], call: str) -> int | None:
    version = answer.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ExporterUnavailable(f"{call}: unexpected version {version!r:.50}")
    return version
