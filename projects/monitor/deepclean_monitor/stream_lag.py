"""How far behind the streams are, in figures an operator can trust.

The GPS clock says little about a feed that replays or simulates data: the
synthetic detector streams ahead of real time once its history is written, so
"GPS now minus the newest frame" goes negative. The lags shown are therefore
taken between the streams themselves, plus one wall-clock age::

    input (raw strain) ---- cleaning_behind ----> cleaned frames ---- monitor_behind ----> monitor
    newest input GPS                              newest cleaned GPS                      last GPS read
                                                  written cleaned_age_seconds ago (wall clock)

``feed_offset_seconds`` (end of the newest input frame minus GPS now) is kept
apart: on a live feed it is minus the feed's own latency; positive means the
data is ahead of the clock (a replay or a simulated feed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from deepclean.frames import FrameName, list_frames

from .frame_stream import CleanedFrameStream
from .monitor_loop import RawStream


@dataclass(frozen=True)
class StreamLag:
    """Where the input, the cleaned stream and the monitor stand (GPS seconds), and the newest cleaned frame's age."""

    newest_input_gps: int | None
    newest_cleaned_gps: int | None
    monitor_gps: int | None
    cleaned_age_seconds: float | None
    """Wall-clock seconds since the newest cleaned frame was written (its file's modification time)."""
    feed_offset_seconds: float | None
    """End of the newest input frame minus GPS now: > 0 when the data runs ahead of the clock."""

    @property
    def cleaning_behind(self) -> int | None:
        """Seconds of input not cleaned yet (negative: input frames removed, or the feed went back)."""
        return _difference(self.newest_input_gps, self.newest_cleaned_gps)

    @property
    def monitor_behind(self) -> int | None:
        """Cleaned seconds the monitor has not read yet."""
        return _difference(self.newest_cleaned_gps, self.monitor_gps)

    def describe(self) -> list[str]:
        """One plain sentence per figure; a negative difference is said in words, never shown as a minus sign."""
        if self.newest_cleaned_gps is None:
            lines = ["no cleaned frame yet"]
        else:
            lines = [f"cleaned up to GPS {self.newest_cleaned_gps}, written {_age(self.cleaned_age_seconds)}"]
        if self.newest_input_gps is None:
            lines.append("no input frame found")
        elif self.cleaning_behind is not None:
            behind = self.cleaning_behind
            lines.append(
                f"cleaning {_duration(behind)} behind the input (GPS {self.newest_input_gps})"
                if behind >= 0
                else f"cleaned {_duration(-behind)} past the newest input frame (GPS {self.newest_input_gps}): "
                "input frames removed, or the feed went back"
            )
        if self.monitor_behind is not None:
            lines.append(
                f"monitor read up to GPS {self.monitor_gps}, {_duration(self.monitor_behind)} behind the cleaned stream"
            )
        if self.feed_offset_seconds is not None:
            offset = self.feed_offset_seconds
            lines.append(
                f"input {_duration(offset)} ahead of GPS now (a replay or a simulated feed)"
                if offset > 0.5
                else f"input {_duration(-offset)} behind GPS now"
            )
        return lines

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "newest_input_gps": self.newest_input_gps,
            "newest_cleaned_gps": self.newest_cleaned_gps,
            "monitor_gps": self.monitor_gps,
            "cleaning_behind_seconds": self.cleaning_behind,
            "monitor_behind_seconds": self.monitor_behind,
            "cleaned_age_seconds": self.cleaned_age_seconds,
            "feed_offset_seconds": self.feed_offset_seconds,
        }


def measure_lag(
    raw: RawStream,
    cleaned: CleanedFrameStream,
    monitor_gps: int | None,
    gps_now: float | None,
    wall_now: float | None = None,
) -> StreamLag:
    """The :class:`StreamLag` of the frames on disk now, the monitor having read up to ``monitor_gps``.

    ``gps_now`` None leaves the feed offset unknown; ``wall_now`` (Unix time) defaults to now.
    """
    inputs = list_frames(raw.directory, raw.site, raw.ifo, raw.tag)
    unread = cleaned.available()
    newest_cleaned = max(
        (gps for gps in (unread[-1].gps if unread else None, monitor_gps) if gps is not None), default=None
    )
    age = None
    if newest_cleaned is not None:
        path = FrameName(gps=newest_cleaned, site=cleaned.site, ifo=cleaned.ifo, tag=cleaned.tag).path(
            cleaned.directory
        )
        try:
            age = (time.time() if wall_now is None else wall_now) - path.stat().st_mtime
        except FileNotFoundError:  # removed by retention, or never written (given up as missing)
            age = None
    offset = None
    if inputs and gps_now is not None:
        offset = inputs[-1].gps + inputs[-1].duration - gps_now
    return StreamLag(
        newest_input_gps=inputs[-1].gps if inputs else None,
        newest_cleaned_gps=newest_cleaned,
        monitor_gps=monitor_gps,
        cleaned_age_seconds=age,
        feed_offset_seconds=offset,
    )


def _difference(ahead: int | None, behind: int | None) -> int | None:
    return None if ahead is None or behind is None else ahead - behind


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "at an unknown time (its file is gone)"
    if seconds < 0:
        return "just now (its file is stamped ahead of this machine's clock)"
    return f"{_duration(seconds)} ago"


def _duration(seconds: float) -> str:
    """``seconds`` (not negative) in the unit an operator reads at a glance: s, min, h or days."""
    for unit, size, above in (("days", 86400, 172800), ("h", 3600, 7200), ("min", 60, 120)):
        if seconds >= above:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
