"""The rule that picks the band a version cleans (deepclean_trainer.band_choice)."""

from __future__ import annotations

import pytest

from deepclean_trainer.band_choice import MAX_BAND_POWER_FACTOR, MIN_RANGE_GAIN, BandChoice, OrderChoice


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


def _order(range_second: float, power_second: float = 0.5, noise_added: tuple[float, ...] = ()) -> OrderChoice:
    return OrderChoice(
        band=(55.0, 65.0),
        range_raw_mpc=100.0,
        range_first_mpc=101.0,
        range_second_mpc=range_second,
        band_power_first=0.5,
        band_power_second=power_second,
        noise_added_beside=noise_added,
    )


def test_the_second_order_products_are_kept_when_they_win_enough_range():
    assert _order(101.0 + MIN_RANGE_GAIN * 100.0).second_chosen


def test_the_second_order_products_are_kept_when_they_remove_clearly_more_without_losing_range():
    """Where the bins beside the band limit the range, a second-order coupling shows in the band's power."""
    assert _order(101.0, power_second=MAX_BAND_POWER_FACTOR * 0.5).second_chosen
    assert not _order(101.0, power_second=0.99 * 0.5).second_chosen


@pytest.mark.parametrize(
    "range_second, power_second, noise_added",
    [(100.9, 0.1, ()), (101.0 + MIN_RANGE_GAIN * 100.0, 0.1, (53.0,)), (101.0 + 3 * MIN_RANGE_GAIN * 100.0, 0.6, ())],
)
def test_the_second_order_products_are_dropped_when_worse_by_any_figure(range_second, power_second, noise_added):
    """Range lost, noise added beside the band, or more of the band's power left: whatever the other figures."""
    choice = _order(range_second, power_second, noise_added)
    assert not choice.second_chosen
    assert choice.as_metadata()["second_order_chosen"] is False
