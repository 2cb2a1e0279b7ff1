"""The band a version cleans: the configured band, or a wider one where the held-out data say so.

The mains noise family's sidebands have skirts, from the slow angular motion
that modulates the line, and at some sites they reach past the configured band
(``bench/quality/README.md``, broad-skirts: 40 % of the range the family costs
lies outside 55-65 Hz, and a version cleaning 52-68 Hz won back 3.2 Mpc where
one cleaning 55-65 Hz won back 0.7). Elsewhere the few hertz beside the band
hold little but the floor, and cleaning them only adds the estimate's error
there: the same wider band cost 0.1-0.2 Mpc on four other scenarios and added
noise at its edge where the coupling is not bilinear. So no fixed band is right
everywhere, and the trainer chooses per version.

The choice is made before the network trains, from the least-squares start
alone (seconds of work): the start is fitted once for the configured band and
once for the band widened by ``band_widening`` Hz on each side, and each is
judged on the held-out data as the cleaner would subtract it. The wider band is
kept only if it adds noise in no bin beside the configured band
(:func:`deepclean.figures.judge_bins`, the rule of the safety gate and the
monitor) and wins at least :data:`MIN_RANGE_GAIN` of the raw BNS range. After
training, a version whose held-out data then show noise added beside the
configured band is band-passed to its configured filter band instead
(``cycle.py``). The configured band stays the band every service judges: the
safety gate and the monitor judge the bins beside it one by one against raw.

The order of the start is chosen the same way, for each band. With
``second_order`` the start also reads the mains monitor times every pair of
other witnesses: a coupling through the square or the product of angular
motions needs them (nonlinear-coupling: 91.8 -> 96.9 % removed), but where the
coupling is bilinear their 1050 extra taps only add estimation error (baseline
-0.14 Mpc, coupling-step -0.14). The start's fit without them comes from the same
cross-spectra (:attr:`LinearStart.first_order_weight`), and the second-order fit
is kept only where it is worse by none of the held-out figures (noise beside
the band, range, the band's power left) and clearly better by one: at least
:data:`MIN_RANGE_GAIN` of the raw range, or at most :data:`MAX_BAND_POWER_FACTOR`
of the band's power the first-order fit leaves.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from deepclean.architecture import DeepClean

from .linear_spectral import fit_linear_path_spectral
from .preprocessing import Scaler, Segment, split_validation
from .validation import judge_validation, noise_added_outside, validation_powers

log = logging.getLogger(__name__)

MIN_RANGE_GAIN = 0.002
"""Fraction of the held-out raw BNS range the wider band's start must win over the configured band's.
A paired comparison on the same held-out seconds; the estimate's error beside the band cost up to
0.2 Mpc of ~123 (0.15 %) where those bins hold only the floor, so a smaller gain is no evidence."""


MAX_BAND_POWER_FACTOR = 0.8
"""The second-order start is also kept, range not lost, when what it leaves of the band's held-out power is
at most this times what the first-order start leaves: where the noise beside the band limits the range, a
coupling of second order shows in the band first (nonlinear-coupling, 55-65 Hz: +0.07 Mpc, below the range
rule's 0.24)."""


@dataclass(frozen=True)
class Prepared:
    """A version's data and network after its least-squares start, for one band."""

    band: tuple[float, float]
    filter_band: tuple[float, float]
    training: list[Segment]
    validation: list[Segment]
    scaler: Scaler
    network: DeepClean
    kept_since: float | None


@dataclass(frozen=True)
class BandChoice:
    """The held-out figures of both starts and the band chosen."""

    configured: tuple[float, float]
    wider: tuple[float, float]
    range_raw_mpc: float
    range_configured_mpc: float
    range_wider_mpc: float
    noise_added_beside: tuple[float, ...]
    """Bins (Hz) outside the configured band where the wider start added noise."""

    @property
    def wider_chosen(self) -> bool:
        gain = self.range_wider_mpc - self.range_configured_mpc
        return not self.noise_added_beside and gain >= MIN_RANGE_GAIN * self.range_raw_mpc

    def as_metadata(self) -> dict:
        """The figures for the version's metadata (``extra.training.band_choice``)."""
        return {
            "configured": list(self.configured),
            "wider": list(self.wider),
            "chosen": list(self.wider if self.wider_chosen else self.configured),
            "range_raw_mpc": self.range_raw_mpc,
            "range_configured_mpc": self.range_configured_mpc,
            "range_wider_mpc": self.range_wider_mpc,
            "noise_added_beside": list(self.noise_added_beside),
        }


@dataclass(frozen=True)
class OrderChoice:
    """The held-out figures of one band's start with and without the second-order products."""

    band: tuple[float, float]
    range_raw_mpc: float
    range_first_mpc: float
    range_second_mpc: float
    band_power_first: float
    band_power_second: float
    """What is left of the configured band's power (:meth:`deepclean.figures.BinPowers.band_power_ratio`)."""
    noise_added_beside: tuple[float, ...]
    """Bins (Hz) outside the configured band where the second-order start added noise."""

    @property
    def second_chosen(self) -> bool:
        gain = self.range_second_mpc - self.range_first_mpc
        if self.noise_added_beside or gain < 0 or self.band_power_second > self.band_power_first:
            return False  # worse by one of the figures
        return gain >= MIN_RANGE_GAIN * self.range_raw_mpc or (
            self.band_power_second <= MAX_BAND_POWER_FACTOR * self.band_power_first
        )

    def as_metadata(self) -> dict:
        """The figures for the version's metadata (``extra.training.order_choice``)."""
        return {
            "band": list(self.band),
            "second_order_chosen": self.second_chosen,
            "range_raw_mpc": self.range_raw_mpc,
            "range_first_order_mpc": self.range_first_mpc,
            "range_second_order_mpc": self.range_second_mpc,
            "band_power_left_first_order": self.band_power_first,
            "band_power_left_second_order": self.band_power_second,
            "noise_added_beside": list(self.noise_added_beside),
        }


def choose_order(
    second: Prepared,
    first_order_weight: torch.Tensor,
    judged_band: tuple[float, float],
    filter_order: int,
    judging_weights: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[OrderChoice, Prepared]:
    """Judge a band's second-order start against its first-order alternative on the held-out data.

    Parameters
    ----------
    second
        The band's data and network, its start made with the second-order products.
    first_order_weight
        The linear path's weight of the same fit without them (:attr:`LinearStart.first_order_weight`).
    judged_band
        The configured band: outside it every bin is judged against raw.
    filter_order
        The zero-phase band-pass's order.
    judging_weights
        First- and second-order weights fitted without the held-out data when the starts' fits include them
        (:attr:`LinearStart.judging_weights`): those are judged instead, on data they were not fitted on.

    Returns
    -------
    The figures, and the start chosen (``second`` itself, or a copy holding the first-order weight).
    """
    first_network = copy.deepcopy(second.network)
    first_network.set_linear_weight(first_order_weight)
    first = dataclasses.replace(second, network=first_network)
    judged = {"first": first, "second": second}
    if judging_weights is not None:
        for name, weight in zip(judged, judging_weights, strict=True):
            network = copy.deepcopy(second.network)
            network.set_linear_weight(weight)
            judged[name] = dataclasses.replace(second, network=network)
    powers = {
        name: validation_powers(p.network, p.validation, p.scaler, p.filter_band, filter_order, False)
        for name, p in judged.items()
    }
    judgements = {name: judge_validation(p, judged_band) for name, p in powers.items()}
    choice = OrderChoice(
        band=second.band,
        range_raw_mpc=powers["first"].bns_range_mpc("raw"),
        range_first_mpc=powers["first"].bns_range_mpc("cleaned"),
        range_second_mpc=powers["second"].bns_range_mpc("cleaned"),
        band_power_first=powers["first"].band_power_ratio(judged_band),
        band_power_second=powers["second"].band_power_ratio(judged_band),
        noise_added_beside=noise_added_outside(judgements["second"], judged_band),
    )
    log.info(
        "order: the start cleaning %g-%g Hz gives a held-out BNS range of %.3f Mpc and leaves %.4f of the band's "
        "power with the witnesses and their mains products, %.3f and %.4f with the second-order products too "
        "(raw %.3f)%s; %s",
        *choice.band,
        choice.range_first_mpc,
        choice.band_power_first,
        choice.range_second_mpc,
        choice.band_power_second,
        choice.range_raw_mpc,
        f", noise added at {list(choice.noise_added_beside)} Hz" if choice.noise_added_beside else "",
        "keeping the second-order products" if choice.second_chosen else "without the second-order products",
    )
    return choice, second if choice.second_chosen else first


def choose_band(
    configured: Prepared,
    widening: float,
    filter_margin: float,
    fit_margin: float,
    make_segments: Callable[[tuple[float, float]], list[Segment]],
    validation_fraction: float,
    window: int,
    linear_recency: tuple[float, ...],
    since: float | None,
    filter_order: int,
) -> tuple[BandChoice, Prepared, OrderChoice | None]:
    """Fit the start for the band widened by ``widening`` Hz on each side and judge both on held-out data.

    Parameters
    ----------
    configured
        The configured band's data and network, its start made.
    widening, filter_margin, fit_margin
        Hz added to each side of the band; of the filter band beyond the band; of the spectral fit band beyond
        the filter band.
    make_segments
        ``make_segments(filter_band)``: the span's segments with the strain band-passed to ``filter_band``
        (:func:`deepclean_trainer.preprocessing.to_segments` with the cycle's other arguments).
    validation_fraction, window
        The split of :func:`split_validation`.
    linear_recency, since
        As :func:`fit_linear_path_spectral`.
    filter_order
        The zero-phase band-pass's order.

    Returns
    -------
    The figures, the wider band's data and network (to be used when ``choice.wider_chosen``; its order chosen
    by :func:`choose_order` when the network has second-order products) and that order's figures (None:
    no second-order products).
    """
    band = (configured.band[0] - widening, configured.band[1] + widening)
    filter_band = (band[0] - filter_margin, band[1] + filter_margin)
    training, validation = split_validation(make_segments(filter_band), validation_fraction, window)
    scaler = Scaler.fit(training)
    network = copy.deepcopy(configured.network)
    start = fit_linear_path_spectral(
        network,
        training,
        scaler,
        (filter_band[0] - fit_margin, filter_band[1] + fit_margin),
        band,
        validation,
        linear_recency,
        since=since,
    )
    wider = Prepared(band, filter_band, training, validation, scaler, network, start.kept_since)
    order = None
    if start.first_order_weight is not None:
        order, wider = choose_order(
            wider, start.first_order_weight, configured.band, filter_order, start.judging_weights
        )
    powers = {
        name: validation_powers(p.network, p.validation, p.scaler, p.filter_band, filter_order, False)
        for name, p in (("configured", configured), ("wider", wider))
    }
    judgement = judge_validation(powers["wider"], configured.band)
    choice = BandChoice(
        configured=configured.band,
        wider=band,
        range_raw_mpc=powers["configured"].bns_range_mpc("raw"),
        range_configured_mpc=powers["configured"].bns_range_mpc("cleaned"),
        range_wider_mpc=powers["wider"].bns_range_mpc("cleaned"),
        noise_added_beside=noise_added_outside(judgement, configured.band),
    )
    log.info(
        "band: the start cleaning %g-%g Hz gives a held-out BNS range of %.3f Mpc, cleaning %g-%g Hz %.3f "
        "(raw %.3f)%s; %s",
        *choice.configured,
        choice.range_configured_mpc,
        *choice.wider,
        choice.range_wider_mpc,
        choice.range_raw_mpc,
        f", noise added at {list(choice.noise_added_beside)} Hz" if choice.noise_added_beside else "",
        f"cleaning {band[0]:g}-{band[1]:g} Hz" if choice.wider_chosen else "keeping the configured band",
    )
    return choice, wider, order
