"""What every service's entry point shares: running it, its log, its stop signals, its exit status.

A service is one typed function (``deepclean_trainer.main.main``,
``deepclean_monitor.main.monitor``, ...) and its ``cli.py`` is::

    def main(argv=None):
        run(train, "train", argv)

:func:`run` reads the configuration (:func:`deepclean.config.parse_config`),
calls the function and ends with one of these exit statuses:

====  ========================================================================
0     Done: the work finished (a one-shot training, ``stop_gps`` or
      ``duration`` reached, an idle monitor with ``exit_when_idle``), or the
      service was asked to stop by SIGTERM or SIGINT and stopped cleanly.
1     Failure: the work could not be done, with the reason on stderr or in the
      log (another instance holds the output directory, the inference server
      does not answer, a one-shot cycle's data failed its checks), or an
      unexpected error with its traceback.
2     Configuration error: a value missing, mistyped, out of range or
      inconsistent with another, reported before anything is done as one line
      ``deepclean-<script>: configuration error: ...`` naming the key(s).
====  ========================================================================

A service's supervisor (:mod:`deepclean_tools.suite.supervisor`) restarts it after any
status but 0 (finished) and 2 (it would fail the same way again).

Signals: SIGTERM and SIGINT (Ctrl-C) ask a running service to stop
(:func:`stop_on_signals`). It finishes the piece of work in hand (a frame, a
training step, a request), writes out what is pending, releases its output
directory and exits 0; a one-shot training stopped mid-cycle writes nothing. A
second signal changes nothing. While the configuration is still being read, the
signal's default action applies: the process is killed by it (status -15 or -2
as a parent process sees it, 143 or 130 in a shell).
SIGKILL ends a service at once; a restart after it loses nothing (every output
is written atomically, and the kernel frees the directory locks).
SIGUSR1 writes every thread's stack to stderr and changes nothing else
(:func:`configure_logging`): ``kill -USR1 <pid>`` shows where a service that
seems stuck is waiting.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .config import ConfigError, parse_config
from .single_writer import AlreadyRunningError, WriterLock, hold

DONE, FAILURE, CONFIGURATION_ERROR = 0, 1, 2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

log = logging.getLogger(__name__)


class ServiceExit(SystemExit):
    """Ends a service with exit status ``code`` and a message saying why (its ``str``).

    Raised by a service that cannot go on (``code`` 1) and by :func:`run` for
    a configuration error (``code`` 2), after printing the message to stderr.
    """

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(code)
        self.message = message

    def __str__(self) -> str:
        return self.message


def run(func: Callable[..., Any], script: str, argv: Sequence[str] | None = None) -> None:
    """Run ``func`` as the program ``deepclean-<script>``: return if it is done, else exit with the status above.

    The function's return value is the exit status when it is an int, and 0
    otherwise; any status but 0 is raised as :class:`SystemExit`. A
    :class:`~deepclean.config.ConfigError` (from the configuration or raised by
    the function for keys that do not fit together) exits 2, a
    :class:`ServiceExit` with its code; each prints one line to stderr.
    """
    prog = f"deepclean-{script}"
    try:
        result = func(**parse_config(func, script, argv))
    except ConfigError as exc:
        raise _report(ServiceExit(f"{prog}: configuration error: {exc}", CONFIGURATION_ERROR)) from None
    except ServiceExit as exc:
        raise _report(ServiceExit(f"{prog}: {exc.message}", exc.code)) from None
    status = result if isinstance(result, int) and not isinstance(result, bool) else DONE
    if status != DONE:
        raise SystemExit(status)


def _report(stop: ServiceExit) -> ServiceExit:
    print(stop.message, file=sys.stderr)
    return stop


def hold_output(directory: Path, service: str) -> WriterLock:
    """The single-writer lock of ``directory`` for ``service`` (:mod:`deepclean.single_writer`).

    Raises
    ------
    ServiceExit
        Exit status 1 when another process holds it; the message names the holder and the directory.
    """
    try:
        return hold(Path(directory), service)
    except AlreadyRunningError as exc:
        raise ServiceExit(str(exc)) from None


class StopRequested(KeyboardInterrupt):
    """Raised in the main thread by the first stop signal when the service asked to be interrupted."""


@contextlib.contextmanager
def stop_on_signals(service: str, interrupt: bool = False) -> Iterator[threading.Event]:
    """Within the block, SIGTERM and SIGINT set the event it is given: stop at the next safe point.

    A service whose main thread waits in a loop it does not own (the WSGI
    server, the monitor's polling loop) passes ``interrupt``: the first signal
    also raises :class:`StopRequested` in the main thread, which such loops
    take as Ctrl-C (they clean up and return) and which ends the block quietly.
    The previous handlers are back after the block. Signals reach the main
    thread only: elsewhere nothing is installed and the event is never set by one.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    armed = interrupt

    def handler(signum: int, _frame: Any) -> None:
        nonlocal armed
        log.info("%s: %s: stopping", service, signal.Signals(signum).name)
        stop.set()
        if armed:
            armed = False
            raise StopRequested

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield stop
    except StopRequested:
        pass
    finally:
        armed = False
        for number, action in previous.items():
            signal.signal(number, action)


def log_file(service: str, log_dir: Path, detector: str | None = None) -> Path:
    """The log file of ``service`` in ``log_dir``: ``<service>.log``, or ``<service>-<detector>.log`` for a service
    that runs once per detector (``trainer-L1.log``: two detectors' trainers never append to one file).

    Raises
    ------
    ValueError
        ``detector`` is empty or holds a path separator.
    """
    if detector is None:
        return Path(log_dir) / f"{service}.log"
    if not detector or "/" in detector or detector.startswith("."):
        raise ValueError(f"detector {detector!r} cannot name a log file")
    return Path(log_dir) / f"{service}-{detector}.log"


def configure_logging(
    service: str, level: int | str = logging.INFO, log_dir: Path | None = None, detector: str | None = None
) -> None:
    """Send every log line at ``level`` or above to stderr and, with ``log_dir``, to the service's log file.

    Calling it again (a test running several services in one process) replaces
    what the previous call set up. In the main thread it also makes SIGUSR1 write
    every thread's stack to stderr (:mod:`faulthandler`; the service goes on).

    Parameters
    ----------
    service
        The service's name (``trainer``).
    level
        The lowest level logged.
    log_dir
        The directory of the log file (None: stderr only).
    detector
        The detector a per-detector service runs for: the file is ``<service>-<detector>.log``
        (:func:`log_file`); None (a shared service) ``<service>.log``.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, (_ConsoleHandler, _ServiceFileHandler))]:
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [_ConsoleHandler()]
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(_ServiceFileHandler(log_file(service, log_dir, detector)))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    if threading.current_thread() is threading.main_thread():
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)


class _ConsoleHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test may have replaced it since)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _ServiceFileHandler(logging.FileHandler):
    """The service's own log file (told apart from handlers others installed)."""
