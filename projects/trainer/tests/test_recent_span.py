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
