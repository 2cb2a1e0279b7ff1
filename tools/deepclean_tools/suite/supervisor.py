"""Keep one service running: restart it when it fails, stop it when asked.

A service that exits 0 has finished (one-shot work, end of a replay) and is
not restarted, nor is one that exits 2: its configuration is wrong and it would
fail the same way again (the exit statuses: :mod:`deepclean.entry_point`). A
service that exits with any other status or is killed is restarted after a
back-off that grows while it keeps failing quickly. SIGTERM/SIGINT to the
supervisor are passed on to the service, which gets ``grace`` seconds to stop
before it is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from deepclean.atomic_files import replace_file
from deepclean.entry_point import CONFIGURATION_ERROR, DONE


def _log(name: str, message: str, sink) -> None:
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [supervisor:{name}] {message}\n"
    sys.stdout.write(line)
    sys.stdout.flush()
    sink.write(line)
    sink.flush()


def supervise(name: str, command: list[str], log_file: Path, pid_file: Path, grace: float = 20.0) -> int:
    """Run ``command`` until it exits 0 or the supervisor is told to stop."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    replace_file(pid_file, f"{os.getpid()}\n".encode())  # never seen half written by status or stop
    stopping = threading.Event()
    child: subprocess.Popen | None = None

    def kill_if_alive() -> None:
        if child is not None and child.poll() is None:
            child.kill()

    def stop(signum, _frame):
        stopping.set()
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            timer = threading.Timer(grace, kill_if_alive)
            timer.daemon = True
            timer.start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backoff = 1.0
    code = 0
    with open(log_file, "a", buffering=1) as sink:
        try:
            while not stopping.is_set():
                _log(name, f"starting: {' '.join(command)}", sink)
                started = time.monotonic()
                child = subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
                )
                for line in child.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    sink.write(line)
                try:
                    code = child.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    child.kill()
                    code = child.wait()
                if stopping.is_set():
                    _log(name, f"stopped (exit {code})", sink)
                    break
                if code == DONE:
                    _log(name, "finished (exit 0)", sink)
                    break
                if code == CONFIGURATION_ERROR:
                    _log(name, "configuration error (exit 2): not restarting", sink)
                    break
                backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, 30.0)
                _log(name, f"exited with {code}; restarting in {backoff:.0f} s", sink)
                stopping.wait(backoff)
        finally:
            if child is not None and child.poll() is None:
                child.kill()
            pid_file.unlink(missing_ok=True)
    return 0 if stopping.is_set() else code
