"""The suite's supervisor: restarts failed services, leaves finished ones and configuration errors, stops on
request."""

import os
import signal
import subprocess
import sys
import time

SUPERVISE = [sys.executable, "-m", "deepclean_tools.suite", "supervise"]


def _supervise(tmp_path, script: str):
    return subprocess.Popen(
        [
            *SUPERVISE,
            "--name",
            "svc",
            "--log-file",
            str(tmp_path / "svc.log"),
            "--pid-file",
            str(tmp_path / "svc.pid"),
            "--",
            sys.executable,
            "-c",
            script,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_failing_service_is_restarted_until_it_succeeds(tmp_path):
    """A service exiting non-zero is restarted; exit 0 ends supervision."""
    counter = tmp_path / "count"
    script = (
        f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=int(p.read_text()) if p.exists() else 0;"
        "p.write_text(str(n+1)); print('run', n+1); sys.exit(0 if n >= 1 else 3)"
    )
    proc = _supervise(tmp_path, script)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert counter.read_text() == "2"
    log = (tmp_path / "svc.log").read_text()
    assert "exited with 3; restarting" in log and "finished (exit 0)" in log
    assert not (tmp_path / "svc.pid").exists()


def test_sigterm_stops_service_and_supervisor(tmp_path):
    """SIGTERM to the supervisor stops the service and does not restart it."""
    marker = tmp_path / "stopped"
    script = (
        "import signal,sys,time,pathlib\n"
        f"def bye(*a): pathlib.Path({str(marker)!r}).write_text('1'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\nprint('ready', flush=True)\nwhile True: time.sleep(0.1)\n"
    )
    proc = _supervise(tmp_path, script)
    deadline = time.monotonic() + 20
    log = tmp_path / "svc.log"
    while not log.exists() or "ready" not in log.read_text().splitlines():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert int((tmp_path / "svc.pid").read_text()) == proc.pid
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert marker.exists()
    assert "stopped" in (tmp_path / "svc.log").read_text()


def test_the_supervisor_does_not_restart_a_configuration_error(tmp_path):
    """A service exiting 2 would fail the same way again: the supervisor runs it once and exits 2."""
    counter = tmp_path / "count"
    script = f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); p.write_text(p.read_text() + '1'); sys.exit(2)"
    counter.write_text("")
    command = [*SUPERVISE, "--name", "svc"]
    command += ["--log-file", str(tmp_path / "svc.log"), "--pid-file", str(tmp_path / "svc.pid")]
    finished = subprocess.run([*command, "--", sys.executable, "-c", script], capture_output=True, timeout=60)
    assert finished.returncode == 2
    assert counter.read_text() == "1"
    assert "configuration error (exit 2): not restarting" in (tmp_path / "svc.log").read_text()
