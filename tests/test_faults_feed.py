"""Faults of the feed's time: GPS going backwards, GPS and wall clock apart; and the suite restarted mid-stream.

``deepclean-clean`` (its own environment, embedded backend, the exporter's model
repository: production 1, canary 2) follows frames a feeder thread writes live.

- GPS backwards: after the cleaner has cleaned up to t, the feed replays
  ``[t - 20, t - 10]`` (new content, each file renamed over the one read) and
  later writes seconds it never wrote before (the seconds of an earlier dropped
  span, and seconds before the first one), then goes on forward. What was read
  first is what is cleaned (docs/interfaces.md, "Live frames"): no cleaned frame
  is rewritten or written twice, no frame is written for a second declared
  dropped, each replayed second is named once per stream in the log and counted
  in ``deepclean_cleaner_input_frames_replaced_total``, and the seconds after
  each jump are out as fast as any other.
- Clock skew: the feed's GPS an hour ahead of or behind the wall clock, with the
  witness frames landing just after their strain frames and one strain second
  dropped: waiting (for witnesses, for the next strain frame) is timed from the
  frames' arrival, never from GPS against the wall clock.
- The whole suite (``./run.sh --headless`` with the synthetic detector, trainer,
  exporter, cleaner, monitor) stopped with ``./run.sh stop`` and started again
  mid-stream: exactly one cleaned frame per strain second across the restart.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import verdict
from fault_frames import (
    WITNESSES,
    cleaned_path,
    cleaned_seconds,
    dq_table,
    dq_word,
    log_lines,
    synthetic_seconds,
    write_second,
    writes_per_second,
)
from fault_services import DETECTOR, ROOT, cleaner_command, layout, one_detector_typeo, write_config, write_typeo

from deepclean.frames import write_frame
from deepclean.testing.processes import free_port, processes_with, start, stop, wait_for

START = 1400000000
RATE = 6.0  # frames per second of wall time
CLEANED, NO_MODEL, INPUT_GAP, CANARY_SHIFT = 1, 4, 8, 8  # docs/interfaces.md, "Cleaned frames"
CLEAN_BITS = CLEANED | CLEANED << CANARY_SHIFT
"""DQ of a second cleaned in both streams, nothing else."""
END_FLUSH = 2
"""The last seconds before stop_gps have no look-ahead: they are flushed raw with the input-gap bit."""
GPS_EPOCH = 315964800  # Unix time of GPS 0
LEAP_SECONDS = 18  # GPS - UTC since 2017


def _verdict(fault: str, checks: dict[str, bool], counts: tuple[int | None, ...], context: str) -> None:
    """Record the feed fault in the summary (survived: every check held), then fail naming the checks that did not."""
    verdict(f"feed: {fault}", checks, f"{fault}\n{context}", counts)


def _signature(path: Path) -> tuple[int, int, str]:
    """What identifies one version of a cleaned frame: inode, modification time (ns) and content."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


def _metric(text: str, name: str, labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.split()[-1])
    return None


# ---------------------------------------------------------------- GPS going backwards

DROPPED = range(30, 34)
"""Offsets never written on the way forward: one dropped span (the strain timeout passes first)."""
BACK_AT = 70
"""After writing this offset the feed jumps back and replays REPLAYED, then goes on at BACK_AT + 1."""
REPLAYED = range(BACK_AT - 20, BACK_AT - 9)
"""t - 20 ... t - 10, all cleaned before the replay."""
LATE_AT = 100
"""After writing this offset the feed writes NEVER_SEEN, then goes on at LATE_AT + 1."""
NEVER_SEEN = [-3, -2, -1, *DROPPED]
"""Seconds the cleaner never read: before the first one, and the dropped span's."""
BACKWARDS_END = 130


@dataclass
class BackwardsRun:
    """The cleaner's run over a feed whose GPS went backwards twice."""

    root: Path
    """Where the configuration copy is (:func:`fault_services.layout`)."""
    log: Path
    code: int | None
    arrivals: dict[int, float] = field(default_factory=dict)
    """Wall time each forward strain frame landed (offset from START -> time)."""
    before_replay: dict[int, tuple] = field(default_factory=dict)
    """Signature of the cleaned frames of REPLAYED just before the replay."""
    cleaned_before_replay: int | None = None
    metrics: str = ""

    @property
    def cleaned(self) -> Path:
        return layout(self.root).cleaned


def _backwards_feed(result: BackwardsRun, data: Path) -> None:
    """Forward at RATE (skipping DROPPED); after BACK_AT the replay of REPLAYED, after LATE_AT the
    NEVER_SEEN seconds, each at RATE, with content of another seed; then forward again."""
    forward = synthetic_seconds(START, BACKWARDS_END)
    replay = synthetic_seconds(START - 3, BACKWARDS_END + 3, seed=7)

    def tick(gps: int, second: dict) -> float:
        write_second(data, gps, second)
        landed = time.time()
        time.sleep(1.0 / RATE)
        return landed

    for offset in range(10, BACKWARDS_END):
        if offset in DROPPED:
            continue
        result.arrivals[offset] = tick(START + offset, forward[START + offset])
        if offset == BACK_AT:
            newest = cleaned_seconds(result.cleaned)
            result.cleaned_before_replay = newest[-1] if newest else None
            result.before_replay = {
                o: _signature(cleaned_path(result.cleaned, START + o))
                for o in REPLAYED
                if cleaned_path(result.cleaned, START + o).exists()
            }
            for o in REPLAYED:
                tick(START + o, replay[START + o])
        if offset == LATE_AT:
            for o in NEVER_SEEN:
                tick(START + o, replay[START + o])


@pytest.fixture(scope="module")
def backwards(tmp_path_factory, model_repository) -> BackwardsRun:
    """The cleaner (strain timeout 5 s, as configured: a replay of 11 s at RATE is no drop) over the feed."""
    tmp = tmp_path_factory.mktemp("gps-backwards")
    config = write_config(tmp, free_port(), clean={"strain_timeout": 5.0, "witness_timeout": 1.5})
    shutil.copytree(model_repository, layout(tmp).model_repository)
    data = layout(tmp).data
    for gps, second in synthetic_seconds(START, 10).items():  # history on disk when the cleaner starts
        write_second(data, gps, second)
    log = tmp / "cleaner.log"
    port = free_port()
    result = BackwardsRun(tmp, log, None)
    span = ("--start_gps", START, "--stop_gps", START + BACKWARDS_END)
    cleaner = start(cleaner_command(config, "--safety", "false", *span, "--metrics_port", port), log)
    try:
        wait_for(lambda: "cleaning from GPS" in log.read_text(), 60, "the cleaner to start")

        def scrape() -> None:  # the metrics are served until the cleaner exits: keep the last answer
            while cleaner.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as answer:
                        result.metrics = answer.read().decode()
                except OSError:
                    pass
                time.sleep(0.5)

        scraper = threading.Thread(target=scrape, daemon=True)
        scraper.start()
        _backwards_feed(result, data)
        wait_for(lambda: cleaner.poll() is not None, 60, "the cleaner to finish its span")
        scraper.join(timeout=5)
    finally:
        result.code = stop(cleaner)
    return result


def _lag(r: BackwardsRun, offset: int) -> float:
    """Seconds from the arrival of the strain frame after ``offset`` to the cleaned frame of ``offset``."""
    return cleaned_path(r.cleaned, START + offset).stat().st_mtime - r.arrivals[offset + 1]


def test_gps_going_backwards_rewrites_nothing_and_the_stream_goes_on(backwards):
    """The feed replays t-20..t-10 (already cleaned) and later writes never-seen earlier seconds.

    Every forward second outside the dropped span is written exactly once (exit 0); no cleaned frame is ever
    written for a second the cleaner did not read (the dropped span, the seconds before the first); the cleaned
    frames of the replayed seconds are the very files written before the replay (inode, mtime, content); the
    six seconds after each jump are out within 1.5 s of the next strain frame, as in a stream without a jump.
    """
    r = backwards
    counts = writes_per_second(r.log)
    expected = [START + o for o in range(BACKWARDS_END) if o not in DROPPED]
    written = cleaned_seconds(r.cleaned)
    twice = sorted(gps for gps, n in counts.items() if n > 1)
    never = [START + o for o in NEVER_SEEN]
    after_jumps = [*range(BACK_AT + 1, BACK_AT + 7), *range(LATE_AT + 1, LATE_AT + 7)]
    slow = {START + o: round(_lag(r, o), 2) for o in after_jumps if _lag(r, o) >= 1.5}
    checks = {
        "the cleaner finished its span (exit 0)": r.code == 0,
        f"t = {r.cleaned_before_replay} had been cleaned, and all of t-20..t-10, before the replay": (
            r.cleaned_before_replay is not None
            and r.cleaned_before_replay >= START + REPLAYED[-1] + 1
            and sorted(r.before_replay) == list(REPLAYED)
        ),
        f"every forward second outside the dropped span on disk once ({len(expected)})": written == expected
        and sorted(counts) == expected,
        f"none written twice ({twice[:10]})": twice == [],
        f"never a frame or a write for the seconds never read {never}": all(
            not cleaned_path(r.cleaned, g).exists() and counts[g] == 0 for g in never
        ),
        "the cleaned frames of t-20..t-10 are the files written before the replay": all(
            _signature(cleaned_path(r.cleaned, START + o)) == r.before_replay.get(o) for o in REPLAYED
        ),
        f"the 6 seconds after each jump out within 1.5 s (slow: {slow})": not slow,
        f"one dropped span, 'GPS {START + DROPPED[0]}-{START + DROPPED[-1] + 1} dropped'": [
            line.split("GPS ")[1].split(" (")[0] for line in log_lines(r.log, " dropped (")
        ]
        == [f"{START + DROPPED[0]}-{START + DROPPED[-1] + 1} dropped"],
    }
    _verdict(
        "GPS backwards: replay of t-20..t-10, then never-seen seconds",
        checks,
        (len(expected), len(written), len(twice)),
        f"DQ {dq_table(r.cleaned, range(START + BACK_AT - 22, START + BACK_AT + 8))}",
    )


def test_each_replayed_second_is_logged_and_counted_once_per_stream(backwards):
    """Each replayed second is named by exactly one warning per stream ('GPS <t>: strain frame ... rewritten
    after it was read' and the same for the witness), no other second is reported, and
    deepclean_cleaner_input_frames_replaced_total counts 11 per stream."""
    r = backwards
    replayed = [START + o for o in REPLAYED]
    reported = {
        stream: [line for line in log_lines(r.log, f": {stream} frame ") if "rewritten after it was read" in line]
        for stream in ("strain", "witness")
    }
    named = {
        stream: sorted(int(line.split("GPS ")[1].split(":")[0]) for line in lines) for stream, lines in reported.items()
    }
    counters = {
        stream: _metric(r.metrics, "deepclean_cleaner_input_frames_replaced_total", f'stream="{stream}"')
        for stream in ("strain", "witness")
    }
    checks = {
        **{
            f"one {stream} warning per replayed second, naming it, and no other ({named[stream]})": named[stream]
            == replayed
            for stream in ("strain", "witness")
        },
        f"input_frames_replaced_total = {len(replayed)} per stream ({counters})": counters
        == {"strain": len(replayed), "witness": len(replayed)},
    }
    _verdict(
        "GPS backwards: replayed seconds logged and counted",
        checks,
        (None, None, None),
        "\n".join(line for lines in reported.values() for line in lines),
    )


def test_never_seen_earlier_seconds_are_logged_once_each(backwards):
    """Each earlier second the cleaner never read that turns up after the feed moved on (the dropped span's,
    those before the first) is named once in the log: the feed went backwards."""
    r = backwards
    lines = [line for line in r.log.read_text(errors="replace").splitlines() if " dropped (" not in line]
    named = {START + o: sum(f"GPS {START + o}" in line for line in lines) for o in NEVER_SEEN}
    _verdict(
        "GPS backwards over never-seen seconds: logged",
        {f"each never-seen second named once ({named})": set(named.values()) == {1}},
        (None, None, None),
        "",
    )


# ---------------------------------------------------------------- wall clock against GPS

SKEW_SECONDS = 70
SKEW_DROPPED = 40
"""Offset of the one strain second never written."""
WITNESS_DELAY = 0.1
"""Each witness frame lands this long after its strain frame (the cleaner waits for it: witness_timeout 1.5 s)."""


def _gps_now() -> int:
    return int(time.time()) - GPS_EPOCH + LEAP_SECONDS


def _write_stamped(path: Path, channels: dict, t0: int, mtime_skew: float) -> None:
    """Write a frame and rename it into place, its modification time ``mtime_skew`` s off this host's clock
    (as a file server whose clock is off stamps it)."""
    scratch = path.with_name(f".stamp-{path.name}")
    write_frame(scratch, channels, t0=t0)
    if mtime_skew:
        stamp = time.time() + mtime_skew
        os.utime(scratch, (stamp, stamp))
    scratch.rename(path)


def _skewed_run(tmp: Path, model_repository: Path, start_gps: int, mtime_skew: float) -> dict:
    """Feed SKEW_SECONDS from ``start_gps`` (10 as history) at RATE, witness WITNESS_DELAY s after strain, one
    strain second dropped; the cleaner cleans them. Returns what the checks need."""
    config = write_config(tmp, free_port(), clean={"strain_timeout": 2.0, "witness_timeout": 1.5})
    shutil.copytree(model_repository, layout(tmp).model_repository)
    data, cleaned, log = layout(tmp).data, layout(tmp).cleaned, tmp / "cleaner.log"
    seconds = synthetic_seconds(start_gps, SKEW_SECONDS)
    arrivals: dict[int, float] = {}
    stamped = functools.partial(_write_stamped, mtime_skew=mtime_skew)
    for gps in range(start_gps, start_gps + 10):
        write_second(data, gps, seconds[gps], write=stamped)
    end = start_gps + SKEW_SECONDS
    cleaner = start(
        cleaner_command(config, "--safety", "false", "--start_gps", start_gps, "--stop_gps", end, "--metrics_port", 0),
        log,
    )
    try:
        wait_for(lambda: "cleaning from GPS" in log.read_text(), 60, "the cleaner to start")
        # Live frames only once the history is read: a frame already there when the cleaner first looks
        # is dated by its stamp (docs/interfaces.md), whatever clock wrote it.
        wait_for(lambda: cleaned_path(cleaned, start_gps + 7).exists(), 60, "the history to be read")
        for gps in range(start_gps + 10, end):
            slot = time.monotonic()
            if gps != start_gps + SKEW_DROPPED:
                write_second(data, gps, seconds[gps], witness=False, write=stamped)
                arrivals[gps] = time.time()
                time.sleep(WITNESS_DELAY)
            write_second(data, gps, seconds[gps], strain=False, write=stamped)
            time.sleep(max(0.0, 1.0 / RATE - (time.monotonic() - slot)))
        wait_for(lambda: cleaner.poll() is not None, 60, "the cleaner to finish its span")
    finally:
        code = stop(cleaner)
    return {"cleaned": cleaned, "log": log, "code": code, "arrivals": arrivals, "end": end}


def _skew_checks(result: dict, start_gps: int) -> tuple[dict[str, bool], tuple[int, int, int], str]:
    """Every second but the dropped one once; one dropped line for it; no witness late; cleaned (0x101) away
    from the start-up and the drop; each second out within 1.5 s of the next strain frame's arrival, by the
    feeder's clock and by the cleaner's own account ('wrote ... (x s after its input arrived)')."""
    cleaned, log, arrivals, end = result["cleaned"], result["log"], result["arrivals"], result["end"]
    dropped = start_gps + SKEW_DROPPED
    expected = [g for g in range(start_gps, end) if g != dropped]
    written = cleaned_seconds(cleaned)
    counts = writes_per_second(log)
    twice = sorted(g for g, n in counts.items() if n > 1)
    steady = [*range(start_gps + 12, dropped - 3), *range(dropped + 10, end - END_FLUSH)]
    not_clean = [g for g in steady if dq_word(cleaned, g) != CLEAN_BITS]
    timed = [g for g in steady if g + 1 in arrivals]
    slow = {
        g: round(lag, 2) for g in timed if (lag := cleaned_path(cleaned, g).stat().st_mtime - arrivals[g + 1]) >= 1.5
    }
    reported = {
        int(line.split(" wrote H-H1_DEEPCLEAN-")[1].split("-")[0]): float(line.split(" (")[-1].split(" s after")[0])
        for line in log_lines(log, " s after its input arrived)")
    }
    misreported = {g: reported.get(g) for g in timed if not 0 <= reported.get(g, -1) < 2.5}
    spans = [line.split("GPS ")[1].split(" (")[0] for line in log_lines(log, " dropped (")]
    checks = {
        "the cleaner finished its span (exit 0)": result["code"] == 0,
        f"every second but {dropped} on disk once": written == expected and sorted(counts) == expected,
        f"none written twice ({twice[:10]})": twice == [],
        f"one dropped line, 'GPS {dropped}-{dropped + 1} dropped' ({spans})": spans
        == [f"{dropped}-{dropped + 1} dropped"],
        f"no witness declared late ({len(log_lines(log, 'witness frame late'))} lines)": not log_lines(
            log, "witness frame late"
        ),
        f"cleaned (0x101) away from the start and the drop (not: {not_clean[:10]})": not not_clean,
        f"each out within 1.5 s of the next strain frame's arrival (slow: {dict(list(slow.items())[:8])})": bool(timed)
        and not slow,
        f"the cleaner's own latency ('after its input arrived') under 2.5 s (not: {list(misreported.items())[:5]})": (
            bool(timed) and not misreported
        ),
    }
    context = f"DQ {dq_table(cleaned, range(start_gps + 8, start_gps + 24))}\nlate: {log_lines(log, 'late')[:3]}"
    return checks, (len(expected), len(written), len(twice)), context


@pytest.mark.parametrize("skew", [3600, -3600], ids=["gps-an-hour-ahead", "gps-an-hour-behind"])
def test_feed_gps_an_hour_off_the_wall_clock_is_cleaned_as_it_arrives(tmp_path, model_repository, skew):
    """The feed's GPS runs an hour ahead of (or behind) the wall clock: the witnesses landing 0.1 s after their
    strain are waited for (none late, cleaned 0x101), the one missing strain second is one dropped line after
    the strain timeout (not at once, not never), every other second is written once, and each within 1.5 s
    of the arrival of the next strain frame."""
    start_gps = _gps_now() + skew
    result = _skewed_run(tmp_path, model_repository, start_gps, mtime_skew=0.0)
    checks, counts, context = _skew_checks(result, start_gps)
    _verdict(f"GPS {skew:+d} s off the wall clock", checks, counts, context)


def test_frames_stamped_by_a_clock_an_hour_behind_are_cleaned_as_they_arrive(tmp_path, model_repository):
    """Frames whose modification times are an hour behind this host's clock (written through a file server
    whose clock is off) are treated like any live frame: witnesses 0.1 s after their strain are waited for,
    and the latency is counted from when they landed."""
    start_gps = _gps_now()
    result = _skewed_run(tmp_path, model_repository, start_gps, mtime_skew=-3600.0)
    checks, counts, context = _skew_checks(result, start_gps)
    _verdict("frame timestamps 3600 s behind this host's clock", checks, counts, context)


# ---------------------------------------------------------------- the suite restarted mid-stream

DETECTOR_SPEED = 4.0
DETECTOR_HISTORY = 16
MONITOR_WINDOWS = {  # short windows (as in test_faults_monitor.py): decisions within the first run's data
    "segment_seconds": 4,
    "window_seconds": 12,
    "min_seconds": 12,
    "sustain_seconds": 8,
    "rollback_sustain_seconds": 8,
    "settle_seconds": 8,
    "retry_initial_seconds": 0.2,
    "retry_max_seconds": 1.0,
    "report_interval": 5.0,
}


def _suite_config(directory: Path, model_repository: Path) -> Path:
    """The project's configuration in ``directory`` (every relative path lands there) for the cpu profile:
    DETECTOR alone on the four test witnesses, a free exporter port, no metrics ports or status pages, the
    detector at DETECTOR_SPEED x real time after DETECTOR_HISTORY s, always analysis ready and without truth
    frames, the embedded backend with frame writes logged, the monitor's windows short; the model repository
    starts as the exporter's (production 1, canary 2). The trainer keeps its cpu settings: it needs 1024 s of
    data, far more than the test makes, so it never trains."""
    typeo = one_detector_typeo(free_port())
    cpu = typeo.setdefault("profiles", {}).setdefault("cpu", {})
    overrides = {
        "detector": {
            "speed": DETECTOR_SPEED,
            "history": DETECTOR_HISTORY,
            "not_ready_interval": 0.0,
            "write_truth": False,
            "num_coupled": len(WITNESSES) - 1,  # the angular witnesses that modulate the mains coupling
        },
        "clean": {"backend": "embedded", "metrics_port": 0, "log_level": "DEBUG"},
        "monitor": {**MONITOR_WINDOWS, "metrics_port": 0, "status_port": 0},
        "train": {"mains_channel": WITNESSES[0], "metrics_port": 0},
        "status": {"status_port": 0},
    }
    for script, values in overrides.items():
        cpu.setdefault(script, {}).update(values)
    config = write_typeo(directory, typeo)
    shutil.copytree(model_repository, layout(directory).model_repository)
    return config


def _run_sh(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "run.sh"), *args], env=env, capture_output=True, text=True, timeout=300)


def _cleaned_count(run: Path) -> int:
    """Cleaned frames so far; fails at once, with the log, when a service of the suite cannot start."""
    for console in (run / "logs").glob("*.console.log"):
        if "configuration error" in (text := console.read_text(errors="replace")):
            pytest.fail(f"{console.name}:\n{text[-2000:]}")
    return len(cleaned_seconds(run / "cleaned" / DETECTOR))


def _decisions_from(content: bytes) -> list[dict]:
    """The records of a decision log's content (docs/interfaces.md, "Monitor outputs")."""
    return [json.loads(line) for line in content.decode().splitlines() if line.strip()]


def _decisions(path: Path) -> list[dict]:
    return _decisions_from(path.read_bytes()) if path.exists() else []


def test_suite_stopped_and_started_again_mid_stream_writes_every_second_once(tmp_path, model_repository):
    """``./run.sh stop`` and ``./run.sh --headless`` again while the synthetic detector runs at 4x real time.

    Every strain second from the first cleaned one to the last has exactly one cleaned frame, written once
    (the cleaner's log across both runs), and the restarted cleaner resumed right after the last frame of the
    first run; the decision log of the first run (holding at least one applied decision) is still the head of
    the file, every line JSON, no decision applied twice, every decision of the first run settled and the
    production pin the last one applied; pins.json is not damaged (no repair) and still names canary 2;
    nothing of the suite is left running between the runs or after them.
    """
    config = _suite_config(tmp_path, model_repository)
    env = {k: v for k, v in os.environ.items() if k != "DEEPCLEAN_EXPORTER_TOKEN"}
    env.update({"DEEPCLEAN_CONFIG": str(config), "DEEPCLEAN_PROFILE": "cpu"})
    files = layout(tmp_path)
    run = files.run
    cleaned, strain = files.cleaned, files.data / "llhoft"
    log = files.logs / f"cleaner-{DETECTOR}.console.log"
    decisions = files.decisions
    model_dir = files.model_dir
    try:
        started = _run_sh("--headless", env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        wait_for(
            lambda: _cleaned_count(run) >= 40 and decisions.exists() and '"event": "applied"' in decisions.read_text(),
            120,
            "40 cleaned frames and a decision applied (production 1 unpinned: its safety gate trips) in the first run",
        )
        stopped = _run_sh("stop", env=env)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        first_run = cleaned_seconds(cleaned)
        log_head = decisions.read_bytes() if decisions.exists() else b""
        left_between = processes_with(f"DEEPCLEAN_CONFIG={config}")
        restarted = _run_sh("--headless", env=env)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        wait_for(lambda: _cleaned_count(run) >= len(first_run) + 40, 120, "40 cleaned frames after the restart")
    finally:
        final = _run_sh("stop", env=env)
    left = processes_with(f"DEEPCLEAN_CONFIG={config}")

    written = cleaned_seconds(cleaned)
    strain_seconds = sorted(int(p.name.split("-")[2]) for p in strain.glob("H-H1_llhoft-*-1.gwf"))
    span = [g for g in strain_seconds if written and written[0] <= g <= written[-1]]
    counts = writes_per_second(log)
    twice = sorted(g for g, n in counts.items() if n > 1)
    missing = sorted(set(span) - set(written))
    resumed = log_lines(log, " cleaning from ")
    events = _decisions(decisions)
    settled = {e["id"]: e for e in events if e["event"] in ("applied", "rejected")}
    applied_ids = [e["id"] for e in events if e["event"] == "applied"]
    decided = [e for e in events if e["event"] == "decided"]
    first_ids = [e["id"] for e in _decisions_from(log_head) if e["event"] == "decided"]
    last_applied = next((d for d in reversed(decided) if settled.get(d["id"], {}).get("event") == "applied"), None)
    pending = [d for d in decided if d["id"] not in settled]
    pins = json.loads((model_dir / "pins.json").read_text())
    production_ok = {1 if last_applied is None else (last_applied["version"] or None)} | {
        d["version"] or None for d in pending
    }
    checks = {
        f"./run.sh stop ended every service between the runs ({left_between}) and at the end ({left})": not left_between
        and not left
        and final.returncode == 0,
        f"40 frames cleaned in the first run ({len(first_run)}), 40 more after it ({len(written)} in all)": (
            len(first_run) >= 40 and len(written) >= len(first_run) + 40
        ),
        f"two starts, the second at GPS {first_run[-1] + 1 if first_run else '?'}": len(resumed) == 2
        and bool(first_run)
        and f"cleaning from GPS {first_run[-1] + 1} " in resumed[1],
        f"every strain second in [{written[0] if written else '?'}, {written[-1] if written else '?'}] has its cleaned "
        f"frame (missing {missing[:10]})": bool(span) and not missing,
        "no cleaned frame without its strain second": set(written) <= set(strain_seconds),
        f"every cleaned frame written exactly once (twice: {twice[:10]})": not twice and sorted(counts) == written,
        "the first run's decision log is the head of the file": decisions.read_bytes().startswith(log_head)
        if decisions.exists()
        else not log_head,
        "no decision applied twice": len(applied_ids) == len(set(applied_ids)),
        f"the first run's decisions ({first_ids}) all settled": bool(first_ids)
        and all(i in settled for i in first_ids),
        f"production pin {pins.get('production')} is the last applied or a pending decision's ({production_ok})": (
            pins.get("production") in production_ok
        ),
        "pins.json not damaged, canary still 2": not (model_dir / "pins.json.damaged").exists()
        and pins.get("canary") == 2,
    }
    _verdict(
        "suite stopped and started again mid-stream (./run.sh)",
        checks,
        (len(span), len(written), len(twice)),
        f"starts: {resumed}\ndecisions: {[(e['event'], e.get('action'), e.get('version')) for e in events]}\n"
        f"stop: {final.stdout}{final.stderr}",
    )
