"""Every service's real command line: ``--help`` explains every flag, ``--typeo`` equals the environment.

Each program runs from its own environment (``./build.sh`` makes them) with
the project's pyproject.toml, in a subprocess, as an operator would run it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
SERVICES = {
    # program: (environment, the typed function behind it)
    "deepclean-train": ("trainer", "deepclean_trainer.main:main"),
    "deepclean-export": ("exporter", "deepclean_exporter.main:main"),
    "deepclean-clean": ("cleaner", "deepclean_cleaner.main:main"),
    "deepclean-monitor": ("monitor", "deepclean_monitor.main:monitor"),
    "deepclean-detector": ("library", "deepclean_tools.detector.main:main"),
}
FLAG = re.compile(r"^  (?:-\w, )?--(?P<name>\w+)(?: \S+)*?(?:\s{2,}(?P<text>.*))?$")
TYPE_AND_DEFAULT = re.compile(r"\((?:required, )?(?:type: |default: ).*\)$")
"""What jsonargparse appends to each description."""


def _environment(name: str) -> Path:
    path = ROOT / ".venvs" / name
    if not (path / "bin" / "python").exists():
        pytest.fail(f"{path} missing; run ./build.sh {name}")
    return path


def _run(program: str, *arguments: str, **environment: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DEEPCLEAN_CONFIG", "DEEPCLEAN_PROFILE")}
    executable = _environment(SERVICES[program][0]) / "bin" / program
    done = subprocess.run(
        [str(executable), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**env, **environment},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _flags(help_text: str) -> dict[str, str]:
    """``{flag: its description without jsonargparse's type and default}`` of an options listing."""
    flags: dict[str, list[str]] = {}
    current = None
    for line in help_text.splitlines():
        match = FLAG.match(line)
        if match:
            current = match["name"]
            flags[current] = [match["text"] or ""]
        elif current and line.startswith("   "):
            flags[current].append(line.strip())
        else:
            current = None
    return {name: " ".join(" ".join(lines).split()) for name, lines in flags.items()}


def _parameters(program: str) -> list[str]:
    environment, target = SERVICES[program]
    module, function = target.split(":")
    code = f"import inspect, json, {module} as m; print(json.dumps(list(inspect.signature(m.{function}).parameters)))"
    done = subprocess.run(
        [str(_environment(environment) / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("program", sorted(SERVICES))
def test_help_describes_every_parameter(program):
    """``<program> --help`` lists a flag for every parameter of the service function, each with a description
    taken from the function's docstring besides its type and default."""
    flags = _flags(_run(program, "--help"))
    parameters = _parameters(program)
    assert set(parameters) <= set(flags), sorted(set(parameters) - set(flags))
    undescribed = [name for name in parameters if not TYPE_AND_DEFAULT.sub("", flags[name]).strip()]
    assert not undescribed, f"{program}: flags without a description: {undescribed}"


@pytest.mark.parametrize(("program", "table", "key", "profile_value"), [
    ("deepclean-train", "train", "train_duration", "1024"),
    ("deepclean-detector", "detector", "history", "1100"),
])  # fmt: skip
def test_typeo_gives_the_values_of_the_environment_variables(program, table, key, profile_value):
    """``--typeo pyproject.toml:<table>:cpu`` shows the same defaults (the values the program would run
    with) as ``$DEEPCLEAN_CONFIG`` and ``$DEEPCLEAN_PROFILE=cpu``, the profile's among them."""
    by_typeo = _run(program, "--typeo", f"{CONFIG}:{table}:cpu", "--help")
    by_environment = _run(program, "--help", DEEPCLEAN_CONFIG=str(CONFIG), DEEPCLEAN_PROFILE="cpu")
    assert by_typeo == by_environment
    assert f"default: {profile_value})" in _flags(by_typeo)[key]
    assert f"default: {profile_value})" not in _flags(_run(program, "--typeo", f"{CONFIG}:{table}", "--help"))[key]
