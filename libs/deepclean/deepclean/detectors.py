"""Detectors as configuration: which detectors a deployment cleans, and the base values of each.

``[tool.typeo.base]`` lists the detectors to clean (``detectors = ["H1", "L1"]``) and
``[tool.typeo.detectors.<name>]`` holds everything that belongs to one detector (site, ifo,
channels, directories, model name, seed). A service runs for one detector: its table is laid over
``[tool.typeo.base]`` before the ``${base.<key>}`` references of the script tables are resolved. A
sub-table named after a script (``[tool.typeo.detectors.L1.monitor]``) is laid over that script's
table instead (ports, which must differ between detectors). A configuration without a
``detectors`` list is a single-detector configuration: base is used as it is.

::

    [tool.typeo.base]
    detectors = ["H1", "L1"]
    band = [55.0, 65.0]
    strain_dir = "${base.data_dir}/${base.ifo}/llhoft"  # the detector's ifo

    [tool.typeo.detectors.L1]
    site = "L"
    ifo = "L1"
    strain_channel = "L1:GDS-CALIB_STRAIN"

    [tool.typeo.detectors.L1.monitor]
    metrics_port = 9115

A sub-table of a detector's table that names no script (``[tool.typeo.detectors.L1.cleaner]`` for
``.clean``) is an error, not a base value: its ports would silently be the first detector's. Every
service of every detector runs on one host, so :func:`check_ports` refuses a port (a ``*_port`` key
that is not 0) that two detectors share, or that a detector shares with the one status page.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

DETECTORS_KEY = "detectors"
SHARED_SCRIPTS = frozenset({"export", "status", "suite"})
"""Script tables of services that run once for every detector (the exporter, the status page, the suite)."""
STATUS_SCRIPT = "status"
"""The script table of the one status page of every detector (its ``status_port``)."""
PORT_SUFFIX = "_port"


class DetectorError(ValueError):
    """The detectors of a configuration are not usable (:class:`deepclean.config.ConfigError` wraps it)."""


def configured_detectors(typeo: dict, path: Path) -> list[str]:
    """The detectors ``[tool.typeo.base] detectors`` lists (empty: a single-detector configuration).

    Every listed detector needs its ``[tool.typeo.detectors.<name>]`` table; tables that are not
    listed (a detector defined but not cleaned now) are allowed.
    """
    names = typeo.get("base", {}).get(DETECTORS_KEY)
    if names is None:
        return []
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise DetectorError(
            f"{path}: [tool.typeo.base] {DETECTORS_KEY} must be a non-empty list of names, got {names!r}"
        )
    if len(set(names)) != len(names):
        raise DetectorError(f"{path}: [tool.typeo.base] {DETECTORS_KEY} names a detector twice: {names}")
    tables = typeo.get(DETECTORS_KEY, {})
    missing = [name for name in names if not isinstance(tables.get(name), dict)]
    if missing:
        raise DetectorError(
            f"{path}: detector(s) {missing} are listed in [tool.typeo.base] but have no table "
            f"[tool.typeo.{DETECTORS_KEY}.<name>]"
        )
    return list(names)


def detector_overlay(typeo: dict, detector: str | None, path: Path) -> tuple[dict[str, Any], dict[str, dict]]:
    """``[tool.typeo.base]`` with ``detector``'s table laid over it, and that table's script sub-tables.

    ``detector`` None is the first configured detector (a single-detector configuration: base as it
    is); a detector that is not configured raises :class:`DetectorError` naming the configured ones.
    """
    names = configured_detectors(typeo, path)
    base = dict(typeo.get("base", {}))
    if not names:
        if detector is not None:
            raise DetectorError(
                f"{path}: detector {detector!r} asked for, but [tool.typeo.base] lists no {DETECTORS_KEY}"
            )
        return base, {}
    chosen = names[0] if detector is None else detector
    if chosen not in names:
        raise DetectorError(f"{path}: unknown detector {chosen!r}; configured detectors: {', '.join(names)}")
    scripts = typeo.get("scripts", {})
    table = typeo[DETECTORS_KEY][chosen]
    overlays = {key: value for key, value in table.items() if isinstance(value, dict) and key in scripts}
    stray = sorted(
        key for key, value in table.items() if isinstance(value, dict) and key not in scripts and key not in base
    )
    if stray:
        raise DetectorError(
            f"{path}: [tool.typeo.{DETECTORS_KEY}.{chosen}.{stray[0]}] names no script table; the known script "
            f"names are {', '.join(sorted(scripts)) or 'none'} (a detector's sub-table overlays "
            f"[tool.typeo.scripts.<name>])"
        )
    base.update({key: value for key, value in table.items() if key not in overlays})
    return base, overlays


def is_port_key(key: str, value: Any) -> bool:
    """True for a port a service binds: a ``*_port`` key with a non-zero integer (0: not served)."""
    return key.endswith(PORT_SUFFIX) and isinstance(value, int) and not isinstance(value, bool) and value != 0


def check_ports(ports: Mapping[str, Mapping[str, int]], status_port: int | None, path: Path) -> None:
    """Raise :class:`DetectorError` when two detectors would bind one port, or one the status page's.

    Parameters
    ----------
    ports
        Each configured detector's ports: ``{detector: {"[tool.typeo.scripts.train] metrics_port": 9107}}``
        (the resolved per-detector script tables; keys of :func:`is_port_key`).
    status_port
        The shared status page's port (``[tool.typeo.scripts.status] status_port``); None or 0: none.
    path
        The configuration file, for the message.

    Raises
    ------
    DetectorError
        Naming both detectors (or the detector and the status page), the keys and the port.
    """
    owners: dict[int, tuple[str, str]] = {}
    for detector, keys in ports.items():
        for key, port in keys.items():
            if status_port and port == status_port:
                raise DetectorError(
                    f"{path}: detector {detector}'s {key} = {port} is the port of the status page of every "
                    f"detector ([tool.typeo.scripts.{STATUS_SCRIPT}] status_port); set another in "
                    f"[tool.typeo.{DETECTORS_KEY}.{detector}.<script>]"
                )
            other = owners.get(port)
            if other is not None and other[0] != detector:
                raise DetectorError(
                    f"{path}: detectors {other[0]} and {detector} both bind port {port} ({other[0]}'s {other[1]}, "
                    f"{detector}'s {key}); give each detector its own in [tool.typeo.{DETECTORS_KEY}.<name>.<script>]"
                )
            owners.setdefault(port, (detector, key))
