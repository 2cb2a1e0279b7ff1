"""Sliding windows of raw vs cleaned strain, one per model version, and their figures.

Frames arrive one second at a time. Each second is reduced straight away to its
:class:`~deepclean.figures.SecondSpectra` (1 s Hann periodograms of the raw strain
and of the noise the cleaning subtracted, ``raw - cleaned``); a version's
contiguous seconds are summed into :class:`~deepclean.figures.BinPowers`
segments of ``segment_seconds``, so a window holds a few sums, not the samples.
A gap (a frame missing, or not usable for that version) drops the partial
segment. The window keeps the segments that end within the last
``window_seconds`` of data seen; its figures are those of :mod:`deepclean.figures`
on the window's summed powers, exactly as the cleaner's safety gate takes them
over its 8 s.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from deepclean.figures import (
    DEFAULT_MIN_EXCESS,
    DEFAULT_SIGMA,
    BinJudgement,
    BinPowers,
    SecondSpectra,
    judge_bins,
    second_spectra,
)
from deepclean.figures import range_lost as figures_range_lost

FAILING_BINS_LOGGED = 16
"""Failing bins listed (the worst ones) in a version's figures; all of them are counted."""


@dataclass(frozen=True)
class FigureSettings:
    """How the windows are cut and the settings of :func:`deepclean.figures.judge_bins`."""

    band: tuple[float, float]
    check_range: tuple[float, float]
    segment_seconds: int
    window_seconds: int
    sigma: float = DEFAULT_SIGMA
    min_excess: float = DEFAULT_MIN_EXCESS


@dataclass(frozen=True)
class VersionQuality:
    """The figures of one model version over its current window, judged against the raw strain."""

    version: int
    seconds: int
    end_gps: int
    fallback_seconds: int
    judgement: BinJudgement
    range_raw: float
    """BNS range (Mpc) of the raw strain over the window."""
    range_cleaned: float
    """BNS range (Mpc) of the cleaned strain over the window."""
    powers: BinPowers
    min_excess: float = DEFAULT_MIN_EXCESS
    """The allowance of :func:`~deepclean.figures.judge_bins`, also applied to the range (see ``range_lost``)."""

    @classmethod
    def measure(
        cls, version: int, powers: BinPowers, settings: FigureSettings, end_gps: int, fallback_seconds: int
    ) -> VersionQuality:
        """The figures of ``powers`` summed over the window ending at ``end_gps``."""
        judgement = judge_bins(powers, settings.band, settings.check_range, settings.sigma, settings.min_excess)
        return cls(
            version=version,
            seconds=powers.seconds,
            end_gps=end_gps,
            fallback_seconds=fallback_seconds,
            judgement=judgement,
            range_raw=powers.bns_range_mpc("raw"),
            range_cleaned=powers.bns_range_mpc("cleaned"),
            powers=powers,
            min_excess=settings.min_excess,
        )

    @property
    def band_ratio(self) -> float:
        """Mean ASD(cleaned)/ASD(raw) over the band's 1 Hz bins (``deepclean.figures``)."""
        return self.judgement.band_ratio

    @property
    def worst_bin(self) -> float:
        """Largest ASD ratio of a 1 Hz bin in the checked range outside the band."""
        return self.judgement.worst_bin

    @property
    def worst_bin_frequency(self) -> float:
        return self.judgement.worst_bin_frequency

    @property
    def range_lost(self) -> bool:
        """The cleaned BNS range is below the raw strain's (:func:`deepclean.figures.range_lost`)."""
        return figures_range_lost(self.range_raw, self.range_cleaned)

    @property
    def better_than_raw(self) -> bool:
        """No bin with noise added, band mean ratio at most 1, and no BNS range lost (``range_lost``)."""
        return self.judgement.passed and not self.range_lost

    def worse_than_raw(self) -> str | None:
        """Why the cleaned strain is not better than raw (None when it is)."""
        problems = [] if self.judgement.passed else [self.judgement.describe()]
        if self.range_lost:
            loss = 1.0 - self.range_cleaned / self.range_raw
            problems.append(f"BNS range {self.range_cleaned:.4g} Mpc, {loss:.2%} below raw {self.range_raw:.4g} Mpc")
        return "; ".join(problems) or None

    def figures(self) -> dict[str, float | int | bool | list]:
        """The figures as plain numbers (for the decision log)."""
        judgement = self.judgement
        worst = sorted(
            zip(judgement.failing_bins, judgement.failing_ratios, strict=True), key=lambda b: b[1], reverse=True
        )[:FAILING_BINS_LOGGED]
        return {
            "version": self.version,
            "seconds": self.seconds,
            "end_gps": self.end_gps,
            "fallback_seconds": self.fallback_seconds,
            "band_ratio": round(self.band_ratio, 6),
            "worst_bin": round(self.worst_bin, 6),
            "worst_bin_frequency": _number(self.worst_bin_frequency),
            "failing_bin_count": len(judgement.failing_bins),
            "failing_bins": [[f, round(r, 6)] for f, r in sorted(worst)],
            "range_raw_mpc": _number(self.range_raw),
            "range_cleaned_mpc": _number(self.range_cleaned),
            "better_than_raw": self.better_than_raw,
        }


def _number(value: float) -> float | None:
    """``value`` for JSON: None for NaN (no bin outside the band, a range of nothing)."""
    return float(value) if np.isfinite(value) else None


@dataclass
class _Segment:
    start: int
    fallback_seconds: int
    powers: BinPowers


@dataclass
class VersionWindow:
    """The sliding window of one model version."""

    version: int
    settings: FigureSettings
    _segments: deque[_Segment] = field(default_factory=deque)
    _partial: list[SecondSpectra] = field(default_factory=list)
    _partial_start: int | None = None
    _partial_fallback: int = 0
    sample_rate: int | None = None
    last_gps: int | None = None
    _quality: VersionQuality | None = None  # of the current segments; reset when they change

    def add(self, gps: int, raw: np.ndarray, cleaned: np.ndarray, sample_rate: float, fallback: bool = False) -> bool:
        """Add one second of data sampled at ``sample_rate``; True when it completed a segment."""
        if self.last_gps is not None and gps <= self.last_gps:
            return False  # already seen (a version on both streams, or a replayed frame)
        rate = round(sample_rate)
        if rate != self.sample_rate:
            self._segments.clear()  # bins at another rate cannot be summed with these
            self._quality = None
            self.sample_rate = rate
            self._drop_partial()
        if self.last_gps is None or gps != self.last_gps + 1:
            self._drop_partial()
        if self._partial_start is None:
            self._partial_start = gps
        self.last_gps = gps
        raw = np.asarray(raw, dtype=float)
        self._partial.append(second_spectra(raw, raw - np.asarray(cleaned, dtype=float)))
        self._partial_fallback += int(fallback)
        if len(self._partial) < self.settings.segment_seconds:
            return False
        self._close_segment()
        return True

    def quality(self) -> VersionQuality | None:
        """The figures over the window; None before the first complete segment."""
        if not self._segments:
            return None
        if self._quality is None:
            last = self._segments[-1]
            self._quality = VersionQuality.measure(
                self.version,
                BinPowers.total(s.powers for s in self._segments),
                self.settings,
                end_gps=last.start + last.powers.seconds,
                fallback_seconds=sum(s.fallback_seconds for s in self._segments),
            )
        return self._quality

    def _close_segment(self) -> None:
        start = self._partial_start if self._partial_start is not None else 0
        powers = BinPowers.of(self._partial, self.sample_rate or 0)
        self._segments.append(_Segment(start, self._partial_fallback, powers))
        self._quality = None
        self._drop_partial()
        newest_end = start + self.settings.segment_seconds
        while self._segments and self._segments[0].start < newest_end - self.settings.window_seconds:
            self._segments.popleft()

    def _drop_partial(self) -> None:
        self._partial.clear()
        self._partial_start = None
        self._partial_fallback = 0


@dataclass
class VersionWindows:
    """Windows of every version seen recently, created on first sight."""

    settings: FigureSettings
    windows: dict[int, VersionWindow] = field(default_factory=dict)

    def add(
        self, version: int, gps: int, raw: np.ndarray, cleaned: np.ndarray, sample_rate: float, fallback: bool = False
    ) -> bool:
        """Add one second of ``version``'s data; True when a segment completed."""
        window = self.windows.setdefault(version, VersionWindow(version, self.settings))
        return window.add(gps, raw, cleaned, sample_rate, fallback)

    def quality(self, version: int) -> VersionQuality | None:
        """The figures of ``version`` (None if it has no complete segment)."""
        window = self.windows.get(version)
        return window.quality() if window else None

    def forget_older_than(self, gps: int) -> None:
        """Drop the windows of versions last seen before ``gps``."""
        for version in [v for v, w in self.windows.items() if w.last_gps is not None and w.last_gps < gps]:
            del self.windows[version]
