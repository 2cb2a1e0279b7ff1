"""Which version is in production and which is the canary: ``pins.json``.

One small file in the model directory, replaced atomically, so a reader
always sees a complete pin set::

    {"production": 3, "canary": 4, "history": [1, 3], "offered": 4}

``history`` lists every version that has been production, oldest first (the
current one last), so a rollback can go back to the one before. ``production``
null means no production model (none yet, or unpinned on purpose): the cleaner
writes the raw strain with the no-model bit; the history is kept. ``offered``
is the newest version ever made the canary: a published version newer than it
was never offered (an export interrupted between publishing and pinning), which
the exporter repairs at start-up.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .atomic import write_atomically

PINS_FILENAME = "pins.json"
HISTORY_LENGTH = 20
"""Production versions remembered for rollback (older entries are dropped)."""


class PinsError(ValueError):
    """pins.json cannot be read or holds something that is not a pin set."""


@dataclasses.dataclass(frozen=True)
class Pins:
    """The pinned versions of one model (``None``: not pinned)."""

    production: int | None = None
    canary: int | None = None
    history: tuple[int, ...] = ()
    offered: int | None = None

    def with_production(self, version: int) -> Pins:
        """These pins with ``version`` in production and appended to the history."""
        history = list(self.history)
        if not history or history[-1] != version:
            history.append(version)
        return dataclasses.replace(self, production=version, history=tuple(history[-HISTORY_LENGTH:]))

    def without_production(self) -> Pins:
        """These pins with no production model (the history is kept for a later rollback)."""
        return dataclasses.replace(self, production=None)

    def with_canary(self, version: int | None) -> Pins:
        """These pins with ``version`` as the canary (and offered, if newer than any before)."""
        return dataclasses.replace(self, canary=version, offered=max(version or 0, self.newest_offered) or None)

    @property
    def newest_offered(self) -> int:
        """The newest version ever pinned (0 for none); pins files older than ``offered`` count their pins."""
        return max((self.offered or 0, self.production or 0, self.canary or 0, *self.history), default=0)

    @property
    def pinned(self) -> set[int]:
        """Versions a server must keep loaded."""
        return {v for v in (self.production, self.canary) if v is not None}

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in pins.json."""
        return {
            "production": self.production,
            "canary": self.canary,
            "history": list(self.history),
            "offered": self.offered,
        }


def _version_or_none(value: Any, key: str, path: Path) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PinsError(f"{path}: {key!r} must be a positive integer version or null, got {value!r}")
    return value


def read_pins(path: Path) -> Pins:
    """The pins stored at ``path``; no file means nothing is pinned."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Pins()
    except (OSError, json.JSONDecodeError) as exc:
        raise PinsError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise PinsError(f"{path}: expected a JSON object")
    history = data.get("history", [])
    if not isinstance(history, list):
        raise PinsError(f"{path}: 'history' must be a list of versions")
    return Pins(
        production=_version_or_none(data.get("production"), "production", path),
        canary=_version_or_none(data.get("canary"), "canary", path),
        history=tuple(_version_or_none(v, "history", path) for v in history),  # type: ignore[misc]
        offered=_version_or_none(data.get("offered"), "offered", path),
    )


def write_pins(path: Path, pins: Pins) -> None:
    """Replace ``path`` with ``pins`` atomically."""
    write_atomically(path, json.dumps(pins.to_json(), indent=2) + "\n")
