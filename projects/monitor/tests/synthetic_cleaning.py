"""Raw and cleaned frames made for the monitor's tests.

Raw strain: white noise plus a 60 Hz mains line (20 times the noise) at a low
rate (fast to write and to read). A cleaned stream is one of a few kinds:

- ``clean90`` / ``clean50``: the line reduced by 90 % / 50 %;
- ``none``: the raw strain (nothing removed);
- ``noisy``: the line reduced by 90 % but broadband noise added (half the raw level);
- ``adds``: the line made 50 % louder (a model that adds noise in the band).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepclean.frames import FrameName, write_frame

RATE = 4096
LINE_AMPLITUDE = 20.0
PRODUCTION = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION"
CANARY = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY"
PRODUCTION_VERSION = "H1:DEEPCLEAN-PRODUCTION_VERSION"
CANARY_VERSION = "H1:DEEPCLEAN-CANARY_VERSION"
DQ = "H1:DEEPCLEAN-DQ"
STRAIN = "H1:GDS-CALIB_STRAIN"


@dataclass
class FrameDirs:
    """Where the test frames go."""

    strain_dir: Path
    cleaned_dir: Path

    def cleaned_path(self, gps: int) -> Path:
        return FrameName(gps=gps, site="H", ifo="H1", tag="DEEPCLEAN").path(self.cleaned_dir)

    def raw_path(self, gps: int) -> Path:
        return FrameName(gps=gps, site="H", ifo="H1", tag="llhoft").path(self.strain_dir)


def _line(gps: int) -> np.ndarray:
    t = gps + np.arange(RATE) / RATE
    return LINE_AMPLITUDE * np.sin(2 * np.pi * 60.0 * t)


def cleaned_strain(kind: str, raw: np.ndarray, line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The strain a model of ``kind`` (see the module docstring) would write."""
    if kind == "clean90":
        return raw - 0.9 * line
    if kind == "clean50":
        return raw - 0.5 * line
    if kind == "none":
        return raw.copy()
    if kind == "noisy":
        return raw - 0.9 * line + rng.normal(scale=0.5, size=raw.size)
    if kind == "adds":
        return raw + 0.5 * line
    raise ValueError(f"unknown kind {kind!r}")


def write_seconds(
    dirs: FrameDirs,
    start: int,
    seconds: int,
    production: tuple[int, str],
    canary: tuple[int, str],
    dq: int = 0b1 | (0b1 << 8),
    seed: int = 0,
) -> None:
    """Write raw and cleaned frames for ``seconds`` from GPS ``start``.

    ``production`` and ``canary`` are ``(version, kind)``; version 0 means no model.
    """
    for gps in range(start, start + seconds):
        rng = np.random.default_rng(seed * 1_000_003 + gps)
        line = _line(gps)
        raw = rng.normal(size=RATE) + line
        write_frame(dirs.raw_path(gps), {STRAIN: raw}, t0=gps)
        streams = {}
        for channel, version_channel, (version, kind) in (
            (PRODUCTION, PRODUCTION_VERSION, production),
            (CANARY, CANARY_VERSION, canary),
        ):
            streams[channel] = raw.copy() if version == 0 else cleaned_strain(kind, raw, line, rng)
            streams[version_channel] = np.full(16, version, dtype=np.int32)
        streams[DQ] = np.full(16, dq, dtype=np.int32)
        write_frame(dirs.cleaned_path(gps), streams, t0=gps)
