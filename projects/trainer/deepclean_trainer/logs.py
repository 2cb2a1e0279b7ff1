"""Logging of the trainer: terminal and ``<log_dir>/trainer.log``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_dir: Path | None, level: int = logging.INFO) -> None:
    """Send the trainer's log lines to stderr and, with ``log_dir``, to ``trainer.log`` there."""
    package_log = logging.getLogger("deepclean_trainer")
    package_log.setLevel(level)
    for handler in list(package_log.handlers):
        if getattr(handler, "_deepclean_service", False):
            package_log.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_dir / "trainer.log"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._deepclean_service = True  # type: ignore[attr-defined]
        package_log.addHandler(handler)
