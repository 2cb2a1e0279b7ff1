"""Service faults: kill -9 and restart, a failing output disk, a version that fails to load.

Each test runs ``deepclean-clean`` from its own environment on a copy of the
project's configuration, over frames a :class:`LiveFeed` writes live, and where
the service is meant to be restarted, under the suite's supervisor (as
``./run.sh`` runs it). What must hold afterwards: exactly one cleaned frame for
every strain second, none written twice, the fault named in the log.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import record_fault
from fault_frames import LiveFeed, cleaned_seconds, strain_path, writes_per_second
from fault_services import MODEL_NAME, cleaner_command, layout, supervised, write_config

from deepclean.frames import read_frame
from deepclean.testing.processes import children, free_port, start, stop, wait_for

START = 1400000000
RATE = 6.0
DQ = "H1:DEEPCLEAN-DQ"
CANARY_VERSION = "H1:DEEPCLEAN-CANARY_VERSION"


def _prepare(tmp_path: Path, model_repository: Path) -> Path:
    config = write_config(tmp_path, free_port(), clean={"strain_timeout": 2.0, "witness_timeout": 1.5})
    shutil.copytree(model_repository, layout(tmp_path).model_repository)
    return config


def _check_stream(fault: str, survived: bool, cleaned: Path, log: Path, start_gps: int, end: int) -> None:
    """Every second of ``[start_gps, end)`` on disk once, none written twice; recorded in the summary."""
    expected = list(range(start_gps, end))
    written = cleaned_seconds(cleaned)
    twice = sorted(gps for gps, n in writes_per_second(log).items() if n > 1)
    record_fault(fault, survived, len(expected), len(written), len(twice))
    assert survived
    assert written == expected, (
        f"missing {sorted(set(expected) - set(written))}, extra {sorted(set(written) - set(expected))}"
    )
    assert twice == [], f"written twice: {twice}"


def _latency_ok(cleaned: Path, data: Path, seconds: range, bound: float = 1.5) -> None:
    """Each second of ``seconds`` was written within ``bound`` s of the next strain frame's arrival."""
    for gps in seconds:
        latency = (cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf").stat().st_mtime - strain_path(data, gps + 1).stat().st_mtime
        assert latency < bound, f"GPS {gps} written {latency:.2f} s after the next strain frame"


def _wait_finished(supervisor: subprocess.Popen, timeout: float) -> int:
    wait_for(lambda: supervisor.poll() is not None, timeout, "the supervised cleaner to finish its span")
    return supervisor.returncode


def test_cleaner_killed_at_random_points_restarts_without_duplicate_or_hole(tmp_path, model_repository):
    """Three kill -9 of the cleaner at random points: the supervisor restarts it, every second once."""
    config = _prepare(tmp_path, model_repository)
    run = layout(tmp_path)
    # long enough for the cleaner to catch up after the last restart (back-off 2, 4, 8 s + start-up)
    feed = LiveFeed(run.data, START, 300, RATE)
    log = tmp_path / "cleaner.log"
    supervisor = start(
        supervised("cleaner", cleaner_command(config, "--stop_gps", feed.end), tmp_path), tmp_path / "out.log"
    )
    rng = random.Random(9)
    kills = 0
    try:
        with feed:
            for _ in range(3):
                before = len(cleaned_seconds(run.cleaned))
                wait_for(lambda before=before: len(cleaned_seconds(run.cleaned)) > before + 3, 60, "new cleaned frames")
                time.sleep(rng.uniform(0.0, 2.0))
                for pid in children(supervisor.pid):
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
            feed.thread.join()
            code = _wait_finished(supervisor, 90)
    finally:
        stop(supervisor)
    text = log.read_text()
    restarts = text.count("exited with -9; restarting")
    _check_stream(
        "services: kill -9 of the cleaner x3",
        code == 0 and restarts == kills == 3,
        run.cleaned,
        log,
        START,
        feed.end,
    )
    _latency_ok(run.cleaned, run.data, range(feed.end - 6, feed.end - 1))


def _immutable(path: Path, on: bool) -> None:
    """Make writes into ``path`` fail (root ignores permissions: chattr +i), or work again."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)
    else:
        path.chmod(0o555 if on else 0o755)


@pytest.mark.parametrize("seconds, restarts", [(6.0, False), (16.0, True)], ids=["6s-retried", "16s-restarted"])
def test_output_directory_unwritable_then_recovering_loses_nothing(tmp_path, model_repository, seconds, restarts):
    """Writes into the cleaned directory fail for a while. For 6 s the cleaner retries and carries on; for
    16 s it gives up with a message naming the file, exits non-zero and the supervisor restarts it until
    the disk is back. Either way every second ends up on disk exactly once."""
    config = _prepare(tmp_path, model_repository)
    run = layout(tmp_path)
    cleaned = run.cleaned
    feed = LiveFeed(run.data, START, 240 if restarts else 180, RATE)  # long enough to catch up again
    log = tmp_path / "cleaner.log"
    supervisor = start(
        supervised("cleaner", cleaner_command(config, "--stop_gps", feed.end), tmp_path), tmp_path / "out.log"
    )
    try:
        with feed:
            wait_for(lambda: len(cleaned_seconds(cleaned)) > 20, 60, "the first cleaned frames")
            _immutable(cleaned, True)
            try:
                time.sleep(seconds)
            finally:
                _immutable(cleaned, False)
            feed.thread.join()
            code = _wait_finished(supervisor, 120)
    finally:
        if cleaned.exists():
            _immutable(cleaned, False)
        stop(supervisor)
    text = log.read_text()
    named = "cannot write " in text and ("Operation not permitted" in text or "Permission denied" in text)
    restarted = "exited with 1; restarting" in text
    fault = f"services: output directory unwritable for {seconds:.0f} s"
    _check_stream(fault, code == 0 and named and restarted == restarts, cleaned, log, START, feed.end)
    assert restarted == restarts, "restarted" if restarted else "not restarted"
    if restarts:
        assert "giving up after" in text
    # a temporary file created just before the directory turned read-only cannot be removed then;
    # it is a dot-file, which readers ignore (docs/interfaces.md)
    assert len(list(cleaned.glob(".*.tmp"))) <= 1
    _latency_ok(cleaned, run.data, range(feed.end - 6, feed.end - 1))


def _publish(model_dir: Path, version: int, source: int, corrupt: bool) -> None:
    """A version copied from ``source`` (renamed into place like the exporter does), optionally a broken ONNX file."""
    staging = model_dir / f".staging-{version}"
    shutil.copytree(model_dir / str(source), staging)
    metadata = json.loads((staging / "metadata.json").read_text())
    (staging / "metadata.json").write_text(json.dumps({**metadata, "version": version}))
    if corrupt:
        onnx = staging / "model.onnx"
        onnx.write_bytes(onnx.read_bytes()[:1000])
    staging.rename(model_dir / str(version))


def _pin_canary(model_dir: Path, version: int) -> None:
    pins = json.loads((model_dir / "pins.json").read_text())
    temporary = model_dir / ".pins.json.tmp"
    temporary.write_text(json.dumps({**pins, "canary": version}))
    temporary.replace(model_dir / "pins.json")


def test_a_version_that_fails_to_load_is_logged_and_the_stream_goes_on(tmp_path, model_repository):
    """A canary whose model.onnx is broken is logged by version; production keeps cleaning, no second is
    lost, and the next good canary is picked up."""
    config = _prepare(tmp_path, model_repository)
    run = layout(tmp_path)
    model_dir = run.model_dir
    feed = LiveFeed(run.data, START, 120, RATE)
    log = tmp_path / "cleaner.log"
    cleaner = start(cleaner_command(config, "--stop_gps", feed.end, "--safety", "false"), log)
    try:
        with feed:
            wait_for(lambda: len(cleaned_seconds(run.cleaned)) > 10, 60, "the first cleaned frames")
            _publish(model_dir, 3, source=2, corrupt=True)
            _pin_canary(model_dir, 3)
            wait_for(lambda: "model version 3" in log.read_text(), 20, "a log line about version 3")
            bad_until = max(cleaned_seconds(run.cleaned))
            _publish(model_dir, 4, source=2, corrupt=False)
            _pin_canary(model_dir, 4)
            feed.thread.join()
            wait_for(lambda: cleaner.poll() is not None, 90, "the cleaner to finish its span")
    finally:
        code = stop(cleaner)
    text = log.read_text()
    named = "cannot use model version 3" in text
    canary_versions = {
        gps: int(read_frame(run.cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf", [CANARY_VERSION])[CANARY_VERSION][0])
        for gps in cleaned_seconds(run.cleaned)
    }
    production_cleaned = [
        gps
        for gps in range(bad_until - 5, bad_until + 15)
        if int(read_frame(run.cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf", [DQ])[DQ][0]) & 1
    ]
    ok = code == 0 and named and 3 not in canary_versions.values() and canary_versions[feed.end - 1] == 4
    _check_stream("services: a model version that fails to load", ok, run.cleaned, log, START, feed.end)
    assert len(production_cleaned) == 20, "production stopped cleaning while the canary failed to load"


TRITON = Path(__file__).resolve().parents[1] / ".venvs" / "triton-server" / "tritonserver" / "bin" / "tritonserver"


def _triton_ready(http_port: int, process: subprocess.Popen) -> bool:
    import urllib.request

    if process.poll() is not None:
        raise AssertionError(f"tritonserver exited with {process.returncode}")
    try:
        return all(
            urllib.request.urlopen(
                f"http://127.0.0.1:{http_port}/v2/models/{MODEL_NAME}/versions/{v}/ready", timeout=1
            ).status
            == 200
            for v in (1, 2)
        )
    except OSError:
        return False


@pytest.mark.skipif(not TRITON.exists(), reason="the Triton server environment is not built (./build.sh triton-server)")
def test_inference_backend_away_for_10_s_writes_raw_then_cleans_again(tmp_path, model_repository):
    """The Triton server killed and back 10 s later: the seconds it could not predict are raw with the
    no-model bit, none is lost or written twice, and cleaning comes back once it answers.

    (Freezing the server with SIGSTOP instead makes Triton's python backend abort on a lock timeout
    once it is resumed, so the server is gone either way; under ``./run.sh`` it is supervised.)
    """
    config = _prepare(tmp_path, model_repository)
    run = layout(tmp_path)
    ports = [free_port(), free_port(), free_port()]
    serve = [
        "bash",
        Path(__file__).resolve().parents[1] / "servers" / "triton" / "serve.sh",
        run.model_repository,
        *ports,
    ]
    triton = start(serve, tmp_path / "triton.log")
    cleaner = None
    try:
        wait_for(lambda: _triton_ready(ports[1], triton), 120, "Triton to load versions 1 and 2")
        feed = LiveFeed(run.data, START, 240, RATE)  # long enough to clean again after the outage
        log = tmp_path / "cleaner.log"
        command = cleaner_command(config, "--stop_gps", feed.end, "--safety", "false", "--inference_timeout", "1.0")
        command[command.index("embedded")] = "triton"
        cleaner = start([*command, "--triton_url", f"127.0.0.1:{ports[0]}"], log)
        with feed:
            wait_for(lambda: len(cleaned_seconds(run.cleaned)) > 20, 60, "the first cleaned frames")
            os.killpg(triton.pid, signal.SIGKILL)
            triton.wait(timeout=10)
            time.sleep(10.0)
            triton = start(serve, tmp_path / "triton.log")
            wait_for(lambda: _triton_ready(ports[1], triton), 120, "Triton to load versions 1 and 2 again")
            feed.thread.join()
            wait_for(lambda: cleaner.poll() is not None, 120, "the cleaner to finish its span")
    finally:
        code = stop(cleaner) if cleaner is not None else None
        stop(triton)
    bits = {
        gps: int(read_frame(run.cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf", [DQ])[DQ][0])
        for gps in cleaned_seconds(run.cleaned)
    }
    no_model = [gps for gps, b in bits.items() if b & 4]
    cleaned_after = [gps for gps, b in bits.items() if b & 1 and no_model and gps > max(no_model)]
    text = log.read_text()
    ok = code == 0 and bool(no_model) and len(cleaned_after) > 10 and "inference failed" in text
    _check_stream("services: inference backend away for 10 s", ok, run.cleaned, log, START, feed.end)
    _latency_ok(run.cleaned, run.data, range(feed.end - 6, feed.end - 1))
