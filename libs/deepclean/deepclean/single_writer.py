"""One writer per output: a second instance of a service on the same directory refuses to start.

Two cleaners writing one cleaned-frame directory, two monitors appending to one
decision log or two exporters publishing into one model would each look
healthy while overwriting the other. Each service holds an ``flock`` on the
directory itself for as long as it runs (no file appears in it, so readers that
list the directory see nothing new); the kernel releases it when the process
dies (also on ``kill -9``), so a crash never leaves a stale lock, and a
restart after it starts at once. Different services that share a directory
lock distinct subjects: a service may name a subdirectory it owns instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

PROC_LOCKS = Path("/proc/locks")


class AlreadyRunningError(RuntimeError):
    """Another instance of the service holds the directory."""


class WriterLock:
    """A held :func:`hold` lock; :meth:`release` (or the process ending) frees the directory."""

    def __init__(self, fd: int, directory: Path) -> None:
        self._fd: int | None = fd
        self.directory = directory

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def hold(directory: Path, service: str) -> WriterLock:
    """Take ``directory`` (created if missing) for ``service`` until released.

    Raises
    ------
    AlreadyRunningError
        Another process (or another holder in this one) holds it; the message names the directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holders = lock_holders(os.fstat(fd))
        os.close(fd)
        who = f"pid {', '.join(map(str, holders))} on {socket.gethostname()}" if holders else "a process"
        raise AlreadyRunningError(
            f"another {service} ({who}) already writes to {directory} (it holds the directory's lock); "
            f"stop it, or give this one another directory"
        ) from None
    return WriterLock(fd, directory)


def lock_holders(stat: os.stat_result, proc_locks: Path = PROC_LOCKS) -> list[int]:
    """Pids holding an ``flock`` on the file of ``stat`` according to the kernel (``/proc/locks``).

    An empty list when the kernel does not say (another system, a file system that keeps locks elsewhere).
    """
    try:
        lines = proc_locks.read_text().splitlines()
    except OSError:
        return []
    device = (os.major(stat.st_dev), os.minor(stat.st_dev))
    pids = []
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 12345 fe:00:16039973 0 EOF" (device numbers in hex)
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[0].endswith("->"):
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16)) == device and int(inode) == stat.st_ino:
                pids.append(int(fields[4]))
        except ValueError:
            continue
    return sorted(set(pids))


@contextlib.contextmanager
def single_writer(directory: Path, service: str) -> Iterator[Path]:
    """:func:`hold` for the duration of the block; yields the directory."""
    lock = hold(directory, service)
    try:
        yield lock.directory
    finally:
        lock.release()
