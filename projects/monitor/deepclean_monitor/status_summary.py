"""The status page's figures as JSON (``status.json`` beside ``index.html``), for scripts and the served page.

Keys: ``updated`` (UTC) and ``updated_unix``; ``production_version`` and ``canary_version`` (in the
latest cleaned frame, 0: none); ``exporter_pins`` (None: the exporter did not answer); ``lag`` (see
:class:`~deepclean_monitor.stream_lag.StreamLag`: GPS seconds and differences between the streams, the
newest cleaned frame's wall-clock age); ``frames_missing``; ``versions`` (by version: the figures of
:meth:`~deepclean_monitor.version_windows.VersionQuality.figures`, its ``role`` and, when not better than
raw, ``worse_than_raw``); ``decisions`` (the latest ten, newest first) and ``pending`` (waiting for the
exporter); ``images`` (the plots, relative to the page).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from deepclean.atomic_files import replace_file

from .policy import Decision
from .status_page import StatusSnapshot, stream_roles

DECISIONS_SHOWN = 10


def status_summary(snapshot: StatusSnapshot) -> dict[str, Any]:
    """The figures of ``snapshot`` as plain JSON values."""
    versions = {}
    for version, quality in sorted(snapshot.qualities.items()):
        figures = quality.figures()
        figures["role"] = stream_roles(version, snapshot)
        problem = quality.worse_than_raw()
        if problem is not None:
            figures["worse_than_raw"] = problem
        versions[str(version)] = figures
    return {
        "updated": snapshot.updated,
        "updated_unix": snapshot.updated_unix,
        "production_version": snapshot.production_version,
        "canary_version": snapshot.canary_version,
        "exporter_pins": snapshot.exporter_pins,
        "lag": snapshot.lag.as_dict() if snapshot.lag is not None else None,
        "frames_missing": snapshot.frames_missing,
        "versions": versions,
        "decisions": [_decision(d) for d in reversed(snapshot.decisions[-DECISIONS_SHOWN:])],
        "pending": [_decision(d) for d in snapshot.pending],
        "images": list(snapshot.images),
    }


def write_status_summary(path: Path, snapshot: StatusSnapshot) -> Path:
    """Write :func:`status_summary` of ``snapshot`` to ``path`` (atomically)."""
    text = json.dumps(_finite(status_summary(snapshot)), indent=1, allow_nan=False)
    return replace_file(path, text.encode("utf-8"))


def _decision(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action,
        "label": decision.label,
        "version": decision.version,
        "previous": decision.previous,
        "gps": decision.gps,
        "reason": decision.reason,
    }


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (strict JSON, which browsers' ``JSON.parse`` needs) and
    numpy scalars as Python numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
