"""Command line of the cleaner: ``deepclean-clean`` (table ``[tool.typeo.scripts.clean]``)."""

from deepclean.config import run_cli

from .main import main as clean


def main() -> None:
    raise SystemExit(run_cli(clean, "clean"))
