"""Reading a training span from the live frame directories.

Only whole seconds that are analysis ready for every state-vector sample, and
for which both the strain and the witness frame exist and parse, are kept;
consecutive kept seconds form a :class:`Stretch`. Every channel stays at its
native sample rate here (read from the frame); resampling happens in
:mod:`deepclean_trainer.preprocessing`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from deepclean.analysis_ready import analysis_ready_mask
from deepclean.frames import FrameError, FrameName, MissingChannelError, read_frame
from deepclean.frames.items import PairedStreams

from .checks import DataCheckError, check_finite, check_rate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameSource(PairedStreams):
    """Where the strain and witness frames are and what they hold."""

    witness_channels: tuple[str, ...]
    strain_sample_rate: float


@dataclass
class Stretch:
    """Consecutive analysis-ready seconds, every channel at its native rate."""

    start: int
    duration: int
    strain: np.ndarray
    witnesses: dict[str, np.ndarray]

    @property
    def end(self) -> int:
        return self.start + self.duration


@dataclass
class SpanData:
    """The usable data of a GPS span ``[start, end)``."""

    start: int
    end: int
    stretches: list[Stretch]
    strain_rate: float
    witness_rates: dict[str, float]
    skipped: Counter = field(default_factory=Counter)  # reason -> seconds left out

    @property
    def ready_seconds(self) -> int:
        return sum(s.duration for s in self.stretches)


def is_analysis_ready(state: np.ndarray) -> bool:
    """True when every state-vector sample of a frame is analysis ready."""
    return state.size > 0 and bool(np.all(analysis_ready_mask(state)))


class _StretchBuilder:
    """Collects consecutive ready seconds into stretches."""

    def __init__(self, min_seconds: int) -> None:
        self.min_seconds = min_seconds
        self.stretches: list[Stretch] = []
        self.short_seconds = 0
        self._start: int | None = None
        self._strain: list[np.ndarray] = []
        self._witnesses: list[dict[str, np.ndarray]] = []
        self._next = None

    def add(self, gps: int, duration: int, strain: np.ndarray, witnesses: dict[str, np.ndarray]) -> None:
        if self._next != gps:
            self.close()
            self._start = gps
        self._strain.append(strain)
        self._witnesses.append(witnesses)
        self._next = gps + duration

    def close(self) -> None:
        if self._start is not None and self._strain:
            duration = self._next - self._start
            if duration >= self.min_seconds:
                channels = self._witnesses[0].keys()
                self.stretches.append(
                    Stretch(
                        start=self._start,
                        duration=duration,
                        strain=np.concatenate(self._strain),
                        witnesses={c: np.concatenate([w[c] for w in self._witnesses]) for c in channels},
                    )
                )
            else:
                self.short_seconds += duration
        self._start, self._strain, self._witnesses, self._next = None, [], [], None


def load_span(source: FrameSource, start: int, end: int, min_stretch_seconds: int) -> SpanData:
    """Read the analysis-ready stretches of ``[start, end)``.

    Seconds without both frames, with an unreadable frame or not analysis
    ready throughout are left out (counted in ``skipped``); stretches shorter
    than ``min_stretch_seconds`` too. Only the kept seconds are checked for
    NaN/inf.

    Raises
    ------
    DataCheckError
        A configured channel is missing from a frame, a sample is NaN/inf, or a
        sample rate differs from the configured one or changes within the span.
    """
    witnesses_by_gps = {f.gps: f for f in source.witness_frames() if start <= f.gps < end}
    builder = _StretchBuilder(min_stretch_seconds)
    skipped: Counter = Counter()
    rates: dict[str, float] = {source.strain_channel: float(source.strain_sample_rate)}
    covered = 0
    for name in source.strain_frames():
        if not start <= name.gps < end:
            continue
        if name.gps + name.duration > end:
            skipped["frame crosses the end of the span"] += end - name.gps
            continue
        covered += name.duration
        witness_name = witnesses_by_gps.get(name.gps)
        if witness_name is None or witness_name.duration != name.duration:
            skipped["no witness frame"] += name.duration
            builder.close()
            continue
        seconds = _read_second(source, name, witness_name, rates)
        if seconds is None:
            skipped["unreadable frame"] += name.duration
            builder.close()
            continue
        strain, state, witnesses = seconds
        if not is_analysis_ready(state):
            skipped["not analysis ready"] += name.duration
            builder.close()
            continue
        check_finite(strain, source.strain_channel, name.gps)
        for channel, samples in witnesses.items():
            check_finite(samples, channel, name.gps)
        builder.add(name.gps, name.duration, strain, witnesses)
    builder.close()
    skipped["no strain frame"] += (end - start) - covered
    if builder.short_seconds:
        skipped[f"ready stretch shorter than {min_stretch_seconds} s"] += builder.short_seconds
    skipped = Counter({reason: n for reason, n in skipped.items() if n > 0})
    return SpanData(
        start=start,
        end=end,
        stretches=builder.stretches,
        strain_rate=rates[source.strain_channel],
        witness_rates={c: rates[c] for c in source.witness_channels if c in rates},
        skipped=skipped,
    )


def _read_second(
    source: FrameSource, strain_name: FrameName, witness_name: FrameName, rates: dict[str, float]
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None:
    """Strain, state and witnesses of one strain/witness frame pair; None if a frame is unreadable."""
    strain_path = strain_name.path(source.strain_dir)
    witness_path = witness_name.path(source.witness_dir)
    try:
        strain_frame = read_frame(strain_path, [source.strain_channel, source.state_channel])
        witness_frame = read_frame(witness_path, list(source.witness_channels))
    except MissingChannelError as exc:
        raise DataCheckError(f"configured channel missing: {exc}") from exc
    except (FrameError, FileNotFoundError) as exc:
        log.warning("GPS %d left out: %s", strain_name.gps, exc)
        return None
    gps, duration = strain_name.gps, strain_name.duration
    for frame, path, channels in (
        (strain_frame, strain_path, [source.strain_channel]),
        (witness_frame, witness_path, list(source.witness_channels)),
    ):
        for channel in channels:
            samples = frame[channel]
            rate = len(samples) / duration
            check_rate(channel, rate, rates.get(channel), gps, str(path))
            rates[channel] = rate
    return (
        strain_frame[source.strain_channel].astype(np.float64),
        strain_frame[source.state_channel],
        {c: witness_frame[c].astype(np.float64) for c in source.witness_channels},
    )
