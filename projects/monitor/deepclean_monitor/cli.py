"""Command line of the monitor: ``deepclean-monitor`` (table ``[tool.typeo.scripts.monitor]``)."""

from __future__ import annotations

from collections.abc import Sequence

from deepclean.entry_point import run

from .main import monitor


def main(argv: Sequence[str] | None = None) -> None:
    """Monitor as the configuration and ``argv`` say; exit statuses in :mod:`deepclean.entry_point`."""
    run(monitor, "monitor", argv)
