"""DeepClean as the suite runs it: the trainer's CLI, the exporter's pipeline, the cleaner's CLI.

::

    training frames ──> deepclean-train --mode one-shot ──> <work>/training/<name>/ (weights.pt, metadata.json)
    (.venvs/trainer)                                                  │
                        export_version.py (Exporter.export + production pin)
    (.venvs/exporter)                                                 v
    test frames ──────> deepclean-clean --backend embedded ──> <work>/cleaned/H-H1_DEEPCLEAN-<gps>-1.gwf
    (.venvs/cleaner)     (onnxruntime on model.onnx, safety gate on)

Each step runs in its service's own environment with the suite's
configuration (the top-level pyproject.toml, profile ``cpu`` for the trainer
when given), only the directories, the span and the thread count overridden.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepclean.cleaned_frames import CLEANED, NARROWED, SAFETY_FALLBACK, default_channels
from deepclean.frames import FrameName, read_frame

CHANNELS = default_channels("H1")  # the synthetic detector is H1
PRODUCTION_CHANNEL, DQ_CHANNEL = CHANNELS.production, CHANNELS.dq
DQ_CLEANED, DQ_FALLBACK = CLEANED, SAFETY_FALLBACK  # production bits (deepclean.cleaned_frames)
MODEL_NAME = "deepclean"  # the model export_version.py exports to


LATENCY_MODES = ("zero-phase", "causal")


def add_latency_mode_option(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--latency-mode``: the cleaner's latency mode ``what`` is trained and run for."""
    parser.add_argument(
        "--latency-mode",
        choices=LATENCY_MODES,
        default="zero-phase",
        help=f"the cleaner's latency mode {what} trained and run for",
    )


def apply_latency_mode(args: argparse.Namespace, root: Path, name: str) -> None:
    """Pass ``args.latency_mode`` to the trainer and default ``args.out`` to ``<root>/bench/out/<name>[-<mode>]``.

    The cleaner takes the mode from the version it runs, so only the trainer is told.
    """
    if args.latency_mode != "zero-phase":
        args.trainer_args = ["--latency_mode", args.latency_mode, *args.trainer_args]
    if args.out is None:
        suffix = "" if args.latency_mode == "zero-phase" else f"-{args.latency_mode}"
        args.out = root / "bench" / "out" / f"{name}{suffix}"


class StepError(RuntimeError):
    """A service step of the benchmark failed; the message names the step and its log."""


@dataclass(frozen=True)
class Suite:
    """Where the repository, its environments and the benchmark's working files are."""

    root: Path
    work: Path
    threads: int

    def tool(self, env: str, name: str) -> Path:
        path = self.root / ".venvs" / env / "bin" / name
        if not path.exists():
            raise StepError(f"{path} is missing: build the environment with ./build.sh {env}")
        return path

    @property
    def strain_dir(self) -> Path:
        return self.work / "frames" / "llhoft"

    @property
    def witness_dir(self) -> Path:
        return self.work / "frames" / "lldetchar"

    def run(self, step: str, command: list[str]) -> float:
        """Run ``command`` with the suite's configuration; its output goes to ``<work>/logs/<step>.log``.

        Returns the wall time in seconds.
        """
        log_path = self.work / "logs" / f"{step}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, DEEPCLEAN_CONFIG=str(self.root / "pyproject.toml"), OMP_NUM_THREADS=str(self.threads))
        began = time.perf_counter()
        with open(log_path, "w") as log:
            done = subprocess.run(
                [str(c) for c in command], cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if done.returncode != 0:
            tail = log_path.read_text().splitlines()[-15:]
            raise StepError(f"{step} failed (exit {done.returncode}); last lines of {log_path}:\n" + "\n".join(tail))
        return time.perf_counter() - began


def forget_previous_run(suite: Suite) -> None:
    """Remove the training directories, model repository and cleaned frames of an earlier run
    in the same working directory (the frames stay: they are the same for the same seed)."""
    for name in ("training", "model-repo", "cleaned"):
        shutil.rmtree(suite.work / name, ignore_errors=True)


def train(suite: Suite, start: int, end: int, profile: str | None, seed: int, extra: list[str]) -> tuple[Path, float]:
    """Train once on ``[start, end)`` with the trainer's CLI; the training directory and the wall time."""
    root = suite.work / "training"
    command = [
        suite.tool("trainer", "deepclean-train"),
        *(["--profile", profile] if profile else []),
        "--mode",
        "one-shot",
        "--start",
        start,
        "--end",
        end,
        "--export",
        "false",
        "--warm_start",
        "false",
        "--seed",
        seed,
        "--num_threads",
        suite.threads,
        "--strain_dir",
        suite.strain_dir,
        "--witness_dir",
        suite.witness_dir,
        "--training_root",
        root,
        "--log_dir",
        suite.work / "logs" / "trainer",
        *extra,
    ]
    before = set(root.iterdir()) if root.exists() else set()
    wall = suite.run("train", command)
    new = sorted(
        (p for p in root.iterdir() if p not in before and not p.name.startswith(".")), key=lambda p: p.stat().st_mtime
    )
    if not new:
        raise StepError(f"the trainer exited 0 but wrote no training directory in {root}; see {suite.work / 'logs'}")
    return new[-1], wall


def export(suite: Suite, training_dir: Path) -> int:
    """Export ``training_dir`` to the benchmark's model repository as the production version."""
    command = [
        suite.tool("exporter", "python"),
        Path(__file__).with_name("export_version.py"),
        "--training-dir",
        training_dir,
        "--model-repository",
        suite.work / "model-repo",
    ]
    suite.run("export", command)
    log_lines = (suite.work / "logs" / "export.log").read_text().splitlines()
    return int(json.loads(next(line for line in reversed(log_lines) if line.startswith("{")))["version"])


def clean(suite: Suite, start: int, stop: int, extra: list[str] = ()) -> float:
    """Clean ``[start, stop)`` with the cleaner's CLI (embedded backend), in the latency mode the
    production version was trained for; the wall time."""
    command = [
        suite.tool("cleaner", "deepclean-clean"),
        "--model_repository",
        suite.work / "model-repo",
        "--model_name",
        MODEL_NAME,
        "--strain_dir",
        suite.strain_dir,
        "--witness_dir",
        suite.witness_dir,
        "--cleaned_dir",
        suite.work / "cleaned",
        "--backend",
        "embedded",
        "--inference_threads",
        suite.threads,
        "--start_gps",
        start,
        "--stop_gps",
        stop,
        "--log_level",
        "WARNING",
        "--latency_mode",
        production_latency_mode(suite.work / "model-repo"),
        *extra,
    ]
    return suite.run("clean", command)


def production_latency_mode(model_repository: Path) -> str:
    """The latency mode the production version of the benchmark's model was trained for."""
    model = model_repository / MODEL_NAME
    pinned = json.loads((model / "pins.json").read_text())["production"]
    content = json.loads((model / str(pinned) / "metadata.json").read_text())
    return content.get("latency", {}).get("mode", "zero-phase")


def read_cleaned(suite: Suite, start: int, stop: int) -> tuple[np.ndarray, dict[str, int]]:
    """The production-cleaned strain of ``[start, stop)`` from the cleaned frames, and DQ counts (seconds)."""
    pieces, counts = [], {"cleaned": 0, "narrowed": 0, "safety_fallback": 0, "not_cleaned": 0}
    for gps in range(start, stop):
        path = FrameName(gps, "H", "H1", "DEEPCLEAN").path(suite.work / "cleaned")
        if not path.exists():
            raise StepError(f"the cleaner wrote no frame for GPS {gps} ({path})")
        frame = read_frame(path, [PRODUCTION_CHANNEL, DQ_CHANNEL])
        pieces.append(frame[PRODUCTION_CHANNEL])
        dq = frame[DQ_CHANNEL]
        counts["cleaned"] += int(np.all(dq & DQ_CLEANED))
        counts["safety_fallback"] += int(np.any(dq & DQ_FALLBACK))
        counts["narrowed"] += int(np.any(dq & NARROWED))
        counts["not_cleaned"] += int(not np.any(dq & DQ_CLEANED))
    return np.concatenate(pieces), counts


def metadata(training_dir: Path) -> dict:
    """The training directory's metadata.json."""
    return json.loads((training_dir / "metadata.json").read_text())
