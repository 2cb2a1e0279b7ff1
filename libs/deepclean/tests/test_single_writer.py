"""Tests of the one-writer-per-directory lock."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from deepclean.single_writer import AlreadyRunningError, single_writer

HOLD = """
import sys, time
from deepclean.single_writer import single_writer
with single_writer(sys.argv[1], "cleaner"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_process_is_refused_naming_the_directory(tmp_path):
    """While one process holds the directory another is refused; after a kill -9 it is free at once."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        holder_is = rf"another cleaner \(pid {holder.pid} on {socket.gethostname()}\) already writes to {tmp_path}"
        with pytest.raises(AlreadyRunningError, match=holder_is):
            with single_writer(tmp_path, "cleaner"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with single_writer(tmp_path, "cleaner") as directory:
        assert directory == tmp_path and not list(tmp_path.iterdir())  # nothing written into it


def test_a_released_directory_can_be_held_again(tmp_path):
    """One holder after the other: no conflict."""
    with single_writer(tmp_path / "out", "cleaner"):
        pass
    with single_writer(tmp_path / "out", "cleaner"):
        pass
