"""What the synthetic detector produces: :class:`DetectorConfig`.

The defaults are the baseline detector; :mod:`deepclean.synthetic.scenarios`
names other settings of the world (``mains``, ``loops``, the coupled and
scaled witnesses, rates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from .colouring import DEFAULT_PSD
from .mains import MainsSettings
from .witnesses import LoopSettings, default_sample_rates

STEP_GPS = 1400001536
"""Default GPS second of a coupling step (the middle of the quality benchmark's held-out span)."""

ASC_LOOPS = ("INP1", "MICH", "PRC1", "PRC2", "SRC1", "SRC2", "DHARD", "CHARD", "DSOFT", "CSOFT")


def mains_witness(ifo: str) -> str:
    """The mains monitor channel of ``ifo``."""
    return f"{ifo}:PEM-CS_MAINSMON_EBAY_1_DQ"


def default_witnesses(ifo: str) -> tuple[str, ...]:
    """The 21 witnesses of ``ifo``: the mains monitor, then pitch and yaw of ten angular-control loops."""
    return (mains_witness(ifo), *(f"{ifo}:ASC-{loop}_{dof}_OUT_DQ" for loop in ASC_LOOPS for dof in ("P", "Y")))


H1_WITNESSES = default_witnesses("H1")


@dataclass(frozen=True)
class DetectorConfig:
    """What the synthetic detector produces.

    Parameters
    ----------
    seed
        Everything random follows from it.
    strain_channel, state_channel, truth_channel
        Channel names of the strain, the state vector and the injected noise.
    strain_sample_rate
        Strain sample rate (Hz).
    witness_channels
        All witness channels; ``mains_channel`` among them is the mains
        monitor, the others are angular-control loops.
    witness_sample_rates
        Native rate per witness; missing ones follow :func:`default_sample_rates`.
    noise_rms
        RMS strain of the injected mains noise (line plus sidebands).
    bilinear_fraction
        Fraction of the injected noise power in the sidebands (the part a
        linear filter cannot remove).
    num_coupled
        How many angular loops modulate the mains coupling (chosen from the seed).
    design_curve
        lalsimulation design curve of the strain floor.
    not_ready_interval, not_ready_duration
        Mean spacing and length (s) of not-analysis-ready segments; an
        interval of None means always ready.
    mains
        How the mains wanders and couples (drifts, step, form, harmonics).
    loops
        How the angular loops move (spectrum, lines) and are recorded (delay).
    coupled_witnesses
        Angular witnesses that are always among the ``num_coupled`` coupled
        loops; the rest are chosen from the seed.
    counts_scale
        Factors on the counts per unit motion of some angular witnesses.
    step_gps
        GPS second of the coupling step, if ``mains`` has one.
    """

    seed: int = 1
    strain_channel: str = "H1:GDS-CALIB_STRAIN"
    state_channel: str = "H1:GDS-CALIB_STATE_VECTOR"
    truth_channel: str = "H1:SYN-INJECTED_NOISE"
    strain_sample_rate: int = 16384
    witness_channels: tuple[str, ...] = H1_WITNESSES
    mains_channel: str = "H1:PEM-CS_MAINSMON_EBAY_1_DQ"
    witness_sample_rates: dict[str, int] = field(default_factory=dict)
    noise_rms: float = 5e-22
    bilinear_fraction: float = 0.45
    num_coupled: int = 4
    design_curve: str = DEFAULT_PSD
    not_ready_interval: float | None = 3600.0
    not_ready_duration: float = 30.0
    mains: MainsSettings = field(default_factory=MainsSettings)
    loops: LoopSettings = field(default_factory=LoopSettings)
    coupled_witnesses: tuple[str, ...] = ()
    counts_scale: dict[str, float] = field(default_factory=dict)
    step_gps: int = STEP_GPS

    def __post_init__(self) -> None:
        if self.mains_channel not in self.witness_channels:
            raise ValueError(f"mains_channel {self.mains_channel!r} is not one of witness_channels")
        unknown = sorted(set(self.witness_sample_rates) - set(self.witness_channels))
        if unknown:
            raise ValueError(f"witness_sample_rates names channels that are not witnesses: {unknown}")
        if not 0 <= self.num_coupled <= len(self.witness_channels) - 1:
            raise ValueError(
                f"num_coupled={self.num_coupled} but there are {len(self.witness_channels) - 1} angular witnesses"
            )
        if not 0.0 <= self.bilinear_fraction <= 1.0:
            raise ValueError(f"bilinear_fraction must be in [0, 1], got {self.bilinear_fraction}")
        if self.noise_rms < 0:
            raise ValueError(f"noise_rms must be non-negative, got {self.noise_rms}")
        for channel, rate in self.sample_rates.items():
            if int(rate) != rate or rate <= 0:
                raise ValueError(f"witness_sample_rates[{channel!r}] = {rate} is not a positive whole number of Hz")
        self._check_world()

    def _check_world(self) -> None:
        angular = set(self.witness_channels) - {self.mains_channel}
        foreign = sorted(set(self.coupled_witnesses) - angular)
        if foreign:
            raise ValueError(f"coupled_witnesses names channels that are not angular witnesses: {foreign}")
        if len(set(self.coupled_witnesses)) > self.num_coupled:
            raise ValueError(
                f"coupled_witnesses names {len(set(self.coupled_witnesses))} channels, num_coupled={self.num_coupled}"
            )
        foreign = sorted(set(self.counts_scale) - angular)
        if foreign:
            raise ValueError(f"counts_scale names channels that are not angular witnesses: {foreign}")
        if any(not scale > 0 for scale in self.counts_scale.values()):
            raise ValueError(f"counts_scale factors must be positive, got {self.counts_scale}")
        if "product" in self.mains.sideband_forms and self.num_coupled < 2:
            raise ValueError("mains.sideband_forms 'product' needs num_coupled >= 2")
        highest = 60.0 * self.mains.highest_harmonic
        if 2 * highest >= min(self.sample_rates[self.mains_channel], self.strain_sample_rate):
            raise ValueError(
                f"mains harmonics up to {highest:g} Hz need the mains monitor and strain "
                f"sampled above {2 * highest:g} Hz"
            )

    @cached_property
    def sample_rates(self) -> dict[str, int]:
        """The native sample rate of every witness."""
        rates = default_sample_rates(list(self.witness_channels), self.mains_channel)
        rates.update(self.witness_sample_rates)
        return rates
