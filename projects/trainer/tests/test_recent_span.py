"""Tests of the rule that picks a recent training span for the linear start."""

from __future__ import annotations

from deepclean_trainer.recent_span import choose_recent_span


def test_a_step_is_seen_above_a_high_floor():
    """Causal coupling-step's figures: the recent 128 s leave 0.078, all the data 0.146, and no fit
    leaves less than 0.05: the excess falls from 0.096 to 0.028, a step."""
    scores = {512.0: 0.120, 256.0: 0.107, 128.0: 0.078}
    assert choose_recent_span(0.146, scores, 0.0) is None  # without a floor: 0.53 of it, kept all
    assert choose_recent_span(0.146, scores, 0.05) == 128.0


def test_drift_and_noise_keep_all_the_data():
    """A recent fit a little better than the whole one (a drift's phase, the validation span's noise)
    does not switch, nor does one that is worse; a floor above every fit is clipped."""
    assert choose_recent_span(0.0574, {512.0: 0.0628, 256.0: 0.0592, 128.0: 0.0516}, 0.03) is None
    assert choose_recent_span(0.1085, {512.0: 0.1079, 256.0: 0.1166}, 0.05) is None
    assert choose_recent_span(0.2, {128.0: 0.3}, 0.9) is None
    assert choose_recent_span(0.2, {}, 0.0) is None


def test_a_recent_fit_worse_than_the_whole_one_means_drift_not_a_step():
    """Coupling-step's validation scores with the step 768 s before the end of the training data: the most
    recent 512 s (all after the step) leave more of the validation target than all the data do, which a
    step cannot cause (all the data hold more pre-step data); the freshest spans' low scores are the
    drift's phase, and all the data are kept (97.2 % removed where the most recent 128 s gave 90.5 %).
    With the step 384 or 128 s back every recent span does better than all the data: a step."""
    assert choose_recent_span(0.0631, {512.0: 0.0714, 256.0: 0.0242, 128.0: 0.0187}, 0.0076) is None
    assert choose_recent_span(0.0567, {512.0: 0.0300, 256.0: 0.0241, 128.0: 0.0185}, 0.0076) == 128.0
    assert choose_recent_span(0.1128, {512.0: 0.0786, 256.0: 0.0604, 128.0: 0.0305}, 0.0076) == 128.0
