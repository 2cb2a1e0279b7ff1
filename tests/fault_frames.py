"""Frames of the fault tests: synthetic input for four witnesses, written live, and the cleaned output.

The input is small and fast to make: per second, strain with a 60 Hz line
over white noise, an always-ready state vector, and four witnesses at their
own rates, the first of them the mains that the line follows.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Self

import numpy as np

from deepclean.frames import read_frame, write_frame

STRAIN = "H1:GDS-CALIB_STRAIN"
STATE = "H1:GDS-CALIB_STATE_VECTOR"
WITNESS_RATES = {
    "H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024,
    "H1:ASC-INP1_P_OUT_DQ": 256,
    "H1:ASC-INP1_Y_OUT_DQ": 512,
    "H1:ASC-MICH_P_OUT_DQ": 2048,
}
WITNESSES = list(WITNESS_RATES)
STRAIN_RATE = 16384
DQ = "H1:DEEPCLEAN-DQ"


# ---------------------------------------------------------------- input frames


def synthetic_seconds(start: int, duration: int, seed: int = 0) -> dict[int, dict]:
    """Per GPS second: strain (noise + a 60 Hz line), ready state vector, witnesses at their own rates."""
    rng = np.random.default_rng(seed)
    seconds = {}
    for gps in range(start, start + duration):
        t = gps + np.arange(STRAIN_RATE) / STRAIN_RATE
        mains = np.sin(2 * np.pi * 60.0 * t)
        witnesses = {c: rng.normal(size=rate) for c, rate in WITNESS_RATES.items()}
        witnesses[WITNESSES[0]] = mains[:: STRAIN_RATE // 1024] + 0.01 * rng.normal(size=1024)
        seconds[gps] = {
            "strain": {
                STRAIN: 1e-22 * rng.normal(size=STRAIN_RATE) + 1e-21 * mains,
                STATE: np.full(16, 3, dtype=np.int32),
            },
            "witness": witnesses,
        }
    return seconds


def strain_path(data: Path, gps: int) -> Path:
    return data / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf"


def witness_path(data: Path, gps: int) -> Path:
    return data / "lldetchar" / f"H-H1_lldetchar-{gps}-1.gwf"


def write_second(
    data: Path, gps: int, second: dict, strain: bool = True, witness: bool = True, write: Callable = write_frame
) -> None:
    """Write the witness frame, then the strain frame of one second, each with ``write`` (atomically)."""
    if witness:
        write(witness_path(data, gps), second["witness"], t0=gps)
    if strain:
        write(strain_path(data, gps), second["strain"], t0=gps)


class LiveFeed:
    """Writes the seconds ``[start, start + duration)`` at ``rate`` frames per wall second on a thread.

    ``history`` seconds are written at once before the thread starts (already on disk).
    """

    def __init__(self, data: Path, start: int, duration: int, rate: float, history: int = 10) -> None:
        self.data, self.start_gps, self.duration, self.rate = data, start, duration, rate
        (data / "llhoft").mkdir(parents=True, exist_ok=True)
        (data / "lldetchar").mkdir(parents=True, exist_ok=True)
        self.seconds = synthetic_seconds(start, duration)
        for gps in range(start, start + history):
            write_second(data, gps, self.seconds[gps])
        self.history = history
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for gps in range(self.start_gps + self.history, self.start_gps + self.duration):
            if self.stopping.wait(1.0 / self.rate):
                return
            write_second(self.data, gps, self.seconds[gps])

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.stopping.set()
        self.thread.join()

    @property
    def end(self) -> int:
        return self.start_gps + self.duration


# ---------------------------------------------------------------- cleaned frames


REMOVED = {1: 0.5, 2: 0.9}
"""The fraction of the 60 Hz line that each model version removes in :func:`write_cleaned_second`."""


def write_cleaned_second(data: Path, cleaned: Path, gps: int, second: dict, production: int = 1) -> None:
    """The raw frames of ``gps`` and a cleaned frame as the cleaner would write it with two versions.

    Version 1 removes half the 60 Hz line, version 2 90 %; ``production`` is
    the version on the production stream, the canary stream has version 2.
    """
    write_second(data, gps, second)
    strain = second["strain"][STRAIN]
    line = 1e-21 * np.sin(2 * np.pi * 60.0 * (gps + np.arange(strain.size) / strain.size))
    write_frame(
        cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf",
        {
            "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION": strain - REMOVED[production] * line,
            "H1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY": strain - REMOVED[2] * line,
            "H1:DEEPCLEAN-PRODUCTION_VERSION": np.full(16, production, dtype=np.int32),
            "H1:DEEPCLEAN-CANARY_VERSION": np.full(16, 2, dtype=np.int32),
            "H1:DEEPCLEAN-DQ": np.full(16, 1 | 1 << 8, dtype=np.int32),
        },
        t0=gps,
    )


def cleaned_seconds(cleaned_dir: Path) -> list[int]:
    return sorted(int(p.name.split("-")[2]) for p in cleaned_dir.glob("H-H1_DEEPCLEAN-*-1.gwf"))


def writes_per_second(*logs: Path) -> Counter:
    """How often each cleaned second was written, from the cleaner's debug lines ``wrote <file>``."""
    counts: Counter = Counter()
    for log in logs:
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if " wrote H-H1_DEEPCLEAN-" in line:
                    counts[int(line.split(" wrote H-H1_DEEPCLEAN-")[1].split("-")[0])] += 1
    return counts


def cleaned_path(cleaned: Path, gps: int) -> Path:
    """The cleaned frame of ``gps`` in the directory ``cleaned``."""
    return cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf"


def dq_word(cleaned: Path, gps: int) -> int | None:
    """The DQ word of ``gps`` if its 16 samples agree, -1 if they differ, None without a frame."""
    path = cleaned_path(cleaned, gps)
    if not path.exists():
        return None
    values = np.unique(read_frame(path, [DQ])[DQ])
    return int(values[0]) if values.size == 1 else -1


def dq_table(cleaned: Path, seconds) -> str:
    """``gps:word`` of each of ``seconds`` (``-`` without a frame), to show in a failure."""
    return " ".join(f"{gps}:{'-' if (word := dq_word(cleaned, gps)) is None else hex(word)}" for gps in seconds)


def log_lines(log: Path, needle: str) -> list[str]:
    """The lines of the service log ``log`` that hold ``needle``."""
    return [line for line in log.read_text(errors="replace").splitlines() if needle in line]
