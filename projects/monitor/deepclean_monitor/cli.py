"""Command line of the monitor: ``deepclean-monitor`` (table ``[tool.typeo.scripts.monitor]``)."""

from __future__ import annotations

import sys

from deepclean.config import ConfigError, run_cli

from .main import monitor


def main() -> None:
    try:
        run_cli(monitor, "monitor")
    except ConfigError as exc:  # settings that are valid alone but not together
        print(f"deepclean-monitor: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
