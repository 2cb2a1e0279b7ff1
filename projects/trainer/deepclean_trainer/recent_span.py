"""The rule that picks a recent training span for the linear start after a coupling step.

Both least-squares starts (:mod:`deepclean_trainer.linear_init`, :mod:`deepclean_trainer.linear_spectral`)
fit the linear path on all the training data and on its most recent spans, and score every fit by the
fraction of the validation target it leaves. Couplings that drift slowly are best fitted on all the
data (the model serves the next minutes, and a fit to the freshest seconds follows the drift's current
phase); a coupling that stepped is not. Every fit also leaves a part no fit of its form can remove
(noise no witness explains, and in the causal mode what cannot be predicted across the lead): the
``floor``, what a fit to the validation data itself leaves. The rule compares what the fits leave
*above* that floor, so a step is seen as clearly when the floor is high (the causal mode) as when it is
low. Without the floor, causal coupling-step's most recent 128 s left 0.078 of the validation target
against 0.146 for all the data (0.53: kept all, at a rule of one half) with a floor of ~0.05.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SWITCH_FACTOR", "choose_recent_span"]

SWITCH_FACTOR = 0.5
"""A recent span replaces all the data when its fit leaves at most this fraction of the all-data fit's
excess over the floor."""


def choose_recent_span(
    whole: float, recent: Mapping[float, float], floor: float, switch_factor: float = SWITCH_FACTOR
) -> float | None:
    """The recent span (seconds) to fit the start on, or None to keep all the data.

    Parameters
    ----------
    whole
        Fraction of the validation target the fit on all the training data leaves.
    recent
        The same fraction for the fit on each most recent span, by its length in seconds.
    floor
        The fraction a fit to the validation data itself leaves (no fit of the same form does better
        out of sample); clipped to at most the smallest of the others.
    switch_factor
        The best recent fit must leave at most this fraction of the whole fit's excess over the floor.
    """
    if not recent:
        return None
    best = min(recent, key=recent.__getitem__)
    floor = min(floor, whole, recent[best])
    return best if recent[best] - floor <= switch_factor * (whole - floor) else None
