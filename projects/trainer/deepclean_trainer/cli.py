"""Command line of the trainer: ``deepclean-train`` (configuration: [tool.typeo.scripts.train])."""

from __future__ import annotations

from deepclean.config import run_cli

from .main import main as train


def main() -> None:
    raise SystemExit(run_cli(train, "train"))
