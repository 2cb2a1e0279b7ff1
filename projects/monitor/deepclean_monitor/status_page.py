"""The status page: a static HTML file in the reports directory that refreshes itself.

Per version it shows the figures of :mod:`deepclean.figures` over the window, the BNS
range of the raw and the cleaned strain, and whether the version is better than raw;
above them where the streams stand (:mod:`~deepclean_monitor.stream_lag`). The page works
opened from disk and served (:mod:`~deepclean_monitor.status_server`): its links are relative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from deepclean.atomic_files import replace_file

from .policy import Decision
from .stream_lag import StreamLag
from .version_windows import VersionQuality


@dataclass(frozen=True)
class StatusSnapshot:
    """What the page shows."""

    updated: str
    updated_unix: float
    last_gps: int | None
    production_version: int
    canary_version: int
    qualities: dict[int, VersionQuality]
    decisions: Sequence[Decision]
    pending: Sequence[Decision]
    frames_missing: int
    lag: StreamLag | None
    images: Sequence[str]
    exporter_pins: dict[str, int | None] | None = None  # None: the exporter did not answer


def write_status_page(path: Path, snapshot: StatusSnapshot, refresh_seconds: int) -> Path:
    """Write ``index.html`` showing ``snapshot``; browsers reload it every ``refresh_seconds``."""
    stamp = snapshot.last_gps or 0
    rows = (
        "\n".join(
            f"<tr><td>{v}</td><td>{stream_roles(v, snapshot)}</td><td>{q.band_ratio:.4f}</td>"
            f"<td>{q.worst_bin:.4f} at {q.worst_bin_frequency:g} Hz</td><td>{len(q.judgement.failing_bins)}</td>"
            f"<td>{q.range_raw:.4g} / {q.range_cleaned:.4g}</td>{_verdict(q)}"
            f"<td>{q.seconds}</td><td>{q.fallback_seconds}</td></tr>"
            for v, q in sorted(snapshot.qualities.items())
        )
        or '<tr><td colspan="9">no complete window yet</td></tr>'
    )
    decisions = (
        "\n".join(
            f"<li><b>{escape(d.label)}</b> ({'canary; production' if d.action == 'reject' else 'from'} {d.previous})"
            f" at GPS {d.gps}: {escape(d.reason)}</li>"
            for d in reversed(snapshot.decisions[-10:])
        )
        or "<li>none yet</li>"
    )
    pending = "".join(
        f'<p class="warn">waiting for the exporter: {escape(d.label)} (decided at GPS {d.gps})</p>'
        for d in snapshot.pending
    )
    images = "\n".join(f'<img src="{escape(name)}?gps={stamp}" alt="{escape(name)}">' for name in snapshot.images)
    no_model = " (raw strain, flagged no model)" if snapshot.production_version <= 0 else ""
    lag = "; ".join(snapshot.lag.describe()) if snapshot.lag is not None else "no frame read yet"
    if snapshot.exporter_pins is None:
        pins = '<span class="warn">exporter not answering</span>'
    else:
        pins = ", ".join(f"{name} {_version(v or 0)}" for name, v in snapshot.exporter_pins.items())
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh_seconds}">
<title>DeepClean monitor</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
td, th {{ border: 1px solid #bbb; padding: 0.3em 0.8em; text-align: right; }}
.versions span {{ font-size: 1.4em; margin-right: 2em; }}
.warn {{ color: #a00; font-weight: bold; }}
img {{ max-width: 100%; display: block; margin: 0.5em 0; }}
</style>
</head>
<body>
<h1>DeepClean monitor</h1>
<p class="versions"><span id="production">production: <b>{_version(snapshot.production_version)}</b>{no_model}</span>
<span id="canary">canary: <b>{_version(snapshot.canary_version)}</b></span></p>
<p>versions in the latest cleaned frame; pinned at the exporter: <span id="pins">{pins}</span></p>
<p id="lag">{escape(lag)}</p>
<p>frames missing {snapshot.frames_missing}; updated {escape(snapshot.updated)};
<a href="status.json">figures as JSON</a></p>
{pending}
<table>
<tr><th>version</th><th>stream</th><th>band ASD ratio</th><th>worst out-of-band bin</th><th>bins with noise added</th>
<th>BNS range raw / cleaned [Mpc]</th><th>better than raw</th><th>seconds in window</th><th>fallback seconds</th></tr>
{rows}
</table>
{images}
<h2>Decisions</h2>
<ul id="decisions">
{decisions}
</ul>
</body>
</html>
"""
    return replace_file(path, html.encode("utf-8"))


def _verdict(quality: VersionQuality) -> str:
    problem = quality.worse_than_raw()
    if problem is None:
        return "<td>yes</td>"
    return f'<td class="warn" title="{escape(problem)}">no</td>'


def _version(version: int) -> str:
    return str(version) if version > 0 else "none"


def stream_roles(version: int, snapshot: StatusSnapshot) -> str:
    """``production``, ``canary``, ``production + canary`` or ``earlier``: where ``version`` is live."""
    roles = [
        name
        for name, live in (("production", snapshot.production_version), ("canary", snapshot.canary_version))
        if live == version
    ]
    return " + ".join(roles) or "earlier"


@dataclass(frozen=True)
class Unreadable:
    """A detector's ``status.json`` that cannot be shown, and why (the overview shows the reason in its row)."""

    reason: str


def summary_problem(summary: object) -> str | None:
    """What keeps ``summary`` (a parsed ``status.json``) from being shown in the overview; None when it can be.

    Checks the values the overview reads: an object, integer versions (or null), ``versions`` an object
    of objects whose figures are numbers (or null), ``lag`` an object whose ``cleaned_age_seconds`` is
    a number (or null).
    """
    if not isinstance(summary, dict):
        return f"status.json holds {_kind(summary)}, not an object"
    for key in ("production_version", "canary_version"):
        value = summary.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{key} is {_shown(value)}, not an integer"
    versions = summary.get("versions", {})
    if not isinstance(versions, dict):
        return f"versions is {_kind(versions)}, not an object"
    for version, figures in versions.items():
        if not isinstance(figures, dict):
            return f"versions[{_shown(version)}] is {_kind(figures)}, not an object"
        for key in ("band_ratio", "range_raw_mpc", "range_cleaned_mpc"):
            if not _is_figure(figures.get(key)):
                return f"versions[{_shown(version)}].{key} is {_shown(figures.get(key))}, not a number"
    lag = summary.get("lag")
    if lag is not None and not isinstance(lag, dict):
        return f"lag is {_kind(lag)}, not an object"
    if lag is not None and not _is_figure(lag.get("cleaned_age_seconds")):
        return f"lag.cleaned_age_seconds is {_shown(lag.get('cleaned_age_seconds'))}, not a number"
    return None


def _is_figure(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def overview_html(detectors: Sequence[tuple[str, dict | Unreadable | None]], refresh_seconds: int = 30) -> str:
    """One page for every detector: its versions, cleaning figures and lag, and a link to its own page.

    ``detectors`` holds each detector's name and its ``status.json`` (None: not written yet;
    :class:`Unreadable`, or a summary :func:`summary_problem` finds fault with: that row says
    "unreadable" and why, and the other rows are shown as ever).
    """
    rows = "\n".join(_overview_row(name, summary) for name, summary in detectors)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh_seconds}">
<title>DeepClean: every detector</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #bbb; padding: 0.3em 0.8em; text-align: right; }}
.warn {{ color: #a00; font-weight: bold; }}
</style>
</head>
<body>
<h1>DeepClean: every detector</h1>
<table id="detectors">
<tr><th>detector</th><th>production</th><th>canary</th><th>production band ASD ratio</th>
<th>BNS range raw / cleaned [Mpc]</th><th>newest cleaned frame age [s]</th><th>updated</th></tr>
{rows}
</table>
</body>
</html>
"""


def _overview_row(name: str, summary: dict | Unreadable | None) -> str:
    link = f'<td><a href="{escape(name)}/">{escape(name)}</a></td>'
    if summary is None:
        return f'<tr id="{escape(name)}">{link}<td colspan="6" class="warn">no status yet</td></tr>'
    if not isinstance(summary, Unreadable) and (problem := summary_problem(summary)) is not None:
        summary = Unreadable(problem)
    if isinstance(summary, Unreadable):
        return (
            f'<tr id="{escape(name)}">{link}<td colspan="6" class="warn">unreadable: {escape(summary.reason)}</td></tr>'
        )
    production, canary = summary.get("production_version") or 0, summary.get("canary_version") or 0
    figures = summary.get("versions", {}).get(str(production), {})
    ratio = figures.get("band_ratio")
    ranges = (figures.get("range_raw_mpc"), figures.get("range_cleaned_mpc"))
    age = (summary.get("lag") or {}).get("cleaned_age_seconds")
    return (
        f'<tr id="{escape(name)}">{link}<td>{_version(production)}</td><td>{_version(canary)}</td>'
        f"<td>{_figure(ratio, '.4f')}</td><td>{_figure(ranges[0], '.4g')} / {_figure(ranges[1], '.4g')}</td>"
        f"<td>{_figure(age, '.0f')}</td><td>{escape(str(summary.get('updated', '')))}</td></tr>"
    )


def _figure(value: float | None, spec: str) -> str:
    if value is None:
        return "-"
    text = format(value, spec)
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0" for a rounded-away sign
