"""Command line of the synthetic detector: ``deepclean-detector`` (table ``[tool.typeo.scripts.detector]``).

``deepclean-detector --list-scenarios`` prints the scenarios, one per line, and exits.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from deepclean.entry_point import run
from deepclean.synthetic.scenarios import describe_scenarios

from .main import main as detector

LIST_SCENARIOS = ("--list-scenarios", "--list_scenarios")


def main(argv: Sequence[str] | None = None) -> None:
    """Write frames as the configuration and ``argv`` say; exit statuses in :mod:`deepclean.entry_point`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(flag in argv for flag in LIST_SCENARIOS):
        print(describe_scenarios())
        return
    run(detector, "detector", argv)
