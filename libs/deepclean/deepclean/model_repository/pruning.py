"""Removing old versions: keep the newest few and everything a rollback may need."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from .model import Model
from .pins import Pins
from .staging import PRUNED_PREFIX


def versions_to_keep(versions: Sequence[int], pins: Pins, keep_last: int, keep_rollback: int) -> set[int]:
    """The newest ``keep_last`` versions, the pinned ones and the last ``keep_rollback``
    production versions of the history."""
    keep = set(sorted(versions)[-keep_last:]) if keep_last > 0 else set()
    keep |= pins.pinned
    if keep_rollback > 0:
        keep |= set(pins.history[-keep_rollback:])
    return keep & set(versions)


def prune(model: Model, keep_last: int, keep_rollback: int) -> list[int]:
    """Remove the versions of ``model`` not in :func:`versions_to_keep`; returns them.

    A version is first renamed out of the way, so a reader sees it either whole
    or gone; ``remove_abandoned`` finishes a deletion that a crash interrupted.
    """
    if keep_last < 1:
        raise ValueError(f"keep_last must be at least 1 (the newest version is always kept), got {keep_last}")
    removed = []
    with model.lock():
        versions = model.versions()
        keep = versions_to_keep(versions, model.pins(), keep_last, keep_rollback)
        for version in versions:
            if version in keep:
                continue
            doomed = model.directory / f"{PRUNED_PREFIX}{version}"
            os.rename(model.directory / str(version), doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            removed.append(version)
    return removed
