"""What the benchmark scripts share: the options of the suite they run, and their progress lines.

The scripts in ``bench/quality/`` put ``bench/`` on ``sys.path`` to import it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose ``--help`` starts with the script's docstring ``doc``, kept as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_suite_options(parser: argparse.ArgumentParser, *, speed: float, out: Path, nice: int) -> None:
    """``--speed``, ``--history``, ``--out`` and ``--nice``: how a benchmark runs the whole suite (``./run.sh``).

    The synthetic detector writes ``--history`` seconds at once, then streams at
    ``--speed`` x real time; results go to ``--out``; the suite runs at ``--nice``.
    """
    parser.add_argument(
        "--speed", type=float, default=speed, help=f"detector speed once live (x real time), default {speed:g}"
    )
    parser.add_argument(
        "--history",
        type=int,
        default=1100,
        help="seconds written at once before going live (default 1100: the first training takes 1024)",
    )
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument(
        "--nice", type=int, default=nice, help=f"niceness of the suite (the CPU is shared; 0: none), default {nice}"
    )


def log(message: str) -> None:
    """Print ``message`` at once, after the wall-clock time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
