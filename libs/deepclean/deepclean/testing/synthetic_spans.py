"""Comparing spans of the synthetic detector."""

from __future__ import annotations

import numpy as np

from ..synthetic.span import SyntheticSpan


def assert_spans_equal(a: SyntheticSpan, b: SyntheticSpan) -> None:
    """Raise AssertionError unless ``a`` and ``b`` cover the same seconds with the same samples everywhere.

    The message names the first stream (or witness channel) that differs.
    """
    if (a.start, a.duration) != (b.start, b.duration):
        raise AssertionError(f"spans of {a.duration} s from GPS {a.start} and {b.duration} s from GPS {b.start}")
    for name in ("strain", "floor", "truth", "state"):
        if not np.array_equal(getattr(a, name), getattr(b, name)):
            raise AssertionError(name)
    if a.witnesses.keys() != b.witnesses.keys():
        raise AssertionError(f"witness channels {sorted(a.witnesses)} and {sorted(b.witnesses)}")
    for channel in a.witnesses:
        if not np.array_equal(a.witnesses[channel], b.witnesses[channel]):
            raise AssertionError(channel)
