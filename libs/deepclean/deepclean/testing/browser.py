"""A real headless Chromium, for the tests that open the monitor's status page.

::

    from deepclean.testing.browser import run_chromium

    dom = run_chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    run_chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,1700", url)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
"""Headless, and nothing a test did not ask for: no first-run page, no network of its own, no scroll bars."""
INSTALL_CHROMIUM = (
    "chromium is not installed, and the served status page is tested in it: install it with "
    "`sudo apt-get install -y chromium` (./build.sh monitor does so when run as root)"
)


def chromium(required: bool = True) -> str:
    """The Chromium executable.

    When there is none the test fails, naming how to install it; with ``required`` False it is
    skipped instead, except under CI (``$CI`` set), where it fails all the same.
    """
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if required or os.environ.get("CI"):
            pytest.fail(INSTALL_CHROMIUM)
        pytest.skip(INSTALL_CHROMIUM)
    return path


def run_chromium(tmp_path: Path, *args: str, required: bool = True) -> subprocess.CompletedProcess:
    """Run headless Chromium with ``args`` and a profile under ``tmp_path``; its output as text.

    Raises :class:`subprocess.CalledProcessError` if it fails and :class:`subprocess.TimeoutExpired`
    after 90 s; ``required`` is that of :func:`chromium`.
    """
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [chromium(required), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
