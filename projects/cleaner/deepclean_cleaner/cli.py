"""Command line of the cleaner: ``deepclean-clean`` (table ``[tool.typeo.scripts.clean]``)."""

from __future__ import annotations

from collections.abc import Sequence

from deepclean.entry_point import run

from .main import main as clean


def main(argv: Sequence[str] | None = None) -> None:
    """Clean as the configuration and ``argv`` say; exit statuses in :mod:`deepclean.entry_point`."""
    run(clean, "clean", argv)
