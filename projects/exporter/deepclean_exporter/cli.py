"""Command line of the exporter (``deepclean-export``)."""

from deepclean.config import run_cli

from . import main as service


def main() -> None:
    """Read [tool.typeo.scripts.export], apply command-line overrides, run the exporter."""
    run_cli(service.main, "export")
