"""The services of the suite, in start order, and the command line of each."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Service:
    """One long-running process of the suite."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)


# name -> (environment, console script); the exporter comes first because the
# others talk to it, the detector before the services that read its frames.
_ORDER = [
    ("exporter", "exporter", "deepclean-export"),
    ("detector", "library", "deepclean-detector"),
    ("trainer", "trainer", "deepclean-train"),
    ("cleaner", "cleaner", "deepclean-clean"),
    ("monitor", "monitor", "deepclean-monitor"),
]


def discover(root: Path, wanted: list[str] | None = None, triton: bool = False) -> list[Service]:
    """The services whose environment is built and whose program exists.

    Services that are not part of this checkout are simply not launched.
    """
    services = []
    for name, env, script in _ORDER:
        if wanted and name not in wanted:
            continue
        program = root / ".venvs" / env / "bin" / script
        if program.exists():
            services.append(Service(name, [str(program)]))
    if triton:
        launcher = root / "servers" / "triton" / "serve.sh"
        if not launcher.exists() or not (root / ".venvs" / "triton-server").exists():
            raise FileNotFoundError("the Triton server is not set up: ./build.sh triton-server")
        services.insert(1, Service("triton", ["bash", str(launcher)]))
    return services


def tmux_available() -> bool:
    return shutil.which("tmux") is not None
