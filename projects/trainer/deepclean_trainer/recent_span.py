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

Drift can pass for a step: the validation span is the data right after the training data, where
with drifting couplings the freshest fit scores best, while a fit on more data serves the next
minutes better. A step makes a fit worse the more pre-step data it holds, so it is seen only when
the fit on all the data leaves more than every recent span's fit; where a recent span's fit leaves
more, drift sets the scores and all the data are kept. On the quality benchmark's coupling-step
(one-shot, the same 512 s test span and the same data after the step, which lies 128, 384 or 768 s
before the end of the training data; ``bench/quality/README.md``, "The span after a coupling step"):

==========  =========================================  ===================================
step back   validation left: all / 512 / 256 / 128 s   kept and removed: before, now
==========  =========================================  ===================================
128 s       0.113 / 0.079 / 0.060 / 0.031              128 s 89.0 %, the same
384 s       0.057 / 0.030 / 0.024 / 0.019              128 s 90.5 %, the same
768 s       0.063 / 0.071 / 0.024 / 0.019              128 s 90.5 %, all 97.2 %
==========  =========================================  ===================================

Forced to each span, the 768 s case removed 90.5, 92.3, 96.1, 97.1 and 97.2 % with the most recent
128, 256, 512 and 768 s and all the data: the reverse of the validation's order. Keeping the longest
span that shows the step instead of the best one gained with the step 384 s back (512 s: 93.6 %) but
lost in the independent scenario (256 s, half of it before the step: 89.9 % against 92.5 %): from
these scores a span half before the step cannot be told from drift. With a second seed the shipped
rule again kept all the data with the step 768 s back, where the old one kept 256 s: 0.3 point more
removed but 0.11 Mpc less BNS range.
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

    All the data are kept unless their fit leaves more than every recent span's fit and the best
    recent fit leaves at most ``switch_factor`` of its excess over the floor (a coupling step).

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
    if whole <= max(recent.values()):
        return None  # a fit holding less pre-step data did worse: drift, not a step
    best = min(recent, key=recent.__getitem__)
    floor = min(floor, whole, recent[best])
    return best if recent[best] - floor <= switch_factor * (whole - floor) else None
