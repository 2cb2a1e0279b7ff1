"""One second of cleaned strain per stream, paired with the raw strain it came from.

A cleaned frame (docs/interfaces.md) holds the production and canary streams,
the version each model had (16 Hz, 0: none) and the DQ bits (production in
bits 0-4, canary in bits 8-12). A stream's second is used for measuring its
version only when one version held the whole second and the cleaner did clean
it or fell back to raw: seconds with no model, an input gap or data that was
not analysis ready say nothing about the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepclean.cleaned_frames import (  # noqa: F401 - the contract's bits, for the monitor's modules
    CANARY_SHIFT,
    CLEANED,
    INPUT_GAP,
    NO_MODEL,
    NOT_ANALYSIS_READY,
    NOT_MEASURABLE,
    SAFETY_FALLBACK,
)
from deepclean.frames import read_frame


@dataclass(frozen=True)
class StreamChannels:
    """The channels of one cleaned stream (production or canary)."""

    strain: str
    version: str
    dq_shift: int


@dataclass(frozen=True)
class CleanedChannels:
    """Channel names of the cleaned frames and of the raw strain."""

    raw_strain: str
    production: StreamChannels
    canary: StreamChannels
    dq: str

    def cleaned_list(self) -> list[str]:
        streams = (self.production, self.canary)
        return [c for s in streams for c in (s.strain, s.version)] + [self.dq]


@dataclass(frozen=True)
class StreamSecond:
    """One second of one stream: the version live (0: none, -1: changed mid-second)."""

    version: int
    cleaned: np.ndarray
    dq_bits: int
    """The DQ bits of the stream, ORed over the second."""
    transition: bool = False
    """CLEANED on some of the second's DQ samples but not all."""

    @property
    def measurable(self) -> bool:
        """One version held the whole second, with an estimate, and the subtraction did not fade in or
        out within it (a line faded in or out spreads over the bins around it: the cleaner's doing, not
        the model's)."""
        return self.version > 0 and not self.dq_bits & NOT_MEASURABLE and not self.transition

    @property
    def fell_back(self) -> bool:
        """The safety gate wrote raw strain in (part of) the second.

        A second written narrowed (DQ bit ``NARROWED``) is not: what was written is the version's own
        estimate, measured by the same figures. Counted as fallbacks, 38 s narrowed in a 64 s window of a
        version that raised the BNS range (121.12 -> 121.45 Mpc) unpinned it in a loop run, and raw strain
        was written for ~250 s until the next version."""
        return bool(self.dq_bits & SAFETY_FALLBACK)


@dataclass(frozen=True)
class PairedSecond:
    """Raw strain and both cleaned streams for the second starting at ``gps``."""

    gps: int
    sample_rate: float
    raw: np.ndarray
    production: StreamSecond
    canary: StreamSecond
    written: float = 0.0
    """When the cleaned frame was written (its modification time, seconds since the epoch)."""


def read_paired_second(gps: int, cleaned_path: Path, raw_path: Path, channels: CleanedChannels) -> PairedSecond:
    """Read the cleaned frame and the raw frame of ``gps``.

    Raises the errors of :func:`deepclean.frames.read_frame` (FileNotFoundError,
    FrameError) and ValueError when the two frames do not line up.
    """
    cleaned = read_frame(cleaned_path, channels.cleaned_list())
    written = cleaned_path.stat().st_mtime
    raw = read_frame(raw_path, [channels.raw_strain])
    raw_strain = raw[channels.raw_strain]
    dq = np.asarray(cleaned[channels.dq], dtype=np.int64)
    streams = {}
    for name, stream in (("production", channels.production), ("canary", channels.canary)):
        strain = cleaned[stream.strain]
        if strain.shape != raw_strain.shape:
            raise ValueError(
                f"GPS {gps}: {stream.strain} in {cleaned_path} has {strain.size} samples, "
                f"raw {channels.raw_strain} in {raw_path} has {raw_strain.size}"
            )
        streams[name] = StreamSecond(
            version=_single_version(cleaned[stream.version]),
            cleaned=strain,
            dq_bits=int(np.bitwise_or.reduce((dq >> stream.dq_shift) & 0xFF)),
            transition=bool(len(set(((dq >> stream.dq_shift) & CLEANED).tolist())) > 1),
        )
    return PairedSecond(
        gps=gps,
        sample_rate=raw.sample_rate(channels.raw_strain),
        raw=raw_strain,
        production=streams["production"],
        canary=streams["canary"],
        written=written,
    )


def _single_version(samples: np.ndarray) -> int:
    values = np.unique(np.asarray(samples, dtype=np.int64))
    return int(values[0]) if values.size == 1 else -1
