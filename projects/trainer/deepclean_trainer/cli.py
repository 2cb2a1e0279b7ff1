"""Command line of the trainer: ``deepclean-train`` (table ``[tool.typeo.scripts.train]``)."""

from __future__ import annotations

from collections.abc import Sequence

from deepclean.entry_point import run

from .main import main as train


def main(argv: Sequence[str] | None = None) -> None:
    """Train as the configuration and ``argv`` say; exit statuses in :mod:`deepclean.entry_point`."""
    run(train, "train", argv)
