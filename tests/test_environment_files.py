"""The conda environments and Apptainer definitions in deploy/ install what ./build.sh installs.

``./build.sh --print-requirements <env>`` prints the pip arguments of an
environment; every pinned requirement in it must stand in the service's
``deploy/conda/<service>.yml`` and ``deploy/apptainer/<service>.def``, and every
local package (the library, the service) must be installed by both. No container
engine or conda runs on this machine: the files are checked as text (YAML, the
definition file's header and sections), not built.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SERVICES = sorted(p.parent.name for p in (ROOT / "projects").glob("*/pyproject.toml"))
SECTIONS = {"%arguments", "%files", "%post", "%environment", "%runscript", "%labels", "%help", "%test"}
PYTHON = "3.11"


def build_requirements(env: str) -> tuple[list[str], list[Path]]:
    """The pinned requirements and the local packages (paths in the repository) of ``./build.sh``'s ``env``."""
    out = subprocess.run(
        [str(ROOT / "build.sh"), "--print-requirements", env], check=True, capture_output=True, text=True
    ).stdout.split()
    pins, local = [], []
    for i, token in enumerate(out):
        if token in ("-e", "-r"):
            continue
        previous = out[i - 1] if i else ""
        path = Path(re.sub(r"\[.*\]$", "", token))
        if previous == "-r":
            pins += [line.strip() for line in path.read_text().splitlines() if line.strip() and line[0] != "#"]
        elif previous == "-e" or path.is_absolute():
            local.append(path.relative_to(ROOT))
        else:
            pins.append(token)
    return pins, local


def conda_pip(path: Path) -> list[str]:
    environment = yaml.safe_load(path.read_text())
    assert environment["name"] and environment["channels"], path
    dependencies = environment["dependencies"]
    assert f"python={PYTHON}" in dependencies and "pip" in dependencies, dependencies
    return next(d["pip"] for d in dependencies if isinstance(d, dict) and "pip" in d)


def definition(path: Path) -> dict[str, str]:
    """The header keywords and the sections of an Apptainer definition file (comments dropped)."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    parts: dict[str, str] = {}
    section = None
    for line in lines:
        if line.startswith("%"):
            section = line.split()[0]
            assert section in SECTIONS, f"{path.name}: unknown section {section}"
            assert section not in parts, f"{path.name}: {section} twice"
            parts[section] = ""
        elif section is not None:
            parts[section] += line + "\n"
        elif line.strip():
            key, _, value = line.partition(":")
            parts[key.strip()] = value.strip()
    assert parts.get("Bootstrap") == "docker" and parts.get("From"), f"{path.name}: header {parts}"
    return parts


def console_script(service: str) -> str:
    project = tomllib.loads((ROOT / "projects" / service / "pyproject.toml").read_text())["project"]
    (name,) = project["scripts"]
    return name


@pytest.mark.parametrize("service", SERVICES)
def test_conda_environment_installs_what_build_sh_installs(service):
    pins, local = build_requirements(service)
    pip = conda_pip(DEPLOY / "conda" / f"{service}.yml")
    missing = [pin for pin in pins if pin not in pip]
    assert not missing, f"deploy/conda/{service}.yml lacks {missing} (./build.sh installs them)"
    for package in local:
        assert f"../../{package}" in pip, f"deploy/conda/{service}.yml does not install {package}"
        assert (DEPLOY / "conda" / ".." / ".." / package / "pyproject.toml").resolve().exists()
    extra = [entry for entry in pip if not entry.startswith("../../") and entry not in pins]
    assert not extra, f"deploy/conda/{service}.yml installs {extra}, which ./build.sh does not"


@pytest.mark.parametrize("service", SERVICES)
def test_apptainer_definition_installs_what_build_sh_installs_and_runs_the_service(service):
    pins, local = build_requirements(service)
    parts = definition(DEPLOY / "apptainer" / f"{service}.def")
    assert parts["From"] == f"python:{PYTHON}-slim-bookworm"
    install = next(line for line in parts["%post"].splitlines() if "pip install" in line).split()
    missing = [pin for pin in pins if pin not in install]
    assert not missing, f"deploy/apptainer/{service}.def lacks {missing}"
    for package in local:
        assert f"/opt/deepclean/{package}" in install
        assert f"{package} /opt/deepclean/{package}" in parts["%files"], f"{package} is not copied in"
    assert parts["%runscript"].split()[:2] == ["exec", console_script(service)]
    if "{{ TORCH_INDEX_URL }}" in parts["%post"]:
        assert "TORCH_INDEX_URL=" in parts.get("%arguments", ""), "a build argument without a default"


def test_triton_server_environment_matches_its_requirements():
    pins, local = build_requirements("triton-server")
    assert not local
    assert sorted(conda_pip(DEPLOY / "conda" / "triton-server.yml")) == sorted(pins)
    parts = definition(DEPLOY / "apptainer" / "triton.def")
    assert parts["From"].startswith("nvcr.io/nvidia/tritonserver:")
    assert "--model-control-mode=poll" in parts["%runscript"]


def test_the_checks_catch_a_missing_pin(tmp_path):
    """A conda file without torch is caught (the comparison is not vacuous)."""
    pins, _ = build_requirements("trainer")
    assert "torch==2.13.0" in pins
    broken = tmp_path / "trainer.yml"
    broken.write_text((DEPLOY / "conda" / "trainer.yml").read_text().replace("      - torch==2.13.0\n", ""))
    assert "torch==2.13.0" not in conda_pip(broken)
