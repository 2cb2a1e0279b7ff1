"""Soak benchmark: the whole suite for hours of data with faults sprinkled in.

The suite runs as shipped (``./run.sh --headless``, cpu profile) in its own
working directory, on the synthetic detector at ``--speed`` x real time for
``--hours`` of data, with dropped strain and witness frames and late witness
frames throughout, and each service killed (``kill -9`` of the service under its
supervisor, which restarts it) once early in the run::

    bench/out/soak/pyproject.toml     the project's configuration for H1 alone, every path inside
                                      bench/out/soak (bench/quality/loop.py's copy)
    ./run.sh --headless               detector -> trainer -> exporter -> cleaner -> monitor
    every --sample-seconds (wall):    RSS and open files of every service process
                                      new cleaned frames read: seconds written, rewritten (a
                                      second file or a new inode for one GPS), non-finite samples
                                      and whether they were flagged; frames older than
                                      --keep-seconds deleted (disk)
    kills at 4-20 % of the stream, the warm-up reference at 25 %, the end at 100 %

Prints, and writes to ``<out>/soak.json``: frames expected (strain frames from
the first cleaned second to the last), written, missing, rewritten; non-finite
samples written and how many of them carry no flag; RSS and open files of every
service at start, after warm-up and at the end (each the maximum over
``--window-seconds`` of wall time, so a trainer caught mid-training is compared
with itself mid-training); promotions, rollbacks and unpins; kills and restarts.
Run it with the library environment: ``.venvs/library/bin/python bench/soak.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "quality"))

import loop  # noqa: E402  the loop benchmark's configuration copy and suite control
from common import add_suite_options, argument_parser, log  # noqa: E402

from deepclean.cleaned_frames import CANARY_SHIFT, CLEANED, FLAGS, STREAM_BITS, CleanedChannelNames  # noqa: E402
from deepclean.frames import FrameError, list_frames, read_frame  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("trainer", "exporter", "cleaner", "monitor")
"""What is measured and killed: the exporter and the loop's detector's (loop.DETECTOR) services."""
KILL_AT = {"trainer": 0.04, "exporter": 0.08, "cleaner": 0.12, "monitor": 0.16}
"""Fraction of the stream at which each service is killed: all before the warm-up reference."""
WARMUP_AT = 0.25


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--hours", type=float, default=8.0, help="hours of data streamed (default 8)")
    add_suite_options(parser, speed=8.0, out=ROOT / "bench" / "out" / "soak", nice=0)
    parser.add_argument("--scenario", default="baseline")
    for flag, default, meaning in (
        ("--drop-strain", 0.001, "probability a strain frame is dropped"),
        ("--drop-witness", 0.002, "probability a witness frame is dropped"),
        ("--late-witness", 0.002, "probability a witness frame is late"),
        ("--sample-seconds", 20.0, "wall seconds between samples"),
        ("--window-seconds", 600.0, "wall seconds over which the warm-up and end RSS / open files are taken (maximum)"),
    ):
        parser.add_argument(flag, type=float, default=default, help=meaning)
    parser.add_argument("--keep-seconds", type=int, default=3600, help="seconds of frames kept on disk")
    args = parser.parse_args(argv)
    args.stream_seconds = int(args.hours * 3600)
    args.timeout = None
    return args


# ---------------------------------------------------------------- the service processes


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def suite_name(service: str) -> str:
    """The suite's name of ``service`` (its pid file and console log): ``cleaner-H1``, the exporter's own."""
    return service if service == "exporter" else f"{service}-{loop.DETECTOR}"


def service_pid(work: loop.Work, service: str) -> int | None:
    """The pid of ``service`` itself (the child of its supervisor), or None while it restarts."""
    pid_file = work.root / loop.BASE_DIRS["run_dir"] / "pids" / f"{suite_name(service)}.pid"
    try:
        supervisor = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    children = _children(supervisor)
    return children[0] if children else None


def usage(pid: int) -> tuple[int, int] | None:
    """RSS (bytes) and open file descriptors of ``pid`` with its children (a service's own workers)."""
    rss, files = 0, 0
    for member in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{member}/status").read_text()
            rss += int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) * 1024
            files += len(os.listdir(f"/proc/{member}/fd"))
        except (OSError, StopIteration, ValueError):
            if member == pid:
                return None
    return rss, files


@dataclass
class Samples:
    """RSS and open files of every service over the run: (stream fraction, pid, rss, files)."""

    rows: dict[str, list[tuple[float, int, int, int]]] = field(default_factory=lambda: {s: [] for s in SERVICES})

    def take(self, work: loop.Work, fraction: float) -> None:
        for service in SERVICES:
            pid = service_pid(work, service)
            measured = usage(pid) if pid else None
            if measured:
                self.rows[service].append((fraction, pid, *measured))

    def summary(self, warmup: tuple[float, float], end: tuple[float, float]) -> dict:
        """Start, warm-up and end figures per service (maxima over the windows, in stream fractions)."""
        out = {}
        for service, rows in self.rows.items():
            if not rows:
                out[service] = None
                continue
            timed = [(r[0], r) for r in rows]

            def window(lo: float, hi: float, timed: list = timed) -> dict | None:
                inside = [r for f, r in timed if lo <= f <= hi]
                if not inside:
                    return None
                return {
                    "rss_mib": max(r[2] for r in inside) / 2**20,
                    "open_files": max(r[3] for r in inside),
                    "pids": sorted({r[1] for r in inside}),
                }

            first = rows[0]
            entry = {
                "start": {"rss_mib": first[2] / 2**20, "open_files": first[3], "pids": [first[1]]},
                "warmup": window(*warmup),
                "end": window(*end),
                "processes": len({r[1] for r in rows}),
            }
            if entry["warmup"] and entry["end"]:
                entry["rss_change"] = entry["end"]["rss_mib"] / entry["warmup"]["rss_mib"] - 1
                entry["open_files_change"] = entry["end"]["open_files"] / entry["warmup"]["open_files"] - 1
                entry["same_process"] = entry["warmup"]["pids"] == entry["end"]["pids"]
            out[service] = entry
        return out


# ---------------------------------------------------------------- the cleaned frames


@dataclass
class Ledger:
    """What the run wrote, checked frame by frame as it appears (the frames are deleted later)."""

    strain: set[int] = field(default_factory=set)
    cleaned: dict[int, tuple[int, int]] = field(default_factory=dict)  # gps -> (inode, mtime_ns) first seen
    rewritten: set[int] = field(default_factory=set)
    unreadable: set[int] = field(default_factory=set)
    nonfinite_samples: int = 0
    nonfinite_unflagged: int = 0
    dq_seconds: dict[str, int] = field(default_factory=lambda: {"cleaned": 0, "flagged": 0})

    def scan(self, work: loop.Work) -> None:
        self.strain.update(work.frames("strain"))
        clean = work.tables["clean"]
        names = list_frames(clean["cleaned_dir"], clean["site"], clean["ifo"], clean["cleaned_tag"])
        for name in names:
            path = name.path(clean["cleaned_dir"])
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            identity = (stat.st_ino, stat.st_mtime_ns)
            seen = self.cleaned.get(name.gps)
            if seen is not None:
                if seen != identity:
                    self.rewritten.add(name.gps)
                continue
            self.cleaned[name.gps] = identity
            self._check(path, name.gps, work.channels())

    def _check(self, path: Path, gps: int, names: CleanedChannelNames) -> None:
        try:
            frame = read_frame(path, [names.production, names.canary, names.dq])
        except (FrameError, OSError):
            self.unreadable.add(gps)
            return
        dq = np.asarray(frame[names.dq]).astype(np.int64)
        for channel, shift in ((names.production, 0), (names.canary, CANARY_SHIFT)):
            data = np.asarray(frame[channel])
            bad = ~np.isfinite(data)
            if bad.any():
                self.nonfinite_samples += int(bad.sum())
                per_dq = len(data) // len(dq)
                bits = (np.repeat(dq, per_dq) >> shift)[bad]
                self.nonfinite_unflagged += int(np.sum((bits & FLAGS) == 0))
        production = dq & STREAM_BITS
        self.dq_seconds["cleaned"] += int(np.all(production & CLEANED))
        self.dq_seconds["flagged"] += int(np.any(production & FLAGS))

    def summary(self) -> dict:
        if not self.cleaned:
            return {"written": 0}
        first, last = min(self.cleaned), max(self.cleaned)
        expected = {g for g in self.strain if first <= g <= last}
        return {
            "first_cleaned_gps": first,
            "last_cleaned_gps": last,
            "expected": len(expected),
            "written": len(self.cleaned),
            "missing": len(expected - set(self.cleaned)),
            "missing_gps": sorted(expected - set(self.cleaned))[:20],
            "without_input": len(set(self.cleaned) - self.strain),
            "rewritten": len(self.rewritten),
            "unreadable": len(self.unreadable),
            "nonfinite_samples": self.nonfinite_samples,
            "nonfinite_unflagged": self.nonfinite_unflagged,
            "dq_seconds": self.dq_seconds,
        }


def delete_old_frames(work: loop.Work, keep_before: int) -> int:
    """Delete data, truth and cleaned frames older than GPS ``keep_before``; how many files."""
    removed = 0
    for kind in ("strain", "truth", "cleaned"):
        directory, tag = work._stream(kind)
        clean = work.tables["clean"]
        for name in list_frames(directory, clean["site"], clean["ifo"], tag):
            if name.gps < keep_before:
                name.path(directory).unlink(missing_ok=True)
                removed += 1
    witness_dir = work.tables["clean"]["witness_dir"]
    for name in list_frames(
        witness_dir, work.tables["clean"]["site"], work.tables["clean"]["ifo"], work.tables["clean"]["witness_tag"]
    ):
        if name.gps < keep_before:
            name.path(witness_dir).unlink(missing_ok=True)
            removed += 1
    return removed


# ---------------------------------------------------------------- the run


def configure(args: argparse.Namespace) -> loop.Work:
    work_root = args.out.resolve()
    if (work_root / "pyproject.toml").exists():
        loop.Suite(loop.Work(work_root, work_root / "pyproject.toml", {}), 0).stop()
    shutil.rmtree(work_root, ignore_errors=True)
    work_root.mkdir(parents=True)
    config = loop.write_config(work_root, args.scenario, args, None)
    text = config.read_text()
    faults = {
        "drop_strain_probability": args.drop_strain,
        "drop_witness_probability": args.drop_witness,
        "late_witness_probability": args.late_witness,
    }
    lines = []
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        lines.append(f"{key} = {faults[key]!r}" if key in faults else line)
    config.write_text("\n".join(lines) + "\n")
    work = loop.Work.load(work_root, config)
    detector = loop.load_table("detector", config, loop.PROFILE)
    if any(float(detector[k]) != v for k, v in faults.items()):
        raise loop.LoopError(f"the fault probabilities did not take: {[detector[k] for k in faults]}")
    return work


def kill(work: loop.Work, service: str) -> dict:
    pid = service_pid(work, service)
    if pid is None:
        return {"service": service, "killed": None}
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(1.0)
        new = service_pid(work, service)
        if new is not None and new != pid:
            return {"service": service, "killed": pid, "restarted_as": new}
    return {"service": service, "killed": pid, "restarted_as": None}


def run(args: argparse.Namespace) -> dict:
    work = configure(args)
    suite = loop.Suite(work, args.nice)
    samples, ledger, kills = Samples(), Ledger(), []
    log(
        f"soak: {args.hours:g} h of data at {args.speed:g}x in {work.root} (faults: strain drops {args.drop_strain}, "
        f"witness drops {args.drop_witness}, late witnesses {args.late_witness})"
    )
    began = time.monotonic()
    suite.start()
    live_gps = end_gps = None
    pending_kills = dict(KILL_AT)
    last_sample = last_report = 0.0
    deleted = 0
    try:
        while True:
            strain = work.frames("strain")
            if strain and live_gps is None:
                live_gps = strain[0] + args.history
                end_gps = live_gps + args.stream_seconds
            newest = strain[-1] if strain else None
            fraction = (newest - live_gps) / args.stream_seconds if newest and live_gps else 0.0
            now = time.monotonic()
            if now - last_sample >= args.sample_seconds:
                samples.take(work, fraction)
                ledger.scan(work)
                if newest is not None and ledger.cleaned:
                    deleted += delete_old_frames(work, min(newest, max(ledger.cleaned)) - args.keep_seconds)
                last_sample = now
            for service, at in list(pending_kills.items()):
                if fraction >= at:
                    del pending_kills[service]
                    kills.append({**kill(work, service), "stream_fraction": round(fraction, 3)})
                    log(f"killed {kills[-1]}")
            if now - last_report >= 300:
                pins = work.pins()
                log(
                    f"stream {fraction:6.1%}: data up to GPS {newest}, cleaned to {max(ledger.cleaned, default='-')}, "
                    f"production {pins.get('production')}, canary {pins.get('canary')}, "
                    f"missing so far {ledger.summary().get('missing')}"
                )
                last_report = now
            if newest is not None and end_gps is not None and newest >= end_gps - 1:
                time.sleep(30)  # the cleaner's last seconds
                samples.take(work, 1.0)
                ledger.scan(work)
                break
            if now - began > 900 + 1.5 * args.stream_seconds / args.speed:
                raise loop.LoopError("the stream was not written in time")
            time.sleep(1.0)
    finally:
        log("stopping the suite")
        suite.stop()
    wall = time.monotonic() - began
    window = args.window_seconds * args.speed / args.stream_seconds  # as a fraction of the stream
    summary = {
        "command": " ".join(sys.argv),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "wall_seconds": wall,
        "stream": {"live_gps": live_gps, "end_gps": end_gps},
        "frames": ledger.summary(),
        "kills": kills,
        "services": samples.summary((WARMUP_AT, WARMUP_AT + window), (1.0 - window, 1.0)),
        "decisions": loop.decisions(work),
        "pins_at_end": work.pins(),
        "deleted_files": deleted,
        "restarts": {s: _restarts(work, s) for s in SERVICES},
    }
    (work.root / "soak.json").write_text(json.dumps(summary, indent=2, default=loop._json_default) + "\n")
    print(report(summary))
    return summary


def _restarts(work: loop.Work, service: str) -> int:
    console = Path(work.tables["train"]["log_dir"]) / f"{suite_name(service)}.console.log"
    return console.read_text().count("restarting in") if console.exists() else 0


def _usage_line(service: str, e: dict) -> str:
    """The row of one service in the report's table of memory and open files."""
    if not e or not e.get("warmup") or not e.get("end"):
        return f"{service:9s} (not enough samples)"
    return (
        f"{service:9s} {e['start']['rss_mib']:8.0f} M {e['warmup']['rss_mib']:7.0f} M {e['end']['rss_mib']:7.0f} M "
        f"{e['rss_change']:+7.1%}   {e['start']['open_files']:11d} {e['warmup']['open_files']:7d} "
        f"{e['end']['open_files']:5d} {e['open_files_change']:+7.1%}  {e['processes']}"
    )


def report(s: dict) -> str:
    f = s["frames"]
    lines = [
        f"soak: {s['settings']['hours']:g} h of data at {s['settings']['speed']:g}x, wall "
        f"{s['wall_seconds'] / 60:.0f} min",
        f"frames: expected {f.get('expected')}, written {f.get('written')}, missing {f.get('missing')}, "
        f"rewritten {f.get('rewritten')}, unreadable {f.get('unreadable')}, without input {f.get('without_input')}",
        f"non-finite samples written {f.get('nonfinite_samples')}, of which unflagged {f.get('nonfinite_unflagged')}",
        f"production DQ: {f.get('dq_seconds')}",
        "kills: "
        + ", ".join(
            f"{k['service']} at {k['stream_fraction']:.0%} -> "
            f"{'restarted' if k.get('restarted_as') else 'NOT restarted'}"
            for k in s["kills"]
        ),
        f"restarts logged by the supervisors: {s['restarts']}",
        f"decisions: promoted {s['decisions']['promoted']}, rolled back {s['decisions']['rolled_back']}, "
        f"unpinned {s['decisions']['unpinned']}; pins at end {s['pins_at_end']}",
        "",
        f"{'service':9s} {'RSS start':>10s} {'warm-up':>9s} {'end':>9s} {'change':>7s}   "
        f"{'files start':>11s} {'warm-up':>7s} {'end':>5s} {'change':>7s}  processes",
    ]
    lines.extend(_usage_line(service, e) for service, e in s["services"].items())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except loop.LoopError as exc:
        log(f"soak failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
