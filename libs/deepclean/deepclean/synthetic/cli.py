"""Command line of the synthetic detector (``deepclean-detector``).

``deepclean-detector --list-scenarios`` prints the scenarios, one per line, and exits.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..config import run_cli
from .main import main as detector_main
from .scenarios import describe_scenarios

LIST_SCENARIOS = ("--list-scenarios", "--list_scenarios")


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``deepclean-detector`` with the ``[tool.typeo.scripts.detector]`` table."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(flag in argv for flag in LIST_SCENARIOS):
        print(describe_scenarios())
        return
    run_cli(detector_main, "detector", argv)
