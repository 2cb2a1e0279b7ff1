"""Sliding windows of raw vs cleaned strain, one per model version.

Frames arrive one second at a time. Each version's contiguous seconds are
gathered into segments of ``segment_seconds``; a complete segment is reduced
to a :class:`~deepclean_monitor.spectra.SpectrumPair` straight away, so a
window holds a few spectra, not the samples. A gap (a frame missing, or not
usable for that version) drops the partial segment. The window keeps the
segments that end within the last ``window_seconds`` of data seen.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .spectra import (
    SpectrumPair,
    band_asd_ratio,
    spectrum_pair,
    worst_out_of_band_ratio,
)


@dataclass(frozen=True)
class SpectrumSettings:
    """How spectra are taken and which figures are read from them."""

    fftlength: float
    band: tuple[float, float]
    out_of_band_range: tuple[float, float]
    segment_seconds: int
    window_seconds: int


@dataclass(frozen=True)
class VersionQuality:
    """The figures of one model version over its current window."""

    version: int
    seconds: int
    end_gps: int
    band_ratio: float
    out_of_band_ratio: float
    fallback_seconds: int
    spectra: SpectrumPair

    def figures(self) -> dict[str, float | int]:
        """The figures as plain numbers (for the decision log and metrics)."""
        return {
            "version": self.version,
            "seconds": self.seconds,
            "end_gps": self.end_gps,
            "band_ratio": round(self.band_ratio, 6),
            "out_of_band_ratio": round(self.out_of_band_ratio, 6),
            "fallback_seconds": self.fallback_seconds,
        }


@dataclass
class _Segment:
    start: int
    seconds: int
    fallback_seconds: int
    spectra: SpectrumPair


@dataclass
class VersionWindow:
    """The sliding window of one model version."""

    version: int
    settings: SpectrumSettings
    _segments: deque[_Segment] = field(default_factory=deque)
    _raw: list[np.ndarray] = field(default_factory=list)
    _cleaned: list[np.ndarray] = field(default_factory=list)
    _partial_start: int | None = None
    _partial_fallback: int = 0
    sample_rate: float | None = None
    last_gps: int | None = None
    _quality: VersionQuality | None = None  # of the current segments; reset when they change

    def add(self, gps: int, raw: np.ndarray, cleaned: np.ndarray, sample_rate: float, fallback: bool = False) -> bool:
        """Add one second of data sampled at ``sample_rate``; True when it completed a segment."""
        if self.last_gps is not None and gps <= self.last_gps:
            return False  # already seen (a version on both streams, or a replayed frame)
        if sample_rate != self.sample_rate:
            self._segments.clear()  # spectra at another rate cannot be averaged with these
            self._quality = None
            self.sample_rate = sample_rate
            self._drop_partial()
        if self.last_gps is None or gps != self.last_gps + 1:
            self._drop_partial()
        if self._partial_start is None:
            self._partial_start = gps
        self.last_gps = gps
        self._raw.append(raw)
        self._cleaned.append(cleaned)
        self._partial_fallback += int(fallback)
        if len(self._raw) < self.settings.segment_seconds:
            return False
        self._close_segment()
        return True

    def quality(self) -> VersionQuality | None:
        """The figures over the window; None before the first complete segment."""
        if not self._segments:
            return None
        if self._quality is None:
            self._quality = self._measure()
        return self._quality

    def _measure(self) -> VersionQuality:
        first = self._segments[0].spectra
        raw_psd = np.mean([s.spectra.raw_psd for s in self._segments], axis=0)
        cleaned_psd = np.mean([s.spectra.cleaned_psd for s in self._segments], axis=0)
        mean = SpectrumPair(first.frequencies, raw_psd, cleaned_psd)
        last = self._segments[-1]
        return VersionQuality(
            version=self.version,
            seconds=sum(s.seconds for s in self._segments),
            end_gps=last.start + last.seconds,
            band_ratio=band_asd_ratio(mean, self.settings.band),
            out_of_band_ratio=worst_out_of_band_ratio(mean, self.settings.band, self.settings.out_of_band_range),
            fallback_seconds=sum(s.fallback_seconds for s in self._segments),
            spectra=mean,
        )

    def _close_segment(self) -> None:
        spectra = spectrum_pair(
            np.concatenate(self._raw),
            np.concatenate(self._cleaned),
            self.sample_rate or 0.0,
            self.settings.fftlength,
        )
        start = self._partial_start if self._partial_start is not None else 0
        self._segments.append(_Segment(start, len(self._raw), self._partial_fallback, spectra))
        self._quality = None
        self._drop_partial()
        newest_end = start + self.settings.segment_seconds
        while self._segments and self._segments[0].start < newest_end - self.settings.window_seconds:
            self._segments.popleft()

    def _drop_partial(self) -> None:
        self._raw.clear()
        self._cleaned.clear()
        self._partial_start = None
        self._partial_fallback = 0


@dataclass
class VersionWindows:
    """Windows of every version seen recently, created on first sight."""

    settings: SpectrumSettings
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
