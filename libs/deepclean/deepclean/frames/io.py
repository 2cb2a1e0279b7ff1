"""Reading and writing GWF frames.

The fast path (used by the streaming services) goes through ``gwframe``; the
files it writes are ordinary GWF files that gwpy (with the LALFrame backend)
reads, and :func:`read_timeseries` gives the same data as gwpy objects for
anything that wants them. Writes are atomic: a frame is written under a
temporary name in the same directory and renamed, so a reader never sees a
half-written file with a frame name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gwframe
import numpy as np

from ..atomic_files import replace_file


class FrameError(RuntimeError):
    """A frame file cannot be read (yet): truncated, corrupt or mid-write."""


class MissingChannelError(FrameError):
    """A frame does not hold a channel that was asked for."""


@dataclass
class FrameData:
    """The channels of one frame: samples, sample rates and the GPS start."""

    t0: float
    duration: float
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def sample_rate(self, channel: str) -> float:
        return len(self.data[channel]) / self.duration

    def __getitem__(self, channel: str) -> np.ndarray:
        return self.data[channel]

    def __contains__(self, channel: str) -> bool:
        return channel in self.data


def read_frame(path: str | Path, channels: list[str] | None = None) -> FrameData:
    """Read ``channels`` (all when None) from one GWF file.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    FrameError
        The file cannot be parsed (truncated, corrupt, being written).
    MissingChannelError
        A requested channel is not in the file.
    """
    path = Path(path)
    try:
        series = gwframe.read(str(path), channels=list(channels) if channels is not None else None)
    except FileNotFoundError:
        raise
    except Exception as exc:  # gwframe raises RuntimeError/ValueError for bad files
        if not path.exists():
            raise FileNotFoundError(str(path)) from exc
        raise FrameError(f"cannot read frame {path}: {exc}") from exc
    if not isinstance(series, dict):
        series = {series.name: series}
    if channels is not None:
        missing = [c for c in channels if c not in series]
        if missing:
            raise MissingChannelError(f"frame {path} has no channel(s) {missing}")
    if not series:
        raise FrameError(f"frame {path} holds no channels")
    first = next(iter(series.values()))
    return FrameData(
        t0=float(first.start),
        duration=float(first.duration),
        data={name: np.asarray(ts.array) for name, ts in series.items()},
    )


def write_frame(
    path: str | Path,
    data: dict[str, np.ndarray],
    t0: float,
    duration: float = 1.0,
    compress: bool = False,
) -> Path:
    """Write ``data`` (channel name -> samples spanning ``duration`` s) atomically.

    Each channel's sample rate is its length over ``duration``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rates = {}
    for name, samples in data.items():
        rate = len(samples) / duration
        if rate <= 0 or rate != int(rate):
            raise ValueError(f"channel {name}: {len(samples)} samples do not span {duration} s at an integer rate")
        rates[name] = rate
    ifo = next(iter(data)).split(":")[0] if data else ""
    payload = gwframe.write_bytes(
        {name: np.ascontiguousarray(samples) for name, samples in data.items()},
        start=float(t0),
        sample_rate=rates,
        name=ifo,
        compression=6 if compress else 0,
    )
    return replace_file(path, payload)


def read_timeseries(path: str | Path, channels: list[str]):
    """Read channels with gwpy (a ``TimeSeriesDict``), as users do."""
    from gwpy.timeseries import TimeSeriesDict

    return TimeSeriesDict.read(str(path), channels)
