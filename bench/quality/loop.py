"""Quality benchmark in loop mode: the suite as shipped, live on a replay of synthetic data.

For each scenario (``--scenarios``) the whole suite runs in its own working
directory ``<out>/loop/<scenario>/`` and is scored on the production channel
of its cleaned frames::

    <out>/loop/<scenario>/pyproject.toml      the project's configuration for H1 alone, every path
         |                                    inside this directory, its own exporter port, metrics
         |                                    ports and status pages off, detector: scenario, speed,
         |                                    history, coupling step
         v
    DEEPCLEAN_CONFIG=... DEEPCLEAN_PROFILE=cpu ./run.sh --headless
         detector: history at once, then --stream-seconds at --speed x real time
         trainer (retrains every cadence) -> exporter (canary) -> cleaner -> monitor (promotes)
         v                                   ... until the stream is written, then ./run.sh stop
    score: the last --score-seconds with cleaned frames, production channel against the truth
           (metrics.py), DQ seconds, removal per 64 s since the first production second (recovery
           after a coupling step), training cycles, promotions and rollbacks, the cleaner's lag

Prints a table per scenario and a summary, writes ``<out>/loop/<scenario>/loop.json``
and ``<out>/loop/summary.json``. Run it with the library environment:
``.venvs/library/bin/python bench/quality/loop.py --help``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import metrics  # noqa: E402
from common import add_suite_options, argument_parser, log  # noqa: E402
from deepclean_method import DQ_CLEANED, DQ_FALLBACK  # noqa: E402

from deepclean.cleaned_frames import (  # noqa: E402
    INPUT_GAP,
    NARROWED,
    NO_MODEL,
    NOT_ANALYSIS_READY,
    CleanedChannelNames,
    configured_channel_names,
)
from deepclean.config import load_table  # noqa: E402
from deepclean.entry_point import log_file  # noqa: E402
from deepclean.figures import BinPowers, judge_bins, range_lost, removed_fraction  # noqa: E402
from deepclean.frames import FrameError, FrameName, list_frames, read_frame  # noqa: E402
from deepclean.synthetic import scenarios as scenarios_module  # noqa: E402

detector_main = importlib.import_module("deepclean_tools.detector.main")  # the module (its main() and current_gps())
ROOT = Path(__file__).resolve().parents[2]
PROFILE = "cpu"
DQ_NO_MODEL, DQ_INPUT_GAP, DQ_NOT_READY = NO_MODEL, INPUT_GAP, NOT_ANALYSIS_READY  # production bits
TRUTH_TAG, TRUTH_CHANNEL = "llnoise", "H1:SYN-INJECTED_NOISE"
WINDOW_SECONDS = 64
RECOVERED = 0.95
STALL_SECONDS = 300.0  # no new data frame for this long (wall): the loop is broken
DETECTOR = "H1"
"""The detector the loop runs and scores (the truth channel is its): the configuration copy lists it alone."""
BASE_DIRS = {  # [tool.typeo.base] key -> place inside the working directory; the detector's own directories
    "run_dir": "run",  # (run/data/H1/llhoft, run/cleaned/H1, ...) are made from these in pyproject.toml
    "data_dir": "run/data",
    "training_root": "run/training",
    "model_repository": "run/model-repo",
    "exporter_token_file": "run/exporter.token",
    "log_dir": "run/logs",
}


class LoopError(RuntimeError):
    """The loop could not be run or scored; the message says where to look."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--scenarios", nargs="+", default=["baseline"], help="synthetic detector scenarios ('all': the whole library)"
    )
    add_suite_options(parser, speed=4.0, out=ROOT / "bench" / "out" / "quality", nice=10)
    for flag, kind, default, meaning in (
        ("--stream-seconds", int, 3072, "seconds streamed after the history (default 3072)"),
        ("--score-seconds", int, 1024, "the last seconds with cleaned frames that are scored (default 1024)"),
        ("--timeout", float, None, "wall seconds to wait for the stream (default 900 + 3 x stream/speed)"),
    ):
        parser.add_argument(flag, type=kind, default=default, help=meaning)
    parser.add_argument("--keep", action="store_true", help="keep the data and cleaned frames (~0.6 MB per second)")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="SCRIPT.KEY=VALUE",
        nargs="+",
        default=[],
        type=override,
        help="set a service's key in the configuration copy, whatever the profile (VALUE in TOML: "
        "train.retrain_cadence=256, monitor.margin=0.05)",
    )
    args = parser.parse_args(argv)
    if args.score_seconds < WINDOW_SECONDS or args.stream_seconds < args.score_seconds:
        parser.error(f"need {WINDOW_SECONDS} <= --score-seconds <= --stream-seconds")
    if args.speed <= 0 or args.history < 0:
        parser.error("--speed must be positive and --history non-negative")
    return args


# ---------------------------------------------------------------- configuration


def override(text: str) -> tuple[str, str, Any]:
    """``SCRIPT.KEY=VALUE`` (VALUE in TOML) as ``(script, key, value)``."""
    match = re.fullmatch(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)=(.+)", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected SCRIPT.KEY=VALUE, got {text!r}")
    try:
        value = tomllib.loads(f"value = {match.group(3)}")["value"]
    except tomllib.TOMLDecodeError:
        value = match.group(3)  # a bare word: a string
    return match.group(1), match.group(2), value


def toml_text(data: dict[str, Any]) -> str:
    """``data`` (as tomllib reads it) as TOML text; comments are not kept."""

    def key(name: str) -> str:
        return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int):
            return str(item)
        if isinstance(item, float):
            return (
                repr(item) if math.isfinite(item) else ("nan" if math.isnan(item) else ("inf" if item > 0 else "-inf"))
            )
        if isinstance(item, str):
            return json.dumps(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(x) for x in item) + "]"
        if isinstance(item, dict):
            return "{" + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + "}"
        raise TypeError(f"cannot write {item!r} as TOML")

    lines: list[str] = []

    def table(path: list[str], content: dict[str, Any]) -> None:
        scalars = {k: v for k, v in content.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in content.items() if isinstance(v, dict)}
        if path and (scalars or not tables):
            lines.append("[" + ".".join(key(p) for p in path) + "]")
            lines.extend(f"{key(k)} = {value(v)}" for k, v in scalars.items())
            lines.append("")
        for name, sub in tables.items():
            table([*path, name], sub)

    table([], data)
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def has_step(scenario: str) -> bool:
    """Whether the scenario has a coupling step (its step_gps matters)."""
    mains = getattr(scenarios_module.scenario_config(scenario), "mains", None)
    return getattr(mains, "step_octaves", None) is not None


def write_config(work: Path, scenario: str, args: argparse.Namespace, step_gps: int | None) -> Path:
    """The project's configuration with every path in ``work``; the copy's path."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        data = tomllib.load(f)
    typeo = data["tool"]["typeo"]
    typeo["base"].update({name: str(work / place) for name, place in BASE_DIRS.items()})
    typeo["base"]["exporter_url"] = f"http://127.0.0.1:{free_port()}"
    if "detectors" in typeo["base"]:  # one trainer, one cleaner: the other detectors' would share the cores
        if DETECTOR not in typeo["base"]["detectors"]:
            raise LoopError(f"pyproject.toml configures no detector {DETECTOR}: {typeo['base']['detectors']}")
        typeo["base"]["detectors"] = [DETECTOR]
    scripts, profiles = typeo["scripts"], typeo.get("profiles", {})
    overlays = [table for table in typeo.get("detectors", {}).values() if isinstance(table, dict)]

    def script_value(script: str, name: str, item: Any) -> None:
        """Set in the script's table and drop from every profile's and detector's table of it, so that it holds
        whatever the profile and the detector."""
        scripts[script][name] = item
        for overlay in [*profiles.values(), *overlays]:
            overlay.get(script, {}).pop(name, None)

    detector_keys = set(inspect.signature(detector_main.main).parameters)
    script_value("detector", "speed", float(args.speed))
    script_value("detector", "history", int(args.history))
    if "scenario" in detector_keys:
        script_value("detector", "scenario", scenario)
    elif scenario != "baseline":
        raise LoopError(f"this detector has no 'scenario' setting: cannot run scenario {scenario!r}")
    if step_gps is not None:
        if "step_gps" not in detector_keys:
            raise LoopError(f"this detector has no 'step_gps' setting: cannot place the step of {scenario!r}")
        script_value("detector", "step_gps", int(step_gps))
    script_value("monitor", "metrics_port", 0)
    for script, port in (("clean", "metrics_port"), ("train", "metrics_port"), ("monitor", "status_port")):
        if port in scripts.get(script, {}):
            script_value(script, port, 0)
    if "status" in scripts:  # the page of every detector: any free port
        script_value("status", "status_port", 0)
    if "backend" in scripts.get("clean", {}):  # never a Triton server that serves someone else's repository
        script_value("clean", "backend", "embedded")
    for script, name, item in args.overrides:
        if script not in scripts:
            raise LoopError(f"--set {script}.{name}: no [tool.typeo.scripts.{script}] in pyproject.toml")
        script_value(script, name, item)

    config = work / "pyproject.toml"
    text = toml_text(data)
    if tomllib.loads(text) != data:
        raise LoopError("the configuration copy does not read back as written")
    config.write_text("# written by bench/quality/loop.py from the project's pyproject.toml\n" + text)
    for script in scripts:  # nothing may point outside the working directory
        for name, item in load_table(script, config, PROFILE).items():
            if isinstance(item, str) and item.startswith("/") and not Path(item).resolve().is_relative_to(work):
                raise LoopError(f"{config}: [{script}] {name} = {item} points outside {work}")
    detector = load_table("detector", config, PROFILE)
    if (float(detector["speed"]), int(detector["history"])) != (float(args.speed), int(args.history)):
        raise LoopError(f"{config}: the detector's speed/history did not take: {detector}")
    return config


# ---------------------------------------------------------------- the running suite


@dataclass(frozen=True)
class Work:
    """The working directory of one scenario and what the configuration puts there."""

    root: Path
    config: Path
    tables: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, root: Path, config: Path) -> Work:
        return cls(root, config, {s: load_table(s, config, PROFILE) for s in ("detector", "train", "clean", "monitor")})

    def path(self, script: str, name: str) -> Path:
        return Path(self.tables[script][name])

    def channels(self) -> CleanedChannelNames:
        """The cleaned frames' channel names: the contract's defaults unless the cleaner's table sets them."""
        return configured_channel_names(self.tables["clean"])

    def _stream(self, kind: str) -> tuple[str, str]:
        """Directory and tag of the ``kind`` frames: strain, cleaned or truth."""
        clean = self.tables["clean"]
        return {
            "strain": (clean["strain_dir"], clean["strain_tag"]),
            "cleaned": (clean["cleaned_dir"], clean["cleaned_tag"]),
            "truth": (self.tables["detector"]["truth_dir"], TRUTH_TAG),
        }[kind]

    def frames(self, kind: str) -> list[int]:
        """GPS seconds on disk of the ``kind`` frames, in order."""
        directory, tag = self._stream(kind)
        clean = self.tables["clean"]
        return [name.gps for name in list_frames(directory, clean["site"], clean["ifo"], tag)]

    def frame(self, kind: str, gps: int) -> Path:
        directory, tag = self._stream(kind)
        return FrameName(gps, self.tables["clean"]["site"], self.tables["clean"]["ifo"], tag).path(directory)

    def pins(self) -> dict[str, Any]:
        path = self.path("clean", "model_repository") / self.tables["clean"]["model_name"] / "pins.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}


class Suite:
    """``./run.sh --headless`` and ``./run.sh stop`` on one configuration copy."""

    def __init__(self, work: Work, niceness: int) -> None:
        self.work = work
        self.niceness = niceness
        self.env = dict(os.environ, DEEPCLEAN_CONFIG=str(work.config), DEEPCLEAN_PROFILE=PROFILE)
        self.log_path = work.root / "suite.log"

    def _run(self, command: list[str], timeout: float) -> subprocess.CompletedProcess:
        with open(self.log_path, "a") as out:
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            return subprocess.run(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )

    def start(self) -> None:
        command = ["./run.sh", "--headless"]
        if self.niceness:
            command = ["nice", "-n", str(self.niceness), *command]
        done = self._run(command, timeout=900)
        if done.returncode != 0:
            raise LoopError(f"./run.sh --headless failed (exit {done.returncode}); see {self.log_path}")

    def stop(self) -> None:
        done = self._run(["./run.sh", "stop"], timeout=180)
        if done.returncode != 0:
            log(f"./run.sh stop exited {done.returncode}; see {self.log_path}")


@dataclass
class StreamClock:
    """What the wait saw: the data written and when."""

    first_gps: int
    live_gps: int
    end_gps: int
    live_wall: float | None = None
    end_wall: float | None = None
    newest_at_end: int | None = None
    cleaned_at_end: int | None = None

    def kept_up(self, speed: float) -> dict[str, float | None]:
        """The detector's achieved speed once live, and how far the cleaner was behind at the end."""
        live = self.live_wall if self.live_wall is not None else self.end_wall
        lag = self.newest_at_end - self.cleaned_at_end if self.cleaned_at_end is not None else None
        return {
            "detector_speed": (self.newest_at_end - self.live_gps + 1) / (self.end_wall - live)
            if self.end_wall > live
            else None,
            "cleaner_lag_seconds": lag,
            "cleaner_lag_wall_seconds": lag / speed if lag is not None else None,
        }


def wait_for_stream(work: Work, args: argparse.Namespace, launched: float) -> StreamClock:
    """Wait until the detector has written ``--stream-seconds`` after its history."""
    timeout = args.timeout or 900.0 + 3.0 * args.stream_seconds / args.speed
    clock, last_newest, last_change, last_report = None, None, time.monotonic(), 0.0
    while True:
        now = time.monotonic()
        strain = work.frames("strain")
        if strain:
            if clock is None:  # the detector starts at its first frame; the history follows at once
                first = strain[0]
                clock = StreamClock(first, first + args.history, first + args.history + args.stream_seconds)
            newest = strain[-1]
            if clock.live_wall is None and newest >= clock.live_gps:
                clock.live_wall = now
                log(f"history written (GPS {clock.first_gps}-{clock.live_gps}) in {now - launched:.0f} s; live")
            if newest != last_newest:
                last_newest, last_change = newest, now
            if newest >= clock.end_gps - 1:  # the cleaned frames first, so that the lag is never understated
                cleaned = work.frames("cleaned")
                clock.cleaned_at_end = cleaned[-1] if cleaned else None
                clock.end_wall, clock.newest_at_end = time.monotonic(), work.frames("strain")[-1]
                return clock
            if now - last_report >= 60:
                cleaned = work.frames("cleaned")
                pins = work.pins()
                log(
                    f"data up to GPS {newest} ({newest - clock.live_gps:+d} s from live start, stream ends at "
                    f"{clock.end_gps}); cleaned up to {cleaned[-1] if cleaned else '-'}; "
                    f"production {pins.get('production')}, canary {pins.get('canary')}"
                )
                last_report = now
        if now - launched > timeout:
            raise LoopError(
                f"the stream was not written within {timeout:.0f} s; see the logs in {work.path('train', 'log_dir')}"
            )
        if now - last_change > STALL_SECONDS:
            raise LoopError(
                f"no new data frame for {STALL_SECONDS:.0f} s; see the logs in {work.path('train', 'log_dir')}"
            )
        time.sleep(2.0)


# ---------------------------------------------------------------- reading the frames


@dataclass
class Seconds:
    """Raw, production-cleaned and injected-noise strain of consecutive seconds, with DQ counts."""

    start: int
    raw: np.ndarray
    cleaned: np.ndarray
    truth: np.ndarray
    dq: dict[str, int]
    versions: list[int]
    written_cleaned: list[bool]
    """Per second: every sample carries the cleaned bit (no fallback, no model, no gap)."""


def read_seconds(work: Work, start: int, stop: int) -> Seconds:
    """The seconds ``[start, stop)`` of the production channel, the raw strain and the truth."""
    clean = work.tables["clean"]
    names = work.channels()
    strain_channel, production, dq_channel = clean["strain_channel"], names.production, names.dq
    version_channel = names.production_version
    raw, cleaned, truth, versions, written_cleaned = [], [], [], set(), []
    counts = {"cleaned": 0, "narrowed": 0, "safety_fallback": 0, "no_model": 0, "input_gap": 0, "not_ready": 0}
    for gps in range(start, stop):
        frame = read_frame(work.frame("cleaned", gps), [production, dq_channel, version_channel])
        raw.append(read_frame(work.frame("strain", gps), [strain_channel])[strain_channel])
        truth.append(read_frame(work.frame("truth", gps), [TRUTH_CHANNEL])[TRUTH_CHANNEL])
        cleaned.append(frame[production])
        dq = frame[dq_channel]
        written_cleaned.append(bool(np.all(dq & DQ_CLEANED)))
        counts["cleaned"] += int(written_cleaned[-1])
        for name, bit in (
            ("narrowed", NARROWED),
            ("safety_fallback", DQ_FALLBACK),
            ("no_model", DQ_NO_MODEL),
            ("input_gap", DQ_INPUT_GAP),
            ("not_ready", DQ_NOT_READY),
        ):
            counts[name] += int(np.any(dq & bit))
        versions.update(int(v) for v in np.unique(frame[version_channel]))
    return Seconds(
        start,
        np.concatenate(raw),
        np.concatenate(cleaned),
        np.concatenate(truth),
        counts,
        sorted(versions),
        written_cleaned,
    )


def scored_span(work: Work, seconds: int) -> tuple[int, int]:
    """The last ``seconds`` (or fewer) consecutive seconds with cleaned, raw and truth frames."""
    cleaned = work.frames("cleaned")
    if not cleaned:
        raise LoopError(f"the cleaner wrote no frame; see the logs in {work.path('train', 'log_dir')}")
    have = set(cleaned) & set(work.frames("strain")) & set(work.frames("truth"))
    end = max(have) + 1
    start = end
    while start - 1 in have and end - start < seconds:
        start -= 1
    return start, end


def first_production_second(work: Work, after: int, stop: int) -> int | None:
    """The first cleaned second from ``after`` on written with a production version."""
    channel = work.channels().production_version
    for gps in range(after, stop):
        path = work.frame("cleaned", gps)
        if path.exists() and np.any(read_frame(path, [channel])[channel] > 0):
            return gps
    return None


def windowed_removal(work: Work, first: int, stop: int, band: tuple[float, float], step_gps: int | None) -> list[dict]:
    """Removal of the production stream in 64 s windows from ``first`` (aligned on the step when there is one)."""
    rate = int(work.tables["clean"]["strain_sample_rate"])
    anchor = step_gps if step_gps is not None else first
    start = anchor + math.ceil((first - anchor) / WINDOW_SECONDS) * WINDOW_SECONDS
    windows = []
    for begin in range(start, stop - WINDOW_SECONDS + 1, WINDOW_SECONDS):
        try:
            data = read_seconds(work, begin, begin + WINDOW_SECONDS)
        except (OSError, FrameError) as exc:
            windows.append({"start": begin, "removed": None, "error": str(exc)})
            continue
        removed = removed_fraction(data.truth, data.raw - data.cleaned, rate, band, 4.0)
        windows.append({"start": begin, "removed": float(removed), "dq": data.dq, "versions": data.versions})
    return windows


def recovery(windows: list[dict], step_gps: int | None, first_production: int | None) -> dict | None:
    """How long after the step the per-64 s removal is back above 95 %."""
    if step_gps is None:
        return None
    if first_production is None or step_gps < first_production:
        return {"step_gps": step_gps, "seconds": None, "note": "step before the first production second"}
    after = [w for w in windows if w["start"] >= step_gps and w["removed"] is not None]
    back = next((w for w in after if w["removed"] >= RECOVERED), None)
    if not after:
        note = "no production window after the step"
    elif back is None:
        note = "not back above 95 % within the stream"
    elif back is after[0]:
        note = "never below 95 % in a 64 s window after the step"
    else:
        note = ""
    return {
        "step_gps": step_gps,
        "seconds": back["start"] + WINDOW_SECONDS - step_gps if back else None,  # 64 s resolution
        "lowest_after_step": min((w["removed"] for w in after), default=None),
        "below_after_step": sum(w["removed"] < RECOVERED for w in after),
        "windows_after_step": len(after),
        "note": note,
    }


# ---------------------------------------------------------------- what the services did


def training_cycles(work: Work) -> dict:
    """The trainer's cycles: complete training directories and the log's count of started ones."""
    root, directories = work.path("train", "training_root"), []
    for path in sorted(p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")) if root.exists() else []:
        try:
            meta = json.loads((path / "metadata.json").read_text())
        except (OSError, ValueError):
            continue
        exported = path / "exported.json"
        directories.append(
            {
                "name": path.name,
                "span": meta.get("span"),
                "training_seconds": meta.get("training_seconds"),
                "validation_band_asd_ratio": (meta.get("validation") or {}).get("band_asd_ratio"),
                "stop_reason": (meta.get("training") or {}).get("stop_reason"),
                "warm_start_from": (meta.get("training") or {}).get("warm_start_from"),
                "version": json.loads(exported.read_text()).get("version") if exported.exists() else None,
            }
        )
    directories.sort(key=lambda d: (d["span"] or {}).get("start", 0))
    trainer_log = log_file("trainer", work.path("train", "log_dir"), DETECTOR)
    text = trainer_log.read_text() if trainer_log.exists() else ""
    return {
        "completed": directories,
        "started": text.count("training cycle on GPS"),
        "interrupted": text.count("interrupted ("),
        "skipped": text.count(" skipped: "),
        "not_exported": text.count("not exported"),
    }


def decisions(work: Work) -> dict:
    """The monitor's applied promotions, rollbacks and unpins, in order."""
    path = Path(work.tables["monitor"]["decision_log"])
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    decided = {r["id"]: r for r in records if r.get("event") == "decided"}
    applied = [decided[r["id"]] for r in records if r.get("event") == "applied" and r.get("id") in decided]
    events = [
        {k: d.get(k) for k in ("action", "version", "previous", "gps", "reason", "time", "figures")} for d in applied
    ]
    return {
        "applied": events,
        "promoted": [e["version"] for e in events if e["action"] == "promote"],
        "rolled_back": [e["version"] for e in events if e["action"] == "rollback"],
        "unpinned": sum(e["action"] == "unpin" for e in events),
        "pending": [d["id"] for d in decided.values() if d not in applied],
    }


def trainer_pace(work: Work, cycles: dict, speed: float, newest: int) -> dict[str, float | None]:
    """The trainer's cycles against its cadence (both in wall seconds), and the age of the production model's data."""
    walls = [c["training_seconds"] for c in cycles["completed"] if c["training_seconds"] is not None]
    production = work.pins().get("production")
    spans = [c["span"] for c in cycles["completed"] if production is not None and c["version"] == production]
    return {
        "trainer_cycle_wall_seconds_mean": float(np.mean(walls)) if walls else None,
        "retrain_cadence_wall_seconds": float(work.tables["train"]["retrain_cadence"]) / speed,
        "production_data_age_seconds": newest - spans[0]["end"] if spans and spans[0] else None,
    }


# ---------------------------------------------------------------- targets


def unflagged_noise_windows(data: Seconds, rate: int, band: tuple[float, float], clean: dict[str, Any]) -> list[dict]:
    """Windows of the safety gate's length where the production stream added noise (the library's rule, the
    gate's settings) while some of their seconds were written as cleaned: what the gate should have caught."""
    window = int(clean["safety_window"])
    found = []
    for offset in range(0, len(data.written_cleaned) - window + 1, window):
        flagged_clean = sum(data.written_cleaned[offset : offset + window])
        if not flagged_clean:
            continue
        samples = slice(offset * rate, (offset + window) * rate)
        judgement = judge_bins(
            BinPowers.of_strain(data.raw[samples], data.cleaned[samples], rate),
            band,
            clean["safety_check_range"],
            sigma=float(clean["safety_sigma"]),
            min_excess=float(clean["safety_min_excess"]),
            band_tolerance=float(clean["safety_band_tolerance"]),
        )
        if not judgement.passed:
            found.append(
                {"start": data.start + offset, "seconds_written_cleaned": flagged_clean, "what": judgement.describe()}
            )
    return found


def decisions_onto_worse_than_raw(verdicts: dict) -> list[dict]:
    """Applied promotions and rollbacks whose target version's figures (as logged) were not better than raw."""
    bad = []
    for event in verdicts["applied"]:
        if event["action"] not in ("promote", "rollback"):
            continue
        figures = (event.get("figures") or {}).get(str(event["version"]))
        if not figures or not figures.get("better_than_raw"):
            bad.append(
                {"action": event["action"], "version": event["version"], "gps": event["gps"], "figures": figures}
            )
    return bad


def targets(summary: dict) -> dict[str, bool | None]:
    """The loop targets of the quality issue and the guard targets, PASS (True) or FAIL (False) each;
    None where the run cannot tell (no coupling step)."""
    q, rec = summary["production"], summary["recovery"]
    step_seconds = rec["seconds"] if rec else None
    return {
        # guards: what must hold whatever the quality
        "worst_bin_at_most_1.02": q["worst_out_of_band_ratio"] <= 1.02,
        "band_asd_at_most_1": q["band_asd_ratio"] <= 1.0,
        "range_not_below_raw": not range_lost(summary["raw"]["bns_range_mpc"], q["bns_range_mpc"]),
        "noise_added_only_with_fallback_bit": not summary["unflagged_noise_windows"],
        "no_decision_onto_worse_than_raw": not summary["decisions_onto_worse_than_raw"],
        # quality
        "removes_at_least_97_percent": q["removed_fraction"] >= 0.97,
        "recovers_80_percent_of_range_gap": (q["range_gap_recovered"] or 0.0) >= 0.80,
        "back_above_95_within_1024_s_of_step": (
            None if rec is None else step_seconds is not None and step_seconds <= 1024
        ),
    }


GUARD_TARGETS = (
    "worst_bin_at_most_1.02",
    "band_asd_at_most_1",
    "range_not_below_raw",
    "noise_added_only_with_fallback_bit",
    "no_decision_onto_worse_than_raw",
)


def targets_line(verdicts: dict[str, bool | None]) -> str:
    failed = [name for name, ok in verdicts.items() if ok is False]
    guards = "PASS" if all(verdicts[name] for name in GUARD_TARGETS) else "FAIL"
    return f"guards {guards}; " + ("all targets PASS" if not failed else "FAIL " + ", ".join(failed))


# ---------------------------------------------------------------- one scenario


def run_scenario(args: argparse.Namespace, scenario: str) -> dict:
    work_root = (args.out / "loop" / scenario).resolve()
    if (work_root / "pyproject.toml").exists():  # a run left behind: make sure nothing of it still runs
        Suite(Work(work_root, work_root / "pyproject.toml", {}), 0).stop()
    shutil.rmtree(work_root, ignore_errors=True)
    work_root.mkdir(parents=True)
    step = has_step(scenario)
    launch_gps = detector_main.current_gps()  # the detector's live start, give or take its start-up
    planned_step = launch_gps + args.stream_seconds // 2 if step else None
    work = Work.load(work_root, write_config(work_root, scenario, args, planned_step))
    suite = Suite(work, args.nice)
    log(
        f"[{scenario}] starting the suite in {work_root} (speed {args.speed:g}, history {args.history} s, "
        f"stream {args.stream_seconds} s" + (f", coupling step at GPS {planned_step}" if step else "") + ")"
    )
    began = time.monotonic()
    try:
        suite.start()
        clock = wait_for_stream(work, args, began)
    finally:
        stopping = time.monotonic()
        log(f"[{scenario}] stopping the suite")
        suite.stop()
    stopped = time.monotonic()

    log(f"[{scenario}] scoring")
    band = tuple(float(edge) for edge in work.tables["clean"]["band"])
    start, end = scored_span(work, args.score_seconds)
    rate = int(work.tables["clean"]["strain_sample_rate"])
    data = read_seconds(work, start, end)
    settings = metrics.Settings(sample_rate=rate, band=band)
    ref = metrics.reference(data.raw, data.truth, settings)
    quality, _ = metrics.measure(data.cleaned, data.raw, data.truth, settings, ref)
    verdicts = decisions(work)
    promotions = [e for e in verdicts["applied"] if e["action"] == "promote"]
    first_prod = first_production_second(work, int(promotions[0]["gps"]), end) if promotions else None
    windows = windowed_removal(work, first_prod, end, band, planned_step) if first_prod is not None else []
    cycles = training_cycles(work)
    summary = {
        "scenario": scenario,
        "command": " ".join(sys.argv),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version()},
        "settings": {
            "speed": args.speed,
            "history": args.history,
            "stream_seconds": args.stream_seconds,
            "score_seconds": args.score_seconds,
            "profile": PROFILE,
            "nice": args.nice,
            "band": band,
            "safety_window": int(work.tables["clean"]["safety_window"]),
            "safety_onset_window": int(work.tables["clean"].get("safety_onset_window", 0)),
        },
        "stream": {
            "first_gps": clock.first_gps,
            "live_gps": clock.live_gps,
            "end_gps": clock.end_gps,
            "step_gps": planned_step,
            "step_after_live_seconds": planned_step - clock.live_gps if planned_step else None,
        },
        "wall_seconds": {
            "history": (clock.live_wall or clock.end_wall) - began,
            "stream": clock.end_wall - (clock.live_wall or clock.end_wall),
            "stop": stopped - stopping,
            "total_loop": stopped - began,
        },
        "kept_up": {**clock.kept_up(args.speed), **trainer_pace(work, cycles, args.speed, clock.newest_at_end)},
        "scored_span": [start, end],
        "scored_seconds": end - start,
        "raw": {"bns_range_mpc": ref.raw_range_mpc},
        "floor": {"bns_range_mpc": ref.floor_range_mpc},
        "production": quality.as_dict(),
        "dq_seconds": data.dq,
        "production_versions": data.versions,
        "first_production_gps": first_prod,
        "windows": windows,
        "recovery": recovery(windows, planned_step, first_prod),
        "training": cycles,
        "decisions": verdicts,
        "pins_at_end": work.pins(),
        "unflagged_noise_windows": unflagged_noise_windows(data, rate, band, work.tables["clean"]),
        "decisions_onto_worse_than_raw": decisions_onto_worse_than_raw(verdicts),
    }
    summary["targets"] = targets(summary)
    summary["wall_seconds"]["scoring"] = time.monotonic() - stopped
    (work_root / "loop.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    print()
    print(scenario_report(summary))
    log(f"[{scenario}] wrote {work_root / 'loop.json'}")
    if not args.keep:
        for directory in (
            work.path("clean", "strain_dir"),
            work.path("clean", "witness_dir"),
            work.path("detector", "truth_dir"),
            work.path("clean", "cleaned_dir"),
        ):
            shutil.rmtree(directory, ignore_errors=True)
        log(f"[{scenario}] deleted the data and cleaned frames (--keep keeps them)")
    return summary


def _json_default(item: Any) -> Any:
    if isinstance(item, np.generic):
        return item.item()
    if isinstance(item, Path):
        return str(item)
    raise TypeError(f"{type(item).__name__} is not JSON serialisable")


def _fmt(value: Any, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else fmt.format(value)


def scenario_report(s: dict) -> str:
    """The figures of one scenario as text."""
    q, dq, stream, kept, cycles, verdicts = (
        s["production"],
        s["dq_seconds"],
        s["stream"],
        s["kept_up"],
        s["training"],
        s["decisions"],
    )
    walls = ", ".join(f"{c['training_seconds']:.0f}" for c in cycles["completed"] if c["training_seconds"] is not None)
    removals = [w["removed"] for w in s["windows"] if w["removed"] is not None]
    lines = [
        f"Scenario {s['scenario']}: live from GPS {stream['live_gps']} after {s['settings']['history']} s of history, "
        f"{s['settings']['stream_seconds']} s streamed at {s['settings']['speed']:g}x "
        f"(achieved {_fmt(kept['detector_speed'], '{:.2f}')}x) in {s['wall_seconds']['total_loop']:.0f} s wall",
        f"  scored [{s['scored_span'][0]}, {s['scored_span'][1]}) ({s['scored_seconds']} s, ends "
        f"{s['scored_span'][1] - stream['live_gps']} s after live start), production versions "
        f"{s['production_versions']}",
        f"  removed {q['removed_fraction']:.1%} ({q['residual_db']:+.1f} dB; 58-62 Hz {q['removed_58_62']:.1%}), "
        f"band ASD {q['band_asd_ratio']:.3f}, worst bin {q['worst_out_of_band_ratio']:.4f} at "
        f"{q['worst_out_of_band_frequency']:g} Hz",
        f"  range raw {s['raw']['bns_range_mpc']:.2f} Mpc, cleaned {q['bns_range_mpc']:.2f}, noise-free "
        f"{s['floor']['bns_range_mpc']:.2f}: gap recovered {_fmt(q['range_gap_recovered'], '{:.0%}')}",
        f"  DQ seconds: cleaned {dq['cleaned']} (narrowed {dq.get('narrowed', 0)}), safety fallback "
        f"{dq['safety_fallback']}, no model {dq['no_model']} "
        f"(input gap {dq['input_gap']}, not ready {dq['not_ready']})",
        *(
            ["  no production model in the scored span: these are the figures of the raw strain"]
            if s["production_versions"] == [0]
            else []
        ),
        f"  per-64 s removal since the first production second ({_fmt(s['first_production_gps'], '{}')}): "
        + (
            f"{len(removals)} windows, lowest {min(removals):.1%}, median {np.median(removals):.1%}, "
            f"last {removals[-1]:.1%}"
            if removals
            else "none (no production model)"
        ),
    ]
    rec = s["recovery"]
    if rec is not None:
        lines.append(
            f"  coupling step at GPS {rec['step_gps']} ({stream['step_after_live_seconds']} s into the stream): "
            + (rec["note"] or f"back above 95 % within {rec['seconds']} s of data")
            + (f" (lowest {rec['lowest_after_step']:.1%})" if rec.get("lowest_after_step") is not None else "")
        )
    lines += [
        f"  training cycles: {len(cycles['completed'])} completed of {cycles['started']} started "
        f"(wall s: {walls or '-'}; interrupted {cycles['interrupted']}, skipped {cycles['skipped']}); "
        f"versions exported {[c['version'] for c in cycles['completed'] if c['version'] is not None]}",
        f"  monitor: promoted {verdicts['promoted'] or 'none'}, rolled back {verdicts['rolled_back'] or 'none'}"
        + (f", unpinned {verdicts['unpinned']}" if verdicts["unpinned"] else "")
        + f"; pins at the end: production {s['pins_at_end'].get('production')}, canary "
        f"{s['pins_at_end'].get('canary')}",
        f"  kept up: the cleaner was {_fmt(kept['cleaner_lag_seconds'], '{} s')} of data behind the newest "
        f"input at the "
        f"end ({_fmt(kept['cleaner_lag_wall_seconds'], '{:.1f} s')} wall); a training cycle took "
        f"{_fmt(kept['trainer_cycle_wall_seconds_mean'], '{:.0f} s')} wall on average against a cadence of "
        f"{kept['retrain_cadence_wall_seconds']:.0f} s wall; the production model's data ended "
        f"{_fmt(kept['production_data_age_seconds'], '{} s')} before the end of the stream",
        f"  guards: {len(s['unflagged_noise_windows'])} window(s) of {s['settings'].get('safety_window', '?')} s "
        f"with noise added but written as cleaned, {len(s['decisions_onto_worse_than_raw'])} decision(s) onto a "
        f"version not better than raw",
        f"  targets: {targets_line(s['targets'])}",
    ]
    return "\n".join(lines)


def _step_cell(rec: dict | None) -> str:
    """The recovery after a coupling step for the table: '-' without a step, 'no' when not recovered."""
    if rec is None:
        return "-"
    return f"{rec['seconds']} s" if rec["seconds"] is not None else "no"


def summary_table(summaries: list[dict]) -> str:
    header = (
        f"{'scenario':<20} {'removed':>8} {'band ASD':>9} {'worst bin':>10} {'range raw':>10} {'cleaned':>8} "
        f"{'no noise':>9} {'gap rec.':>9} {'fallback':>9} {'no model':>9} {'cycles':>7} {'promoted':>9} "
        f"{'rollback':>9} {'step rec.':>10} {'lag s':>6}  targets"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        if "error" in s:
            lines.append(f"{s['scenario']:<20} FAILED: {s['error'].splitlines()[0][:100]}")
            continue
        q, rec = s["production"], s["recovery"]
        lines.append(
            f"{s['scenario']:<20} {q['removed_fraction']:>8.1%} {q['band_asd_ratio']:>9.3f} "
            f"{q['worst_out_of_band_ratio']:>10.4f} {s['raw']['bns_range_mpc']:>10.2f} {q['bns_range_mpc']:>8.2f} "
            f"{s['floor']['bns_range_mpc']:>9.2f} {_fmt(q['range_gap_recovered'], '{:.0%}'):>9} "
            f"{s['dq_seconds']['safety_fallback']:>9} {s['dq_seconds']['no_model']:>9} "
            f"{len(s['training']['completed']):>7} {len(s['decisions']['promoted']):>9} "
            f"{len(s['decisions']['rolled_back']):>9} "
            f"{_step_cell(rec):>10} {_fmt(s['kept_up']['cleaner_lag_seconds'], '{}'):>6}  {targets_line(s['targets'])}"
        )
    return "\n".join(lines)


def scenario_names(requested: list[str]) -> list[str]:
    names = list(scenarios_module.SCENARIOS) if "all" in requested else requested
    unknown = [name for name in names if name not in scenarios_module.SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {', '.join(scenarios_module.SCENARIOS)}")
    return names


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # the suite is stopped on the way out, as for Ctrl-C
    summaries = []
    for scenario in scenario_names(args.scenarios):
        try:
            summaries.append(run_scenario(args, scenario))
        except (RuntimeError, OSError, ValueError) as exc:  # LoopError, FrameError, ConfigError among them
            log(f"[{scenario}] FAILED: {exc}")
            summaries.append({"scenario": scenario, "error": str(exc)})
        except KeyboardInterrupt:  # the suite has been stopped on the way out
            log(f"[{scenario}] interrupted; the suite is stopped")
            return 130
    print()
    print(summary_table(summaries))
    out = (args.out / "loop").resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(
        json.dumps({"command": " ".join(sys.argv), "scenarios": summaries}, indent=2, default=_json_default) + "\n"
    )
    log(f"wrote {out / 'summary.json'}")
    return 0 if all("error" not in s for s in summaries) else 1


if __name__ == "__main__":
    raise SystemExit(main())
