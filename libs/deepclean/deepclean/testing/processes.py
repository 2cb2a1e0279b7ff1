"""Processes the tests start, and waiting for what they do.

Services run in a process group of their own, so that stopping one also stops
whatever it started (a supervisor's child, a Triton server's backends).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: Sequence[Any], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``command`` in a process group of its own, its output appended to ``log``.

    ``env`` adds to (or overrides) this process's environment.
    """
    with open(log, "a") as out:
        return subprocess.Popen(
            [str(c) for c in command],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )


def stop(process: subprocess.Popen, timeout: float = 20.0) -> int:
    """SIGTERM the process group, SIGKILL it after ``timeout`` seconds; returns the exit code.

    Before the SIGKILL (about 1 s before) the group gets SIGUSR1: every service then writes its threads'
    stacks to its stderr (:func:`deepclean.entry_point.configure_logging`), which shows where it would not
    stop; a process without that handler ends on it, as it would on the SIGKILL.
    """
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for sent in (signal.SIGUSR1, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sent)
                except ProcessLookupError:  # the group has ended meanwhile
                    break
                time.sleep(1.0 if sent == signal.SIGUSR1 else 0.0)
            process.wait(timeout=10)
    return process.returncode


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something true, and return that.

    The test fails naming ``what`` when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid``."""
    result = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in result.stdout.split()]


def processes_with(variable: str) -> list[int]:
    """Processes other than this one whose environment holds ``variable`` (``NAME=value``).

    A suite's services inherit the variable that names its configuration, so
    this finds every process of one suite, however it was started.
    """
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if variable.encode() in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found
