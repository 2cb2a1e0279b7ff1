"""Configuration files for tests: a ``pyproject.toml`` in a directory and the TOML of a detector's tables."""

from __future__ import annotations

import json
from pathlib import Path


def write_config(directory: Path, text: str) -> Path:
    """Write ``text`` as ``directory/pyproject.toml``; its path."""
    path = directory / "pyproject.toml"
    path.write_text(text)
    return path


def detector_table(ifo: str, **values: object) -> str:
    """The ``[tool.typeo.detectors.<ifo>]`` table of a configuration, naming its ``ifo``.

    Parameters
    ----------
    ifo
        The detector.
    **values
        Its other keys; a dict value is a script's sub-table (``train={"metrics_port": 9107}`` gives
        ``[tool.typeo.detectors.<ifo>.train]``).

    Returns
    -------
    str
        The table and its sub-tables, one key a line.
    """
    name = f"tool.typeo.detectors.{ifo}"
    keys = {"ifo": ifo} | {key: value for key, value in values.items() if not isinstance(value, dict)}
    text = _table(name, keys)
    for script, table in values.items():
        if isinstance(table, dict):
            text += _table(f"{name}.{script}", table)
    return text


def _table(name: str, values: dict) -> str:
    lines = [f"[{name}]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]
    return "\n".join(lines) + "\n"
