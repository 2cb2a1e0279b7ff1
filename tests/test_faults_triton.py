"""Faults of the Triton server while the cleaner uses it: a hung server, a version unloaded mid-stream.

The real Triton server (``servers/triton/serve.sh``: python backend, poll mode)
serves a copy of the exporter's model repository (production 1, canary 2);
``deepclean-clean --backend triton`` cleans frames a :class:`LiveFeed` writes at
RATE frames a second, with the shipped client timeouts: ``inference_timeout``
(2 s) per gRPC call, after a failure every call of the next 5 s fails at once
(``TritonConnection.retry_interval``), then the server is tried again. A second
whose slot cannot be predicted is written raw with that slot's no-model bit.

What must hold: the fault's seconds are raw with exactly the no-model bit of the
slots it reaches, the stream never waits longer than a call's timeout, cleaning
comes back once the server answers, and every second is written exactly once.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import verdict
from fault_frames import STRAIN, LiveFeed, cleaned_seconds, dq_table, dq_word, log_lines, strain_path, writes_per_second
from fault_services import MODEL_NAME, ROOT, Layout, cleaner_command, layout, write_config

from deepclean.frames import read_frame
from deepclean.testing.processes import free_port, start, stop, wait_for

TRITON = ROOT / ".venvs" / "triton-server" / "tritonserver" / "bin" / "tritonserver"
pytestmark = pytest.mark.skipif(
    not TRITON.exists(), reason="the Triton server environment is not built (./build.sh triton-server)"
)

START = 1400000000
RATE = 6.0
INFERENCE_TIMEOUT = 2.0  # the configuration's inference_timeout (seconds per gRPC call)
RETRY_INTERVAL = 5.0  # TritonConnection.retry_interval: calls fail at once this long after a failure
PRODUCTION, CANARY = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION", "H1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY"
PRODUCTION_VERSION = "H1:DEEPCLEAN-PRODUCTION_VERSION"
CLEANED, NO_MODEL, CANARY_SHIFT = 1, 4, 8  # docs/interfaces.md, "Cleaned frames"
CLEAN_BITS = CLEANED | CLEANED << CANARY_SHIFT
"""DQ of a second cleaned by both slots, nothing else."""
RAW_BOTH = NO_MODEL | NO_MODEL << CANARY_SHIFT
"""DQ of a second neither slot could predict: raw in both streams, the no-model bit in both."""
END_FLUSH = 2
"""The last seconds before stop_gps have no look-ahead: flushed raw with the input-gap bit."""


class TritonServer:
    """``servers/triton/serve.sh`` on a model repository, in a process group of its own (the server and the
    python backend's stub processes): stopping the group freezes the whole server."""

    def __init__(self, repository: Path, log: Path) -> None:
        self.grpc, self.http, metrics = free_port(), free_port(), free_port()
        serve = ROOT / "servers" / "triton" / "serve.sh"
        self.process = start(["bash", serve, repository, self.grpc, self.http, metrics], log)
        self.url = f"127.0.0.1:{self.grpc}"

    def version_ready(self, version: int) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"tritonserver exited with {self.process.returncode}")
        try:
            url = f"http://127.0.0.1:{self.http}/v2/models/{MODEL_NAME}/versions/{version}/ready"
            return urllib.request.urlopen(url, timeout=1).status == 200
        except OSError:
            return False

    def wait_ready(self, versions: tuple[int, ...], timeout: float = 120) -> None:
        wait_for(lambda: all(self.version_ready(v) for v in versions), timeout, f"Triton to serve versions {versions}")

    def signal(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def close(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)  # a stopped server cannot act on SIGTERM
        stop(self.process)


def _prepare(tmp_path: Path, model_repository: Path) -> tuple[Path, Path]:
    config = write_config(tmp_path, free_port(), clean={"strain_timeout": 2.0, "witness_timeout": 1.5})
    shutil.copytree(model_repository, layout(tmp_path).model_repository)
    return config, layout(tmp_path).model_repository


def _triton_cleaner(config: Path, triton: TritonServer, stop_gps: int, log: Path) -> subprocess.Popen:
    """deepclean-clean with the Triton backend and the configuration's client timeouts (safety gate off)."""
    command = cleaner_command(config, "--stop_gps", stop_gps, "--safety", "false", "--metrics_port", 0)
    command[command.index("embedded")] = "triton"
    return start([*command, "--triton_url", triton.url], log)


@dataclass
class TritonCleaning:
    """The cleaner cleaning a live feed through a Triton server; ``code`` is its exit code once stopped."""

    run: Layout
    log: Path
    triton: TritonServer
    feed: LiveFeed
    code: int | None = None


@contextlib.contextmanager
def _cleaning_through_triton(tmp_path: Path, model_repository: Path, seconds: int) -> Iterator[TritonCleaning]:
    """Production 1 and canary 2 served by Triton to the cleaner over a feed of ``seconds`` at RATE.

    Yields once ten seconds are cleaned through Triton, the feed running; then waits for the feed's end and
    for the cleaner to finish its span. On the way out the cleaner is stopped and the server closed.
    """
    config, repository = _prepare(tmp_path, model_repository)
    run = layout(tmp_path)
    triton = TritonServer(repository, tmp_path / "triton.log")
    log = tmp_path / "cleaner.log"
    cleaner = None
    try:
        triton.wait_ready((1, 2))
        cleaning = TritonCleaning(run, log, triton, LiveFeed(run.data, START, seconds, RATE))
        cleaner = _triton_cleaner(config, triton, cleaning.feed.end, log)
        wait_for(lambda: "cleaning from GPS" in log.read_text(), 60, "the cleaner to start")
        with cleaning.feed:
            wait_for(
                lambda: sum(dq_word(run.cleaned, g) == CLEAN_BITS for g in cleaned_seconds(run.cleaned)) >= 10,
                90,
                "ten seconds cleaned through Triton",
            )
            yield cleaning
            cleaning.feed.thread.join()
            wait_for(lambda: cleaner.poll() is not None, 90, "the cleaner to finish its span")
    finally:
        code = stop(cleaner) if cleaner is not None else None
        triton.close()
    cleaning.code = code


def _cleaned(run: Layout, gps: int) -> Path:
    return run.cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf"


def _is_raw(run: Layout, gps: int) -> bool:
    """Both cleaned streams of ``gps`` are its raw strain, sample for sample."""
    frame = read_frame(_cleaned(run, gps), [PRODUCTION, CANARY])
    raw = read_frame(strain_path(run.data, gps), [STRAIN])[STRAIN]
    return np.array_equal(frame[PRODUCTION], raw) and np.array_equal(frame[CANARY], raw)


def _written_at(run: Layout, gps: int) -> float:
    return _cleaned(run, gps).stat().st_mtime


def _lag(run: Layout, gps: int) -> float:
    """Seconds between the arrival of the strain frame after ``gps`` and the cleaned frame of ``gps``."""
    return _written_at(run, gps) - strain_path(run.data, gps + 1).stat().st_mtime


def _stream_checks(run: Layout, log: Path, end: int, code: int | None) -> tuple[dict[str, bool], tuple[int, int, int]]:
    """Every second of [START, end) written exactly once and the cleaner finished its span (exit 0); with the
    frames expected, written and written twice."""
    written = cleaned_seconds(run.cleaned)
    counts = writes_per_second(log)
    twice = sorted(gps for gps, n in counts.items() if n > 1)
    missing = sorted(set(range(START, end)) - set(written))
    checks = {
        "the cleaner finished its span (exit 0)": code == 0,
        f"every second of [{START}, {end}) on disk (missing {missing[:10]})": not missing
        and written == list(range(START, end)),
        f"no second written twice ({twice[:10]})": twice == [],
    }
    return checks, (end - START, len(written), len(twice))


def _verdict(fault: str, checks: dict[str, bool], counts: tuple[int | None, ...], context: str) -> None:
    """Record the triton fault in the summary (survived: every check held), then fail naming the checks that did not."""
    verdict(f"triton: {fault}", checks, f"{fault}\n{context}", counts)


def test_a_hung_triton_server_writes_raw_within_the_call_timeout_and_cleans_again_after_sigcont(
    tmp_path, model_repository
):
    """The whole server (and its python stubs) frozen with SIGSTOP for 12 s while it serves both slots.

    Within the call timeout (2 s) + 1.5 s of the freeze the cleaner writes raw with the no-model bit in both
    streams (nothing else: DQ exactly 0x404, the raw strain sample for sample) and the raw seconds are one run;
    no cleaned frame in the freeze is more than the call timeout + 2 s behind its input; after SIGCONT both
    slots clean again (DQ exactly 0x101) within the retry interval + 6 s of data; exactly one 'inference
    failed' and one 'inference recovered' line per slot; every second is written once and the last seconds
    are out within 1.5 s of their input again.
    """
    with _cleaning_through_triton(tmp_path, model_repository, 190) as cleaning:
        frozen = time.time()
        cleaning.triton.signal(signal.SIGSTOP)
        time.sleep(12.0)
        cleaning.triton.signal(signal.SIGCONT)
        thawed = time.time()
    run, log, feed, code = cleaning.run, cleaning.log, cleaning.feed, cleaning.code

    written = cleaned_seconds(run.cleaned)
    bits = {gps: dq_word(run.cleaned, gps) for gps in written}
    after_freeze = [gps for gps in written if _written_at(run, gps) > frozen]
    raw = [gps for gps in after_freeze if bits[gps] == RAW_BOTH]
    first_raw = raw[0] if raw else None
    in_freeze = [gps for gps in after_freeze if _written_at(run, gps) <= thawed]
    worst = max(in_freeze, key=lambda gps: _lag(run, gps)) if in_freeze else None
    # first second fully cleaned again after the last raw one, and how much data after SIGCONT that took
    cleaned_again = next((gps for gps in written if raw and gps > raw[-1] and bits[gps] == CLEAN_BITS), None)
    first_after_thaw = next((gps for gps in written if strain_path(run.data, gps).stat().st_mtime > thawed), None)
    checks, counts = _stream_checks(run, log, feed.end, code)
    checks.update(
        {
            "some seconds raw with DQ exactly 0x404 after the freeze": bool(raw),
            f"the first raw second ({first_raw}) written within {INFERENCE_TIMEOUT:g} s + 1.5 s of the freeze": (
                first_raw is not None and _written_at(run, first_raw) - frozen < INFERENCE_TIMEOUT + 1.5
            ),
            "every raw second is the raw strain in both streams": bool(raw) and all(_is_raw(run, g) for g in raw),
            f"no frame written in the freeze lags its input by more than {INFERENCE_TIMEOUT:g} + 2 s "
            f"(worst: {worst} at {_lag(run, worst) if worst else 0:.2f} s)": worst is not None
            and _lag(run, worst) < INFERENCE_TIMEOUT + 2.0,
            f"the raw seconds are one run with no cleaned second inside ({raw[:1]}..{raw[-1:]})": bool(raw)
            and all(bits[g] != CLEAN_BITS for g in range(raw[0], raw[-1] + 1)),
            f"cleaned again (0x101) within {RETRY_INTERVAL:g} s + 6 s of data after SIGCONT "
            f"(first after SIGCONT {first_after_thaw}, cleaned again {cleaned_again})": (
                cleaned_again is not None
                and first_after_thaw is not None
                and cleaned_again - first_after_thaw <= (RETRY_INTERVAL + 6) * RATE
            ),
            f"every second from {cleaned_again} to the flush at the end is 0x101": cleaned_again is not None
            and all(bits[g] == CLEAN_BITS for g in range(cleaned_again, feed.end - END_FLUSH)),
            **{
                f"one '{slot}: inference {what}' line": len(log_lines(log, f"{slot}: inference {what}")) == 1
                for slot in ("production", "canary")
                for what in ("failed", "recovered")
            },
            "the last 5 seconds out within 1.5 s of the next input": all(
                _lag(run, g) < 1.5 for g in range(feed.end - 6, feed.end - 1)
            ),
        }
    )
    window = range(raw[0] - 3, (cleaned_again or raw[-1]) + 3) if raw else range(START, START)
    _verdict(
        "server hung (SIGSTOP 12 s), then SIGCONT",
        checks,
        counts,
        f"DQ {dq_table(run.cleaned, window)}\nlog: {log_lines(log, 'inference')}",
    )


def _serve_versions(model_dir: Path, versions: tuple[int, ...]) -> None:
    """Rewrite config.pbtxt so that Triton (poll mode) loads exactly ``versions`` (atomically, as the exporter)."""
    config = model_dir / "config.pbtxt"
    text, count = re.subn(r"versions: \[[^\]]*\]", f"versions: [ {', '.join(map(str, versions))} ]", config.read_text())
    assert count == 1, f"no version policy in {config}"
    temporary = model_dir / ".config.pbtxt.tmp"
    temporary.write_text(text)
    temporary.replace(config)


@dataclass
class UnloadRun:
    """The cleaner's run over a stream during which Triton unloaded production's version 1 for a while."""

    run: Layout
    log: Path
    end: int
    code: int | None
    bits: dict[int, int | None]
    away: list[int]
    """Seconds whose input arrived while version 1 was unloaded (and no retry could have found it back)."""


@pytest.fixture(scope="module")
def unload_run(tmp_path_factory, model_repository) -> UnloadRun:
    """Production 1 and canary 2 served by Triton; version 1 unloaded (config.pbtxt serves only 2) for 10 s
    once ten seconds are cleaned, then served again."""
    tmp_path = tmp_path_factory.mktemp("triton-unload")
    model_dir = layout(tmp_path).model_dir
    with _cleaning_through_triton(tmp_path, model_repository, 150) as cleaning:
        _serve_versions(model_dir, (2,))
        wait_for(lambda: not cleaning.triton.version_ready(1), 30, "Triton to unload version 1")
        unloaded = time.time()
        time.sleep(10.0)
        _serve_versions(model_dir, (1, 2))
        cleaning.triton.wait_ready((1, 2), timeout=60)
        reloaded = time.time()
    run, log, feed, code = cleaning.run, cleaning.log, cleaning.feed, cleaning.code
    written = cleaned_seconds(run.cleaned)
    # the first second after the unload is left out (the call in flight may have been served), and so are
    # the last RETRY_INTERVAL s before version 1 was back (a retry then would find it loaded again)
    away = [
        gps
        for gps in written
        if unloaded + 1.0 < strain_path(run.data, gps).stat().st_mtime < reloaded - RETRY_INTERVAL
    ]
    return UnloadRun(run, log, feed.end, code, {gps: dq_word(run.cleaned, gps) for gps in written}, away)


def _slot_bits(word: int | None, shift: int) -> int | None:
    return None if word is None or word < 0 else (word >> shift) & 0xFF


def test_production_version_unloaded_by_triton_is_raw_with_the_no_model_bit_then_cleans_again(unload_run):
    """Triton unloads production's version 1 for 10 s, then loads it again.

    The cleaner logs the failure once for production, naming version 1; every production second while it
    is away is the raw strain with exactly the no-model bit, the version channel still naming 1; once it is
    back both slots clean again to the end of the span; every second is written exactly once.
    """
    r = unload_run
    production_raw = [gps for gps, word in r.bits.items() if _slot_bits(word, 0) == NO_MODEL]
    versions = {
        int(read_frame(_cleaned(r.run, gps), [PRODUCTION_VERSION])[PRODUCTION_VERSION][0]) for gps in production_raw
    }
    failed = log_lines(r.log, "production: inference failed")
    cleaned_again = next(
        (gps for gps in sorted(r.bits) if production_raw and gps > production_raw[-1] and r.bits[gps] == CLEAN_BITS),
        None,
    )
    checks, counts = _stream_checks(r.run, r.log, r.end, r.code)
    checks.update(
        {
            f"production raw, exactly the no-model bit, for every second while version 1 was away ({len(r.away)})": (
                bool(r.away) and all(gps in production_raw for gps in r.away)
            ),
            "production's raw seconds are the raw strain": bool(production_raw)
            and all(
                np.array_equal(
                    read_frame(_cleaned(r.run, g), [PRODUCTION])[PRODUCTION],
                    read_frame(strain_path(r.run.data, g), [STRAIN])[STRAIN],
                )
                for g in production_raw
            ),
            f"production's version channel still says 1 there ({sorted(versions)})": versions == {1},
            "one 'production: inference failed' line, naming version 1": len(failed) == 1 and "version 1" in failed[0],
            f"both slots clean again (0x101) once version 1 is back, from {cleaned_again} to the end": (
                cleaned_again is not None
                and all(r.bits[g] == CLEAN_BITS for g in range(cleaned_again, r.end - END_FLUSH))
            ),
            "one 'production: inference recovered' line": len(log_lines(r.log, "production: inference recovered")) == 1,
        }
    )
    window = range(production_raw[0] - 3, production_raw[-1] + 4) if production_raw else range(START, START)
    _verdict(
        "production version unloaded for 10 s, then loaded again",
        checks,
        counts,
        f"DQ {dq_table(r.run.cleaned, window)}\nlog: {log_lines(r.log, 'inference')}",
    )


def test_canary_keeps_cleaning_while_triton_has_unloaded_production_version(unload_run):
    """The canary's version 2 stays loaded while production's version 1 is unloaded: every canary second
    then is cleaned (exactly its cleaned bit), and the canary logs no inference failure."""
    r = unload_run
    not_clean = [gps for gps in r.away if _slot_bits(r.bits[gps], CANARY_SHIFT) != CLEANED]
    checks = {
        f"the canary cleaned every second while version 1 was away ({len(r.away)}; not: {not_clean[:8]})": bool(r.away)
        and not not_clean,
        "no 'canary: inference failed' line": not log_lines(r.log, "canary: inference failed"),
    }
    window = range(r.away[0] - 2, r.away[-1] + 3) if r.away else range(START, START)
    _verdict(
        "canary while production's version is unloaded",
        checks,
        (None, None, None),  # the frames are counted by the test above
        f"DQ {dq_table(r.run.cleaned, window)}\nlog: {log_lines(r.log, 'inference')}",
    )
