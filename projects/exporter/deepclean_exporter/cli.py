"""Command line of the exporter: ``deepclean-export`` (table ``[tool.typeo.scripts.export]``)."""

from __future__ import annotations

from collections.abc import Sequence

from deepclean.entry_point import run

from .main import main as export


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the exporter as the configuration and ``argv`` say; exit statuses in :mod:`deepclean.entry_point`."""
    run(export, "export", argv)
