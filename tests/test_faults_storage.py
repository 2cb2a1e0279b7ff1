"""Storage faults: full disks, a read-only or damaged model repository, a crash between publish and pin.

Each test runs the real services (``deepclean-export`` behind waitress,
``deepclean-clean`` with the embedded backend) from their own environments on
a copy of the project's configuration, and injects the fault into their real
files: a small tmpfs filled up (``ENOSPC``), the model directory made
immutable, ``pins.json``, ``config.pbtxt`` or a model file overwritten, the
files an exporter crash leaves behind. What must hold: nothing half-written is
published, the pins stay what they were until a call can change them, the
exporter names the damage on ``/healthz`` and repairs it on the next change,
and the cleaner writes every second exactly once with the models it has.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest
import requests
from conftest import assert_checks, record_fault, verdict
from fault_frames import LiveFeed, cleaned_seconds, writes_per_second
from fault_services import (
    MODEL_NAME,
    VENVS,
    Exporter,
    auth,
    cleaner_command,
    layout,
    start_exporter,
    supervised,
    write_config,
    write_training_dir,
)

from deepclean.frames import FrameError, read_frame
from deepclean.testing.processes import free_port, start, stop, wait_for

START = 1400000000
RATE = 6.0
PRODUCTION = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION"
CANARY = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY"
PRODUCTION_VERSION = "H1:DEEPCLEAN-PRODUCTION_VERSION"
CANARY_VERSION = "H1:DEEPCLEAN-CANARY_VERSION"
DQ = "H1:DEEPCLEAN-DQ"
CLEANED_CHANNELS = {PRODUCTION: 16384, CANARY: 16384, PRODUCTION_VERSION: 16, CANARY_VERSION: 16, DQ: 16}
CLEAN = {"strain_timeout": 2.0, "witness_timeout": 1.5, "metrics_port": 0}


# ---------------------------------------------------------------- the faults


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (skips the test when this process may not mount)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs (needs root with CAP_SYS_ADMIN, e.g. a privileged container): "
            f"{mounted.stderr.strip() or mounted.returncode}"
        )
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)  # still busy: detach it


def _fill(directory: Path) -> Path:
    """A file in ``directory`` that takes every free byte of its file system; returns it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for chunk in (bytes(1 << 20), bytes(4096), bytes(1)):
            try:
                while os.write(fd, chunk):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return filler


def _immutable(path: Path, on: bool) -> None:
    """Make changes inside directory ``path`` fail (root ignores permissions: chattr +i), or work again."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)
    else:
        path.chmod(0o555 if on else 0o755)


def _damage_weights(onnx_path: Path) -> None:
    """Change a few bytes inside a weight tensor of ``onnx_path``: the file still loads, its checksum differs."""
    import onnx
    import onnxruntime

    data = bytearray(onnx_path.read_bytes())
    tensor = max(onnx.load(str(onnx_path)).graph.initializer, key=lambda t: len(t.raw_data))
    offset = data.find(tensor.raw_data)
    assert len(tensor.raw_data) >= 64 and offset >= 0, "no weight tensor found in the ONNX file"
    for i in range(offset + 16, offset + 48, 4):  # the low mantissa byte of eight float32 weights
        data[i] ^= 0x5A
    onnx_path.write_bytes(bytes(data))
    onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])  # loads as before


# ---------------------------------------------------------------- the services and their outputs


def _config(tmp_path: Path, model_repository: Path | None = None) -> tuple[Path, int]:
    """A configuration copy in ``tmp_path`` (exporter port, cleaner settings) and the fixture's repository."""
    port = free_port()
    config = write_config(tmp_path, port, clean=CLEAN)
    (tmp_path / "run" / "training").mkdir(parents=True)
    if model_repository is not None:
        shutil.copytree(model_repository, layout(tmp_path).model_repository, dirs_exist_ok=True)
    return config, port


@contextlib.contextmanager
def _exporter_on_a_small_disk(tmp_path: Path, model_repository: Path) -> Iterator[Exporter]:
    """The exporter on a copy of the fixture's repository in a tmpfs of 32 MiB; stopped on the way out."""
    config, port = _config(tmp_path)
    repository = layout(tmp_path).model_repository
    with _tmpfs(repository, "32m"):
        shutil.copytree(model_repository, repository, dirs_exist_ok=True)
        server = start_exporter(tmp_path, port, config)
        try:
            yield server
        finally:
            stop(server.process)


def _versions_on_disk(model_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit())


def _leftovers(model_dir: Path) -> list[str]:
    """Staging, half-pruned and temporary entries (``.staging-*``, ``.pruned-*``, ``.*.tmp``) in the model directory."""
    return sorted(
        p.name for p in model_dir.iterdir() if p.name.startswith((".staging", ".pruned")) or p.name.endswith(".tmp")
    )


def _put(url: str, slot: str, version: int | None) -> requests.Response:
    return requests.put(f"{url}/{slot}", json={"version": version}, headers=auth(), timeout=30)


def _export(url: str, training: Path) -> requests.Response:
    return requests.post(f"{url}/export", json={"training_dir": str(training)}, headers=auth(), timeout=120)


def _health(url: str) -> tuple[int, dict]:
    answer = requests.get(f"{url}/healthz", timeout=10)
    return answer.status_code, answer.json()


def _versions_in(cleaned: Path, gps: int) -> tuple[int, int]:
    """The production and canary versions recorded in the cleaned frame of ``gps``."""
    frame = read_frame(cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf", [PRODUCTION_VERSION, CANARY_VERSION])
    return int(frame[PRODUCTION_VERSION][0]), int(frame[CANARY_VERSION][0])


def _newest_production(cleaned: Path) -> int | None:
    written = cleaned_seconds(cleaned)
    return _versions_in(cleaned, written[-1])[0] if written else None


def _more_frames(cleaned: Path, count: int, timeout: float = 30) -> None:
    """Wait until ``count`` more cleaned frames than now are on disk."""
    before = len(cleaned_seconds(cleaned))
    wait_for(lambda: len(cleaned_seconds(cleaned)) >= before + count, timeout, f"{count} more cleaned frames")


def _stream(fault: str, survived: bool, written: list[int], log: Path, start_gps: int, end: int) -> None:
    """Every second of ``[start_gps, end)`` written once, none twice; recorded in the summary."""
    expected = list(range(start_gps, end))
    twice = sorted(gps for gps, n in writes_per_second(log).items() if n > 1)
    record_fault(fault, survived and written == expected and not twice, len(expected), len(written), len(twice))
    assert written == expected, (
        f"missing {sorted(set(expected) - set(written))}, extra {sorted(set(written) - set(expected))}"
    )
    assert twice == [], f"written twice: {twice}"


def _start_cleaner(
    config: Path, feed: LiveFeed, cleaned: Path, log: Path, under_supervisor: Path | None = None
) -> subprocess.Popen:
    """deepclean-clean over ``feed`` (to its end, safety gate off), once it has cleaned the feed's history
    into ``cleaned``.

    The feed is started only then, so its seconds are spent on the fault, not on the cleaner's start-up.
    """
    command = cleaner_command(config, "--stop_gps", feed.end, "--safety", "false")
    if under_supervisor is None:
        cleaner = start(command, log)
    else:
        cleaner = start(supervised("cleaner", command, under_supervisor), under_supervisor / "out.log")

    def started() -> bool:
        if cleaner.poll() is not None:
            pytest.fail(f"the cleaner exited with {cleaner.returncode}:\n{log.read_text()[-2000:]}")
        return bool(cleaned_seconds(cleaned))

    try:
        wait_for(started, 90, "the cleaner's first frames")
    except BaseException:
        stop(cleaner)
        raise
    return cleaner


def _finish(cleaner: subprocess.Popen, feed: LiveFeed, timeout: float = 90) -> int:
    """Let the feed end and the cleaner finish its span; returns the cleaner's exit code."""
    feed.thread.join()
    wait_for(lambda: cleaner.poll() is not None, timeout, "the cleaner to finish its span")
    return cleaner.returncode


class ExporterAndCleaner:
    """The exporter on a copy of the fixture's repository and, once :meth:`clean` is called, the cleaner over a
    feed of 120 s at RATE. Used as a context manager, which stops both on the way out."""

    def __init__(self, tmp_path: Path, model_repository: Path) -> None:
        self.config, port = _config(tmp_path, model_repository)
        self.server = start_exporter(tmp_path, port, self.config)
        self.cleaned = layout(tmp_path).cleaned
        self.feed = LiveFeed(layout(tmp_path).data, START, 120, RATE)
        self.log = tmp_path / "cleaner.log"
        self.cleaner: subprocess.Popen | None = None

    @property
    def model_dir(self) -> Path:
        return self.server.model_dir

    def clean(self) -> LiveFeed:
        """Start the cleaner (see :func:`_start_cleaner`); returns the feed, to be started as a context manager."""
        self.cleaner = _start_cleaner(self.config, self.feed, self.cleaned, self.log)
        return self.feed

    def finish(self) -> int:
        """Let the feed end and the cleaner finish its span; returns the cleaner's exit code."""
        return _finish(self.cleaner, self.feed)

    def verdict(self, fault: str, checks: dict[str, bool], code: int, detail: str) -> None:
        """Every second written once (:func:`_stream`; survived: also exit 0 and every check held), then the checks."""
        written = cleaned_seconds(self.cleaned)
        _stream(fault, code == 0 and all(checks.values()), written, self.log, START, self.feed.end)
        assert_checks(checks, detail)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.cleaner is not None:
            stop(self.cleaner)
        stop(self.server.process)


# ---------------------------------------------------------------- 1. cleaned frames: disk full


def test_cleaned_disk_full_for_6_s_loses_and_duplicates_nothing(tmp_path, model_repository):
    """The cleaned-frame file system full (ENOSPC) for 6 s: the cleaner retries naming the error, and every
    second ends up written once, every file readable, no temporary file left behind."""
    config, _ = _config(tmp_path, model_repository)
    run = layout(tmp_path)
    cleaned = run.cleaned
    log = tmp_path / "cleaner.log"
    with _tmpfs(cleaned, "64m"):
        feed = LiveFeed(run.data, START, 120, RATE)
        supervisor = _start_cleaner(config, feed, cleaned, log, under_supervisor=tmp_path)
        try:
            with feed:
                _more_frames(cleaned, 12)
                filler = _fill(cleaned)
                full_at = len(cleaned_seconds(cleaned))
                try:
                    time.sleep(6.0)
                    held = len(cleaned_seconds(cleaned)) <= full_at + 1  # one write may have been past its open
                finally:
                    filler.unlink()
                feed.thread.join()
                wait_for(lambda: supervisor.poll() is not None, 90, "the supervised cleaner to finish its span")
            code = supervisor.returncode
            written = cleaned_seconds(cleaned)
            unreadable = []
            for gps in written:
                try:
                    frame = read_frame(cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf", list(CLEANED_CHANNELS))
                except FrameError:
                    unreadable.append(gps)
                    continue
                if any(len(frame[c]) != n for c, n in CLEANED_CHANNELS.items()):
                    unreadable.append(gps)
            leftovers = sorted(p.name for p in cleaned.iterdir() if p.name.startswith("."))
        finally:
            stop(supervisor)
    text = log.read_text()
    named = "cannot write " in text and "No space left on device" in text
    restarted = "restarting" in text
    survived = code == 0 and named and held and not restarted and not unreadable and not leftovers
    _stream("storage: cleaned-frame disk full for 6 s", survived, written, log, START, feed.end)
    assert code == 0, text[-3000:]
    assert named, "the log does not name the write error (No space left on device)"
    assert held, "frames were written while the disk was full: the fault was not injected"
    assert not restarted, "a 6 s outage is retried, not a restart"
    assert unreadable == [], f"cleaned frames that cannot be read whole: {unreadable}"
    assert leftovers == [], f"temporary files left in the cleaned directory: {leftovers}"


# ---------------------------------------------------------------- 2. model repository: disk full


def test_model_repository_disk_full_publishes_nothing_then_exports(tmp_path, model_repository):
    """POST /export with the model repository's file system full: 503 naming the reason, no version, no
    staging directory, the pins as they were, /healthz ok; with space again the same POST makes the canary."""
    with _exporter_on_a_small_disk(tmp_path, model_repository) as server:
        model_dir = server.model_dir
        repository = model_dir.parent
        training = write_training_dir(server.training_root, "run-3", seed=3)
        pins_before = (model_dir / "pins.json").read_bytes()
        versions_before = _versions_on_disk(model_dir)
        filler = _fill(repository)
        full = _export(server.url, training)
        after_full = {
            "versions": _versions_on_disk(model_dir),
            "leftovers": _leftovers(model_dir),
            "pins": (model_dir / "pins.json").read_bytes() == pins_before,
            "health": _health(server.url),
            "listed": requests.get(f"{server.url}/versions", timeout=10).json(),
        }
        filler.unlink()
        again = _export(server.url, training)
        canary = requests.get(f"{server.url}/canary", timeout=10).json()["version"]
        production = requests.get(f"{server.url}/production", timeout=10).json()["version"]
        health_after = _health(server.url)
    checks = {
        "disk full: 503": full.status_code == 503,
        "the answer names the reason": "No space left on device" in full.json().get("error", ""),
        "no version published": after_full["versions"] == versions_before == [1, 2]
        and [v["version"] for v in after_full["listed"]["versions"]] == [1, 2],
        "no staging or temporary entry left": after_full["leftovers"] == [],
        "pins.json unchanged": after_full["pins"]
        and (after_full["listed"]["production"], after_full["listed"]["canary"]) == (1, 2),
        "/healthz still ok": after_full["health"] == (200, {"status": "ok"}),
        "with space again: 201, version 3": again.status_code == 201
        and again.json() == {"version": 3, "created": True},
        "version 3 is the canary, production unchanged": (canary, production) == (3, 1),
        "/healthz ok after": health_after == (200, {"status": "ok"}),
    }
    verdict(
        "storage: model repository disk full at export",
        checks,
        f"full {full.status_code} {full.text[:300]}; after {after_full}; "
        f"again {again.status_code} {again.text[:300]}; pins {production, canary}; health {health_after}",
    )


def _pages(directory: Path) -> int:
    """4 KiB pages the files of ``directory`` take on a tmpfs."""
    return sum(-(-p.stat().st_size // 4096) for p in directory.iterdir() if p.is_file())


def test_model_repository_disk_full_at_the_pin_update_withdraws_the_version(tmp_path, model_repository):
    """Room on the model repository's file system for the new version's files but not for pins.json:
    503, the version withdrawn (none published, nothing left), the pins as they were, /healthz ok."""
    with _exporter_on_a_small_disk(tmp_path, model_repository) as server:
        model_dir = server.model_dir
        repository = model_dir.parent
        training = write_training_dir(server.training_root, "run-3", seed=3)
        pins_before = {name: (model_dir / name).read_bytes() for name in ("pins.json", "pins.json.last-good")}
        filler = _fill(repository)
        # free exactly what a version's files take (same network, same sizes): the pin update is what fails
        with open(filler, "r+b") as f:
            f.truncate(filler.stat().st_size - _pages(model_dir / "2") * 4096)
        full = _export(server.url, training)
        after = {
            "versions": _versions_on_disk(model_dir),
            "leftovers": _leftovers(model_dir),
            "pins": {name: (model_dir / name).read_bytes() for name in pins_before} == pins_before,
            "health": _health(server.url),
        }
        filler.unlink()
        again = _export(server.url, training)
    log = server.log.read_text()
    checks = {
        "pin update on a full disk: 503": full.status_code == 503,
        "the version was written, then withdrawn": "could not be kept" in full.json().get("error", "")
        and "withdrawn" in log,
        "no version published, nothing left behind": after["versions"] == [1, 2] and after["leftovers"] == [],
        "pins.json and its last-good copy unchanged": after["pins"],
        "/healthz still ok": after["health"] == (200, {"status": "ok"}),
        "with space again: 201, version 3": again.status_code == 201
        and again.json() == {"version": 3, "created": True},
    }
    verdict(
        "storage: model repository disk full at the pin update",
        checks,
        f"full {full.status_code} {full.text[:300]}; after {after}; again {again.text[:200]}",
    )


# ---------------------------------------------------------------- 3. model repository: read-only


def test_read_only_model_repository_refuses_pins_while_the_cleaner_goes_on(tmp_path, model_repository):
    """The model directory unchangeable while exporter and cleaner run: PUT /production answers 503 and
    the pins stay; the cleaner keeps writing with its versions; once writable the PUT works and is followed."""
    with ExporterAndCleaner(tmp_path, model_repository) as services:
        cleaned, model_dir, url = services.cleaned, services.model_dir, services.server.url
        try:
            with services.clean():
                assert _newest_production(cleaned) == 1
                pins_before = (model_dir / "pins.json").read_bytes()
                _immutable(model_dir, True)
                try:
                    refused = _put(url, "production", 2)
                    pins_kept = (model_dir / "pins.json").read_bytes() == pins_before
                    served = requests.get(f"{url}/production", timeout=10).json()["version"]
                    _more_frames(cleaned, 12)
                    during = _newest_production(cleaned)
                finally:
                    _immutable(model_dir, False)
                pinned_at = max(cleaned_seconds(cleaned))
                accepted = _put(url, "production", 2)
                wait_for(lambda: _newest_production(cleaned) == 2, 30, "the cleaner to follow production version 2")
                code = services.finish()
            health = _health(url)
        finally:
            _immutable(model_dir, False)
    written = cleaned_seconds(cleaned)
    before_pin = {_versions_in(cleaned, gps)[0] for gps in written if gps <= pinned_at}
    checks = {
        "read-only: PUT /production 503": refused.status_code == 503,
        "the answer says the pins could not be written": "pins could not be written" in refused.json().get("error", ""),
        "pins.json unchanged, production still 1": pins_kept and served == 1,
        "the cleaner kept writing with version 1": during == 1 and before_pin == {1},
        "writable again: PUT 200": accepted.status_code == 200 and accepted.json() == {"version": 2},
        "the cleaner follows it to the end": _versions_in(cleaned, written[-1])[0] == 2,
        "/healthz ok": health == (200, {"status": "ok"}),
    }
    services.verdict(
        "storage: model repository read-only at a pin change",
        checks,
        code,
        f"refused {refused.status_code} {refused.text[:300]}; served {served}; during {during}; "
        f"versions before the pin {before_pin}; accepted {accepted.status_code} {accepted.text[:200]}; health {health}",
    )


# ---------------------------------------------------------------- 4. pins.json damaged


def test_damaged_pins_keep_the_cleaner_going_and_the_next_pin_repairs_them(tmp_path, model_repository):
    """pins.json overwritten with broken JSON while exporter and cleaner run: the cleaner logs it and keeps
    cleaning with production version 1, /healthz answers 503 naming pins.json, and PUT /production repairs
    the pins (200, the damaged file kept aside) and the cleaner follows the new production."""
    with ExporterAndCleaner(tmp_path, model_repository) as services:
        cleaned, model_dir, url, log = services.cleaned, services.model_dir, services.server.url, services.log
        with services.clean():
            assert _newest_production(cleaned) == 1
            damaged_at = max(cleaned_seconds(cleaned))
            (model_dir / "pins.json").write_text('{"production": 2, "canary": ')  # a write cut short
            wait_for(lambda: "cannot read the pins" in log.read_text(), 20, "the cleaner to log the damaged pins")
            health_damaged = _health(url)
            _more_frames(cleaned, 12)
            pinned_at = max(cleaned_seconds(cleaned))
            repaired = _put(url, "production", 2)
            health_repaired = _health(url)
            pins = json.loads((model_dir / "pins.json").read_text())
            wait_for(lambda: _newest_production(cleaned) == 2, 30, "the cleaner to follow production version 2")
            code = services.finish()
    written = cleaned_seconds(cleaned)
    while_damaged = {_versions_in(cleaned, gps) for gps in written if damaged_at <= gps <= pinned_at}
    problems = health_damaged[1].get("problems", [])
    checks = {
        "the cleaner logged the damaged pins": "keeping the current models" in log.read_text(),
        "it kept production 1 (and canary 2) while they were damaged": while_damaged == {(1, 2)},
        f"/healthz 503 naming {MODEL_NAME}'s pins.json": health_damaged[0] == 503
        and health_damaged[1].get("status") == "damaged"
        and any(p.startswith(f"model '{MODEL_NAME}': pins.json") for p in problems),
        "PUT /production repaired them: 200": repaired.status_code == 200 and repaired.json() == {"version": 2},
        "the repaired pins: production 2 after 1, canary 2": (pins["production"], pins["canary"], pins["history"])
        == (2, 2, [1, 2]),
        "the damaged file kept as pins.json.damaged": (model_dir / "pins.json.damaged").exists(),
        "/healthz ok after the repair": health_repaired == (200, {"status": "ok"}),
        "the cleaner follows the new production": _versions_in(cleaned, written[-1]) == (2, 2),
    }
    services.verdict(
        "storage: pins.json damaged while the services run",
        checks,
        code,
        f"versions while damaged {while_damaged}; health {health_damaged}; repaired {repaired.status_code} "
        f"{repaired.text[:300]}; pins {pins}; health after {health_repaired}",
    )


# ---------------------------------------------------------------- 5. config.pbtxt damaged


def _parse_config(text: str) -> tuple[bool, str]:
    """Whether Triton's ModelConfig (the exporter's pbtxt_check, tritonclient's protobuf) accepts ``text``."""
    code = (
        "import sys\n"
        "from deepclean_exporter.pbtxt_check import parse_model_config\n"
        "config = parse_model_config(sys.stdin.read())\n"
        "print(config.name, list(config.version_policy.specific.versions))\n"
    )
    result = subprocess.run(
        [VENVS / "exporter" / "bin" / "python", "-c", code], input=text, capture_output=True, text=True, check=False
    )
    return result.returncode == 0, (result.stdout or result.stderr).strip()[-500:]


def test_damaged_config_is_reported_and_rewritten_by_the_next_pin_change(tmp_path, model_repository):
    """config.pbtxt overwritten with text Triton refuses: /healthz answers 503 naming it; the next pin
    change rewrites a config Triton's ModelConfig parser accepts, loading the pinned and newest versions;
    /healthz ok again."""
    config, port = _config(tmp_path, model_repository)
    server = start_exporter(tmp_path, port, config)
    config_path = server.model_dir / "config.pbtxt"
    try:
        good, _ = _parse_config(config_path.read_text())
        config_path.write_text(f'name: "{MODEL_NAME}"\nplatform: "python"\ninput [ {{ name: "witness" data_type: ')
        refused_before, _ = _parse_config(config_path.read_text())
        health_damaged = _health(server.url)
        pinned = _put(server.url, "canary", 1)
        parsed, detail = _parse_config(config_path.read_text())
        health_after = _health(server.url)
    finally:
        stop(server.process)
    problems = health_damaged[1].get("problems", [])
    checks = {
        "the fault is real: Triton's parser accepted the original and refuses the damaged text": good
        and not refused_before,
        "/healthz 503 naming config.pbtxt": health_damaged[0] == 503 and any("config.pbtxt" in p for p in problems),
        "PUT /canary 200": pinned.status_code == 200 and pinned.json() == {"version": 1},
        # the versions Triton keeps loaded: production and canary (1) and the newest (2)
        "the rewritten config parses, loading versions 1 and 2": parsed and detail == f"{MODEL_NAME} [1, 2]",
        "/healthz ok after": health_after == (200, {"status": "ok"}),
    }
    verdict(
        "storage: config.pbtxt damaged",
        checks,
        f"health {health_damaged}; pin {pinned.status_code} {pinned.text[:300]}; parse {detail}; "
        f"health after {health_after}",
    )


# ---------------------------------------------------------------- 6. crash between publish and pin


def test_version_published_before_a_crash_becomes_the_canary_and_is_not_exported_twice(tmp_path, model_repository):
    """What an exporter dying between publishing version 3 and updating the pins leaves (version 3 on
    disk; pins.json, its last-good copy and config.pbtxt as before): the restarted exporter makes version 3
    the canary, and exporting the same training directory again answers 200 with version 3."""
    config, port = _config(tmp_path, model_repository)
    model_dir = layout(tmp_path).model_dir
    kept = {name: (model_dir / name).read_bytes() for name in ("pins.json", "pins.json.last-good", "config.pbtxt")}
    server = start_exporter(tmp_path, port, config)
    try:
        training = write_training_dir(server.training_root, "run-3", seed=3)
        first = _export(server.url, training)
        assert first.status_code == 201 and first.json()["version"] == 3, first.text
    finally:
        stop(server.process)
    for name, content in kept.items():  # the pin update and the config rewrite never happened
        (model_dir / name).write_bytes(content)
    offered = json.loads(kept["pins.json"])["offered"]
    assert offered == 2 and _versions_on_disk(model_dir) == [1, 2, 3]

    server = start_exporter(tmp_path, port, config, log_name="exporter-restarted.log")
    try:
        listed = requests.get(f"{server.url}/versions", timeout=10).json()
        health = _health(server.url)
        again = _export(server.url, training)
        after = requests.get(f"{server.url}/versions", timeout=10).json()
    finally:
        stop(server.process)
    restarted_log = server.log.read_text()
    checks = {
        "the restart makes version 3 the canary, production unchanged": (listed["production"], listed["canary"])
        == (1, 3),
        "with a log line": "version 3 was published but never made the canary" in restarted_log,
        "config.pbtxt rewritten for it (/healthz ok)": health == (200, {"status": "ok"}),
        "the same export again: 200 with version 3": again.status_code == 200
        and again.json() == {"version": 3, "created": False},
        "no second version": [v["version"] for v in after["versions"]] == [1, 2, 3]
        and _versions_on_disk(model_dir) == [1, 2, 3],
        "the pins unchanged by it": (after["production"], after["canary"]) == (1, 3),
    }
    verdict(
        "storage: exporter crash between publish and pin update",
        checks,
        f"listed {listed['production'], listed['canary']}; health {health}; "
        f"again {again.status_code} {again.text[:300]}; after {after['production'], after['canary']} "
        f"{[v['version'] for v in after['versions']]}",
    )


# ---------------------------------------------------------------- 7. a model file damaged on disk


def test_damaged_model_file_pinned_as_production_is_refused_by_the_cleaner(tmp_path, model_repository):
    """model.onnx of version 1 (the rollback target, not loaded) altered in its weights so that onnxruntime
    still loads it, then pinned as production: the cleaner refuses it by name, keeps production version 2
    and keeps writing; GET /versions and /healthz show the mismatch."""
    with ExporterAndCleaner(tmp_path, model_repository) as services:
        cleaned, model_dir, url, log = services.cleaned, services.model_dir, services.server.url, services.log
        assert _put(url, "production", 2).status_code == 200  # production 2, canary 2; history [1, 2]
        with services.clean():
            assert _newest_production(cleaned) == 2
            _damage_weights(model_dir / "1" / "model.onnx")
            pinned_at = max(cleaned_seconds(cleaned))
            rollback = _put(url, "production", 1)
            wait_for(lambda: "cannot use model version 1" in log.read_text(), 20, "the cleaner to refuse version 1")
            _more_frames(cleaned, 12)
            listed = requests.get(f"{url}/versions", timeout=10).json()
            health = _health(url)
            code = services.finish()
    written = cleaned_seconds(cleaned)
    after_pin = {_versions_in(cleaned, gps)[0] for gps in written if gps > pinned_at}
    integrity = {v["version"]: v["integrity"] for v in listed["versions"]}
    refusal = [line for line in log.read_text().splitlines() if "cannot use model version 1" in line]
    checks = {
        "the rollback pin is accepted by the exporter": rollback.status_code == 200,
        "the cleaner refuses it by name": bool(refusal) and "model.onnx of version 1 is damaged" in refusal[0],
        "production version 2 kept to the end": after_pin == {2},
        "GET /versions: version 1 mismatched, version 2 ok": "model.onnx of version 1 is damaged" in integrity[1]
        and integrity[2] == "ok",
        "/healthz 503 naming it": health[0] == 503
        and any("model.onnx of version 1 is damaged" in p for p in health[1].get("problems", [])),
    }
    services.verdict(
        "storage: production model file damaged on disk",
        checks,
        code,
        f"rollback {rollback.status_code} {rollback.text[:200]}; refusal {refusal[:1]}; production "
        f"after the pin {after_pin}; integrity {integrity}; health {health}",
    )


# ---------------------------------------------------------------- the pins' repair copy unwritable


def test_unwritable_last_good_copy_leaves_the_answer_and_the_pins_in_agreement(tmp_path, model_repository):
    """pins.json.last-good cannot be replaced (immutable; as when the disk fills between the two writes):
    whatever PUT /production and POST /export answer, pins.json agrees with it and names only versions on disk."""
    if os.geteuid() != 0:
        pytest.skip("making one file unreplaceable needs root (chattr +i)")
    config, port = _config(tmp_path, model_repository)
    server = start_exporter(tmp_path, port, config)
    model_dir = server.model_dir
    last_good = model_dir / "pins.json.last-good"

    def pins() -> dict:
        return json.loads((model_dir / "pins.json").read_text())

    try:
        before = pins()
        subprocess.run(["chattr", "+i", str(last_good)], check=True)
        try:
            put = _put(server.url, "production", 2)
            after_put = pins()
            training = write_training_dir(server.training_root, "run-3", seed=3)
            export = _export(server.url, training)
            after_export = pins()
            on_disk = _versions_on_disk(model_dir)
        finally:
            subprocess.run(["chattr", "-i", str(last_good)], check=True)
    finally:
        stop(server.process)
    checks = {
        "PUT /production: 200 with production 2, or 503 with pins.json unchanged": (
            put.status_code == 200 and after_put["production"] == 2
        )
        or (put.status_code == 503 and after_put == before),
        "POST /export: 201 with version 3 the canary, or 503 with pins.json unchanged": (
            export.status_code == 201 and after_export["canary"] == 3 and 3 in on_disk
        )
        or (export.status_code == 503 and after_export == after_put),
        "pins.json names only versions on disk": {after_export["production"], after_export["canary"]} - {None}
        <= set(on_disk),
    }
    verdict(
        "storage: pins.json.last-good unwritable at a pin change",
        checks,
        f"PUT {put.status_code} {put.text[:200]} -> {after_put}; POST {export.status_code} "
        f"{export.text[:200]} -> {after_export}; versions on disk {on_disk}",
    )
