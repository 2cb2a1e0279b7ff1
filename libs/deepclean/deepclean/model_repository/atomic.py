"""Write a small file so that a reader sees either the old or the new content."""

from __future__ import annotations

import os
from pathlib import Path

from ..atomic_files import replace_file


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it and rename it over ``path``."""
    replace_file(path, text.encode(), durable=True)


def remove_if_exists(path: str | Path) -> None:
    """Remove ``path`` if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
