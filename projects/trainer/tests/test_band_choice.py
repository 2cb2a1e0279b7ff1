"""The rule that picks the band a version cleans (deepclean_trainer.band_choice)."""

from __future__ import annotations

import pytest

from deepclean_trainer.band_choice import MIN_RANGE_GAIN, BandChoice


def _choice(range_wider: float, noise_added: tuple[float, ...] = ()) -> BandChoice:
    return BandChoice(
        configured=(55.0, 65.0),
        wider=(52.0, 68.0),
        range_raw_mpc=100.0,
        range_configured_mpc=101.0,
        range_wider_mpc=range_wider,
        noise_added_beside=noise_added,
    )


def test_the_wider_band_is_kept_when_it_wins_enough_range():
    choice = _choice(101.0 + MIN_RANGE_GAIN * 100.0)
    assert choice.wider_chosen
    assert choice.as_metadata()["chosen"] == [52.0, 68.0]


@pytest.mark.parametrize("gain", [-0.5, 0.0, 0.9 * MIN_RANGE_GAIN * 100.0])
def test_a_gain_within_the_noise_keeps_the_configured_band(gain):
    choice = _choice(101.0 + gain)
    assert not choice.wider_chosen
    assert choice.as_metadata()["chosen"] == [55.0, 65.0]


def test_noise_added_beside_the_band_keeps_the_configured_band_whatever_the_range():
    """A bin beside the band made worse than raw is judged by the safety gate and the monitor on its own:
    no range gain elsewhere buys it."""
    choice = _choice(110.0, noise_added=(67.0,))
    assert not choice.wider_chosen
    assert choice.as_metadata()["noise_added_beside"] == [67.0]
