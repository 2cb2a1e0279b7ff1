"""Command line of the synthetic detector (``deepclean-detector``)."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import run_cli
from .main import main as detector_main


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``deepclean-detector`` with the ``[tool.typeo.scripts.detector]`` table."""
    run_cli(detector_main, "detector", argv)
