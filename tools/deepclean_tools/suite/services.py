"""The services of the suite, in start order, and the command line of each.

One exporter (and Triton server) and one status page serve every detector; each detector has its
own synthetic detector, trainer, cleaner and monitor, named ``<service>-<detector>``
(``trainer-L1``) and told their detector by ``--detector``. A configuration that lists no
detectors runs each service once, under its plain name.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

SHARED_GROUP = "deepclean"


@dataclass(frozen=True)
class Service:
    """One long-running process of the suite.

    Parameters
    ----------
    name
        Its name: pane title, ``<name>.pid`` and ``<name>.console.log``.
    command
        Its command line.
    kind
        What it is (``trainer``): what ``--services`` selects.
    group
        The detector it serves, or :data:`SHARED_GROUP` (its tmux window).
    """

    name: str
    command: list[str]
    kind: str = ""
    group: str = SHARED_GROUP


# kind -> (environment, program); the exporter comes first because the others talk to it,
# the detector before the services that read its frames.
_SHARED = [("exporter", "exporter", ["deepclean-export"])]
_PER_DETECTOR = [
    ("detector", "library", ["deepclean-detector"]),
    ("trainer", "trainer", ["deepclean-train"]),
    ("cleaner", "cleaner", ["deepclean-clean"]),
    ("monitor", "monitor", ["deepclean-monitor"]),
]
_LAST = [("status", "monitor", ["python", "-m", "deepclean_monitor.status_server"])]


def _command(root: Path, env: str, program: list[str]) -> list[str] | None:
    executable = root / ".venvs" / env / "bin" / program[0]
    return [str(executable), *program[1:]] if executable.exists() else None


def discover(
    root: Path, wanted: list[str] | None = None, triton: bool = False, detectors: list[str] | None = None
) -> list[Service]:
    """The services whose environment is built and whose program exists, for ``detectors``.

    ``wanted`` names kinds (``trainer``: every detector's) or services (``trainer-L1``); None is all.
    ``detectors`` empty or None: one of each service under its plain name. Services that are not part
    of this checkout are simply not launched.
    """
    candidates: list[Service] = []
    for kind, env, program in _SHARED:
        candidates.append(Service(kind, _command(root, env, program) or [], kind))
    if triton:
        launcher = root / "servers" / "triton" / "serve.sh"
        if not launcher.exists() or not (root / ".venvs" / "triton-server").exists():
            raise FileNotFoundError("the Triton server is not set up: ./build.sh triton-server")
        candidates.append(Service("triton", ["bash", str(launcher)], "triton"))
    for kind, env, program in _PER_DETECTOR:
        command = _command(root, env, program) or []
        if not detectors:
            candidates.append(Service(kind, command, kind))
            continue
        for detector in detectors:
            named = [*command, "--detector", detector] if command else []
            candidates.append(Service(f"{kind}-{detector}", named, kind, detector))
    for kind, env, program in _LAST:
        candidates.append(Service(kind, _command(root, env, program) or [], kind))
    known = {c.kind for c in candidates} | {c.name for c in candidates} | {"triton"}  # triton: with --triton
    unknown = [w for w in wanted or () if w not in known]
    if unknown:
        raise ValueError(f"unknown service(s) {unknown}; the services are {', '.join(sorted(known))}")
    return [s for s in candidates if s.command and (not wanted or s.kind in wanted or s.name in wanted)]


def tmux_available() -> bool:
    return shutil.which("tmux") is not None
