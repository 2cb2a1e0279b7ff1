"""The description of each parameter of a function, read from its numpydoc docstring.

A service's ``--help`` describes every flag with the lines its function's
docstring gives the parameter of that name (:func:`deepclean.config.parse_config`),
so the docstring is the one place a setting is explained. The Parameters
section may describe several parameters at once (``start, end``) and names
may carry a type (``port : int``); reST markup is dropped for the terminal.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")  # :mod:`deepclean.figures` -> deepclean.figures


def parameter_descriptions(func: Callable) -> dict[str, str]:
    """``{parameter: description}`` from the Parameters section of ``func``'s docstring, one line each."""
    lines = (inspect.getdoc(func) or "").splitlines()
    descriptions: dict[str, list[str]] = {}
    names: list[str] = []
    for line in _parameters_section(lines):
        if not line.strip():
            continue
        if not line[0].isspace():
            names = [name.strip() for name in line.split(":")[0].split(",") if name.strip()]
            for name in names:
                descriptions[name] = []
        else:
            for name in names:
                descriptions[name].append(line.strip())
    return {name: _plain(" ".join(text)) for name, text in descriptions.items()}


def _parameters_section(lines: list[str]) -> list[str]:
    """The lines under the ``Parameters`` heading, up to the next heading."""
    headings = [i for i in range(len(lines) - 1) if _is_underline(lines[i + 1]) and lines[i].strip()]
    for number, i in enumerate(headings):
        if lines[i].strip() == "Parameters":
            end = headings[number + 1] if number + 1 < len(headings) else len(lines)
            return lines[i + 2 : end]
    return []


def _is_underline(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= 3 and set(stripped) == {"-"}


def _plain(text: str) -> str:
    return _ROLE.sub(r"\1", text).replace("``", "")
