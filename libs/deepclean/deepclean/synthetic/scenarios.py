"""Named worlds for the synthetic detector.

A recipe tuned on one simulated world can fail on another. Each scenario
changes the baseline detector in one named way (the last combines several),
deterministically: every GPS second has the same samples however it is
reached, the truth is exactly the targeted noise around 60 Hz (``strain =
floor + truth``; mains harmonics belong to the floor), the injected noise has
about the baseline's RMS and the state vector is the baseline's.

==================  ==========================================================================
name                what changes
==================  ==========================================================================
baseline            The default detector, unchanged.
coupling-step       Every coupling strength (linear and each sideband) steps by a factor
                    0.5-0.71 or 1.41-2 at step_gps, within one second.
fast-drift          The couplings drift over periods of 100-300 s (baseline 150-2000 s) with
                    twice the baseline's RMS.
sideband-lines      Strong loop lines (60 % of the motion) spread over 0.2-5 Hz: sideband lines
                    0.2-5 Hz off the carrier, some outside 58-62 Hz.
broad-skirts        Loop motion with corners of 2.5-5 Hz (baseline 1.5-3 Hz): broad sideband
                    skirts reaching 5-10 Hz off the carrier.
rate-mix            Witnesses at other rates: the mains monitor at 512 Hz, angular loops at
                    256/512/1024/2048 Hz, half of them at 1024 Hz.
harmonics           120 Hz and 180 Hz mains harmonics in strain (in the floor, not the truth)
                    and in the mains monitor.
mains-wander        The mains frequency jitters 4x and its amplitude wanders 4x more than in
                    the baseline, over periods down to 10 s.
unusual-witness     INP1_P and SRC2_Y are always coupled, INP1_P recorded with 1e-4 and
                    SRC2_Y with 1e4 times the usual counts.
nonlinear-coupling  The loops modulate the mains as m^2, tanh(2m), the product of two loops'
                    motions and a smooth |m|, not linearly (wider skirts than the baseline's).
response-drift      The coupled loops' channels record their motion 80 ms late on average,
                    the delay wandering by 25 ms RMS (0-160 ms) over 200-1000 s.
steady              No coupling change at all: constant couplings and mains amplitude (the
                    mains frequency jitters as in the baseline).
independent         The hardest mix: harmonics, rates (mains monitor at 2048 Hz), loop lines
                    0.5-4 Hz, fast drifts and a coupling step.
==================  ==========================================================================

Python::

    from deepclean.synthetic import SyntheticDetector
    from deepclean.synthetic.scenarios import SCENARIOS, scenario_config

    detector = SyntheticDetector(scenario_config("coupling-step", seed=3))
    span = detector.generate(1400001520, 32)        # 16 s before and after the step

Command line: ``deepclean-detector --scenario coupling-step [--step_gps GPS]``;
``deepclean-detector --list-scenarios`` prints the table's descriptions. A step
at the default step_gps is long past for a live run: give one ahead of now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

from .detector_config import DetectorConfig
from .mains import MainsSettings
from .witnesses import LoopSettings

RateMix = Callable[[list[str], str], dict[str, int]]

ScenarioName = Literal[
    "baseline",
    "coupling-step",
    "fast-drift",
    "sideband-lines",
    "broad-skirts",
    "rate-mix",
    "harmonics",
    "mains-wander",
    "unusual-witness",
    "nonlinear-coupling",
    "response-drift",
    "steady",
    "independent",
]
"""The names of :data:`SCENARIOS`, as a type (the command line lists them in its help)."""


def rate_mix(mains_rate: int, angular_rates: tuple[int, ...]) -> RateMix:
    """Witness rates: the mains monitor at ``mains_rate``, the angular loops cycling through ``angular_rates``."""

    def rates(channels: list[str], mains_channel: str) -> dict[str, int]:
        angular = [channel for channel in channels if channel != mains_channel]
        chosen = {channel: angular_rates[index % len(angular_rates)] for index, channel in enumerate(angular)}
        if mains_channel in channels:
            chosen[mains_channel] = mains_rate
        return chosen

    return rates


@dataclass(frozen=True)
class Scenario:
    """A named world: how it changes the baseline :class:`DetectorConfig`.

    ``coupled_witnesses`` and ``counts_scale`` name channels without the
    interferometer prefix (``ASC-INP1_P_OUT_DQ``); the prefix of the
    configuration's mains channel is put in front.
    """

    description: str
    mains: MainsSettings = MainsSettings()
    loops: LoopSettings = LoopSettings()
    rates: RateMix | None = None
    coupled_witnesses: tuple[str, ...] = ()
    counts_scale: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def settings(self, channels: list[str], mains_channel: str) -> dict[str, Any]:
        """The :class:`DetectorConfig` values this scenario sets, for these witnesses."""
        ifo = mains_channel.split(":")[0]
        values: dict[str, Any] = {"mains": self.mains, "loops": self.loops}
        if self.rates is not None:
            values["witness_sample_rates"] = self.rates(channels, mains_channel)
        if self.coupled_witnesses:
            values["coupled_witnesses"] = tuple(f"{ifo}:{name}" for name in self.coupled_witnesses)
        if self.counts_scale:
            values["counts_scale"] = {f"{ifo}:{name}": scale for name, scale in self.counts_scale.items()}
        return values


_HARMONICS = dict(monitor_harmonics=(0.1, 0.05), strain_harmonics=(0.3, 0.15))

SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        "baseline": Scenario("The default detector, unchanged."),
        "coupling-step": Scenario(
            "Every coupling strength (linear and each sideband) steps by a factor 0.5-0.71 or 1.41-2 at "
            "step_gps, within one second.",
            mains=MainsSettings(step_octaves=(0.5, 1.0)),
        ),
        "fast-drift": Scenario(
            "The couplings drift over periods of 100-300 s (baseline 150-2000 s) with twice the baseline's RMS.",
            mains=MainsSettings(drift_scale=2.0, drift_periods=(100.0, 300.0)),
        ),
        "sideband-lines": Scenario(
            "Strong loop lines (60 % of the motion) spread over 0.2-5 Hz: sideband lines 0.2-5 Hz off the "
            "carrier, some outside 58-62 Hz.",
            loops=LoopSettings(line_power=0.6, line_count=4, line_range=(0.2, 5.0)),
        ),
        "broad-skirts": Scenario(
            "Loop motion with corners of 2.5-5 Hz (baseline 1.5-3 Hz): broad sideband skirts reaching "
            "5-10 Hz off the carrier.",
            loops=LoopSettings(corners=(2.5, 5.0)),
        ),
        "rate-mix": Scenario(
            "Witnesses at other rates: the mains monitor at 512 Hz, angular loops at 256/512/1024/2048 Hz, "
            "half of them at 1024 Hz.",
            rates=rate_mix(512, (1024, 256, 1024, 2048, 1024, 512)),
        ),
        "harmonics": Scenario(
            "120 Hz and 180 Hz mains harmonics in strain (in the floor, not the truth) and in the mains monitor.",
            mains=MainsSettings(**_HARMONICS),
        ),
        "mains-wander": Scenario(
            "The mains frequency jitters 4x and its amplitude wanders 4x more than in the baseline, over "
            "periods down to 10 s.",
            mains=MainsSettings(
                jitter_rms=0.04, jitter_periods=(10.0, 300.0), wander_rms=0.2, wander_periods=(10.0, 300.0)
            ),
        ),
        "unusual-witness": Scenario(
            "INP1_P and SRC2_Y are always coupled, INP1_P recorded with 1e-4 and SRC2_Y with 1e4 times the "
            "usual counts.",
            coupled_witnesses=("ASC-INP1_P_OUT_DQ", "ASC-SRC2_Y_OUT_DQ"),
            counts_scale=MappingProxyType({"ASC-INP1_P_OUT_DQ": 1e-4, "ASC-SRC2_Y_OUT_DQ": 1e4}),
        ),
        "nonlinear-coupling": Scenario(
            "The loops modulate the mains as m^2, tanh(2m), the product of two loops' motions and a smooth |m|, "
            "not linearly (wider skirts than the baseline's).",
            mains=MainsSettings(sideband_forms=("square", "tanh", "product", "abs")),
        ),
        "response-drift": Scenario(
            "The coupled loops' channels record their motion 80 ms late on average, the delay wandering by "
            "25 ms RMS (0-160 ms) over 200-1000 s.",
            loops=LoopSettings(response_delay=0.08, response_delay_rms=0.025),
        ),
        "steady": Scenario(
            "No coupling change at all: constant couplings and mains amplitude (the mains frequency jitters "
            "as in the baseline).",
            mains=MainsSettings(drift_scale=0.0, wander_rms=0.0),
        ),
        "independent": Scenario(
            "The hardest mix: harmonics, rates (mains monitor at 2048 Hz), loop lines 0.5-4 Hz, fast drifts and "
            "a coupling step.",
            mains=MainsSettings(drift_scale=2.0, drift_periods=(100.0, 300.0), step_octaves=(0.5, 1.0), **_HARMONICS),
            loops=LoopSettings(line_power=0.5, line_count=4, line_range=(0.5, 4.0)),
            rates=rate_mix(2048, (256, 1024, 512, 1024, 2048, 256, 1024)),
        ),
    }
)
"""Every scenario by name."""

_MERGED = ("witness_sample_rates", "counts_scale")


def scenario_config(name: str = "baseline", **overrides: Any) -> DetectorConfig:
    """The :class:`DetectorConfig` of scenario ``name`` with ``overrides`` (any of its fields).

    An override replaces what the scenario sets, except ``witness_sample_rates``
    and ``counts_scale``, which update the scenario's. Raises ValueError for an
    unknown scenario or field.
    """
    if name not in SCENARIOS:
        raise ValueError(f"scenario {name!r} is unknown; known: {', '.join(SCENARIOS)}")
    defaults = {f.name: f.default for f in fields(DetectorConfig)}
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(f"DetectorConfig has no field(s) {unknown}")
    channels = list(overrides.get("witness_channels", defaults["witness_channels"]))
    mains_channel = overrides.get("mains_channel", defaults["mains_channel"])
    values = SCENARIOS[name].settings(channels, mains_channel)
    for key, value in overrides.items():
        values[key] = {**values[key], **value} if key in _MERGED and key in values else value
    return DetectorConfig(**values)


def describe_scenarios() -> str:
    """One line per scenario: its name and description."""
    width = max(len(name) for name in SCENARIOS)
    return "\n".join(f"{name:<{width}}  {scenario.description}" for name, scenario in SCENARIOS.items())
