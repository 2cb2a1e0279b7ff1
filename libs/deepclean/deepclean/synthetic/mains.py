"""The mains line and how it couples into strain.

The mains voltage is ``A(t) cos(2 pi phi(t))`` with ``phi`` the integral of a
frequency that jitters slowly around 60 Hz and ``A`` an amplitude that wanders
slowly. It reaches the strain two ways:

- linearly, through a transfer function whose gain and phase drift over
  hundreds of seconds: ``g(t) A(t) cos(2 pi phi(t) + theta(t))``;
- bilinearly, modulated by the motion ``m_j(t)`` of a few angular-control
  loops (sidebands a linear filter cannot remove):
  ``sum_j c_j(t) m_j(t) A(t) cos(2 pi phi(t) + psi_j)``, or by a nonlinear
  function of it (:mod:`deepclean.synthetic.couplings`).

Both together are ``Re(b(t) exp(2 pi i f0 t))`` with ``f0`` the nominal
frequency and ``b`` a slowly varying complex baseband signal
(:meth:`MainsModel.baseband`) that carries the couplings, the amplitude wander
and the phase the frequency jitter accumulates. The baseband signal is
computed at a low rate and interpolated; the carrier is the same in every
block.

:class:`MainsSettings` holds the dials of this model (how strongly the mains
wanders, how fast the couplings drift, steps, the form of the modulation,
harmonics); its defaults are the baseline detector and the scenarios
(:mod:`deepclean.synthetic.scenarios`) turn them. Harmonics of the mains
(120 Hz, 180 Hz, ...) are in the monitor and, when asked for, in strain, where
they belong to the floor, not to the targeted noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .couplings import SIDEBAND_FORMS, CouplingStep, modulations
from .drifts import SlowDrift, interpolated
from .random_streams import Stream, generator

_MAX_HARMONIC = 9


def _check_periods(name: str, periods: tuple[float, float] | None) -> None:
    if periods is not None and not 0 < periods[0] <= periods[1]:
        raise ValueError(f"{name} must be two periods 0 < shortest <= longest (s), got {periods}")


@dataclass(frozen=True)
class MainsSettings:
    """The dials of the mains model; the defaults are the baseline detector.

    Parameters
    ----------
    jitter_rms, jitter_periods
        RMS (Hz) and range of periods (s) of the mains frequency jitter.
    wander_rms, wander_periods
        RMS (relative) and range of periods (s) of the mains amplitude wander.
    drift_scale
        Multiplies the RMS of every coupling drift (linear gain and phase,
        sideband strengths); 0 keeps the couplings constant.
    drift_periods
        Range of periods (s) of the coupling drifts; None: 200-2000 s for the
        linear coupling and 150-1500 s for the sidebands.
    step_octaves
        With a range, every coupling strength steps by ``2**(+-u)``, ``u``
        uniform in it (octaves), at the detector's ``step_gps``; None: no step.
    sideband_forms
        Form of each coupled loop's modulation (:data:`SIDEBAND_FORMS`), cycled
        over the coupled loops.
    monitor_harmonics
        Amplitudes of the harmonics 2, 3, ... in the mains monitor, relative
        to the line.
    strain_harmonics
        Amplitudes of the harmonics 2, 3, ... in strain, relative to
        ``noise_rms`` (part of the floor, not of the targeted noise).
    """

    jitter_rms: float = 0.01
    jitter_periods: tuple[float, float] = (30.0, 600.0)
    wander_rms: float = 0.05
    wander_periods: tuple[float, float] = (20.0, 600.0)
    drift_scale: float = 1.0
    drift_periods: tuple[float, float] | None = None
    step_octaves: tuple[float, float] | None = None
    sideband_forms: tuple[str, ...] = ("bilinear",)
    monitor_harmonics: tuple[float, ...] = (0.0, 0.05)
    strain_harmonics: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("jitter_rms", "wander_rms", "drift_scale"):
            if getattr(self, name) < 0:
                raise ValueError(f"mains.{name} must be non-negative, got {getattr(self, name)}")
        for name in ("jitter_periods", "wander_periods", "drift_periods"):
            _check_periods(f"mains.{name}", getattr(self, name))
        if self.step_octaves is not None and not 0 <= self.step_octaves[0] <= self.step_octaves[1]:
            raise ValueError(f"mains.step_octaves must be 0 <= low <= high, got {self.step_octaves}")
        unknown = sorted(set(self.sideband_forms) - set(SIDEBAND_FORMS))
        if unknown or not self.sideband_forms:
            raise ValueError(f"mains.sideband_forms {unknown or '()'} unknown; known: {sorted(SIDEBAND_FORMS)}")
        for name in ("monitor_harmonics", "strain_harmonics"):
            amplitudes = getattr(self, name)
            if len(amplitudes) > _MAX_HARMONIC - 1 or any(a < 0 for a in amplitudes):
                raise ValueError(f"mains.{name} must be at most {_MAX_HARMONIC - 1} non-negative amplitudes")

    @property
    def highest_harmonic(self) -> int:
        """The highest harmonic order with a non-zero amplitude (1: none)."""
        orders = [
            order
            for amplitudes in (self.monitor_harmonics, self.strain_harmonics)
            for order, amplitude in enumerate(amplitudes, start=2)
            if amplitude > 0
        ]
        return max(orders, default=1)


class Harmonic(NamedTuple):
    """``amplitude * cos(2 pi (order * cycles + phase))``."""

    order: int
    amplitude: float
    phase: float


def _harmonics(amplitudes: tuple[float, ...], phases: np.ndarray, scale: float = 1.0) -> tuple[Harmonic, ...]:
    return tuple(
        Harmonic(order, scale * amplitude, float(phases[order]))
        for order, amplitude in enumerate(amplitudes, start=2)
        if amplitude > 0
    )


@dataclass(frozen=True)
class MainsModel:
    """Mains line, its monitor and its couplings into strain.

    Built by :meth:`random` from the detector seed; all times are absolute
    GPS (``gps`` integer seconds plus ``offsets``).
    """

    frequency: float
    jitter: SlowDrift
    wander: SlowDrift
    monitor_harmonics: tuple[Harmonic, ...]
    strain_harmonics: tuple[Harmonic, ...]
    linear_gain: float
    linear_gain_drift: SlowDrift
    linear_phase: float
    linear_phase_drift: SlowDrift
    sideband_gains: np.ndarray
    sideband_phases: np.ndarray
    sideband_drifts: tuple[SlowDrift, ...]
    sideband_forms: tuple[str, ...] = ("bilinear",)
    step: CouplingStep | None = None

    @classmethod
    def random(
        cls,
        seed: int,
        num_coupled: int,
        noise_rms: float,
        bilinear_fraction: float,
        frequency: float = 60.0,
        settings: MainsSettings | None = None,
        step_gps: int | None = None,
    ) -> MainsModel:
        """A mains model whose injected noise has RMS ``noise_rms``, of which the
        power fraction ``bilinear_fraction`` is in the sidebands (for coupled
        motions of unit variance); ``settings`` default to the baseline, and a
        step (if the settings have one) is at ``step_gps``."""
        settings = settings or MainsSettings()
        if settings.step_octaves is not None and step_gps is None:
            raise ValueError("mains.step_octaves asks for a coupling step but step_gps is None")
        rng = generator(seed, Stream.MAINS_DRIFTS)
        weights = rng.uniform(0.5, 1.0, num_coupled)
        sideband_power = bilinear_fraction * noise_rms**2
        scale = settings.drift_scale
        linear_periods = settings.drift_periods or (200.0, 2000.0)
        sideband_periods = settings.drift_periods or (150.0, 1500.0)
        jitter = SlowDrift.random(rng, settings.jitter_rms, *settings.jitter_periods)
        wander = SlowDrift.random(rng, settings.wander_rms, *settings.wander_periods)
        harmonic_phases = generator(seed, Stream.MAINS_HARMONICS).random((2, _MAX_HARMONIC + 1))
        harmonic_phases[0, 3] = rng.random()  # the third harmonic has always been in the monitor
        return cls(
            frequency=frequency,
            jitter=jitter,
            wander=wander,
            monitor_harmonics=_harmonics(settings.monitor_harmonics, harmonic_phases[0]),
            strain_harmonics=_harmonics(settings.strain_harmonics, harmonic_phases[1], noise_rms),
            linear_gain=np.sqrt(2.0 * (1.0 - bilinear_fraction)) * noise_rms,
            linear_gain_drift=SlowDrift.random(rng, 0.05 * scale, *linear_periods),
            linear_phase=rng.uniform(0, 2 * np.pi),
            linear_phase_drift=SlowDrift.random(rng, 0.08 * scale, *linear_periods),
            sideband_gains=np.sqrt(2.0 * sideband_power) * weights / np.sqrt(np.sum(weights**2)),
            sideband_phases=rng.uniform(0, 2 * np.pi, num_coupled),
            sideband_drifts=tuple(SlowDrift.random(rng, 0.2 * scale, *sideband_periods) for _ in range(num_coupled)),
            sideband_forms=settings.sideband_forms,
            step=(
                None
                if settings.step_octaves is None
                else CouplingStep.random(seed, step_gps, num_coupled, settings.step_octaves)
            ),
        )

    def cycles(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The mains phase in cycles (any integer part may be dropped)."""
        carrier = np.mod(self.frequency * float(gps), 1.0) + self.frequency * offsets
        return carrier + interpolated(self.jitter.integral, gps, offsets)

    def amplitude(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The relative mains amplitude ``A(t)`` (about 1)."""
        return 1.0 + interpolated(self.wander.value, gps, offsets)

    @staticmethod
    def _with_harmonics(line: np.ndarray, cycles: np.ndarray, harmonics: tuple[Harmonic, ...]) -> np.ndarray:
        for order, amplitude, phase in harmonics:
            line = line + amplitude * np.cos(2 * np.pi * (order * cycles + phase))
        return line

    def voltage(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """What the mains monitor records (before its own sensor noise): the line and its harmonics."""
        cycles = self.cycles(gps, offsets)
        line = np.cos(2 * np.pi * cycles)
        return self.amplitude(gps, offsets) * self._with_harmonics(line, cycles, self.monitor_harmonics)

    def harmonics_in_strain(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The mains harmonics in strain (zero without any): part of the floor, not of the targeted noise."""
        if not self.strain_harmonics:
            return np.zeros(len(offsets))
        cycles = self.cycles(gps, offsets)
        return self.amplitude(gps, offsets) * self._with_harmonics(0.0, cycles, self.strain_harmonics)

    def linear_coupling(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The linear transfer function at the mains frequency, ``g e^{i theta}`` (strain per unit mains)."""
        gain = self.linear_gain * (1.0 + interpolated(self.linear_gain_drift.value, gps, offsets))
        if self.step is not None:
            gain = gain * self.step.linear(gps, offsets)
        phase = self.linear_phase + interpolated(self.linear_phase_drift.value, gps, offsets)
        return gain * np.exp(1j * phase)

    def sideband_couplings(self, gps: int, offsets: np.ndarray) -> list[np.ndarray]:
        """Each coupled loop's coupling ``c_j(t)`` (complex strain per unit modulation)."""
        couplings = []
        for index, (gain, phase, drift) in enumerate(
            zip(self.sideband_gains, self.sideband_phases, self.sideband_drifts, strict=True)
        ):
            coupling = gain * np.exp(1j * phase) * (1.0 + interpolated(drift.value, gps, offsets))
            if self.step is not None:
                coupling = coupling * self.step.sideband(index, gps, offsets)
            couplings.append(coupling)
        return couplings

    def baseband(self, gps: int, offsets: np.ndarray, motions: np.ndarray | None = None) -> np.ndarray:
        """The injected noise shifted down by the nominal mains frequency (complex strain).

        ``A (I + i Q) exp(2 pi i (J + frac(f0 gps)))``, with ``J`` the phase the
        frequency jitter has accumulated: the noise is the real part of this
        times ``exp(2 pi i f0 offsets)`` (:meth:`strain`). ``motions`` has one row
        per coupled loop, sampled at ``gps + offsets`` (None: the linear coupling
        only); each row enters through its form (:func:`modulations`). It
        varies as slowly as the modulations (a few hertz), so it can be sampled
        far below the strain rate.
        """
        coupling = self.linear_coupling(gps, offsets)
        if motions is not None:
            rows = modulations(self.sideband_forms, motions)
            for sideband, row in zip(self.sideband_couplings(gps, offsets), rows, strict=True):
                coupling = coupling + sideband * row
        wander = self.cycles(gps, offsets) - self.frequency * offsets
        return self.amplitude(gps, offsets) * coupling * np.exp(2j * np.pi * wander)

    def carrier(self, offsets: np.ndarray) -> np.ndarray:
        """``exp(2 pi i f0 offsets)``: the nominal mains line from the start of a second."""
        return np.exp(2j * np.pi * self.frequency * offsets)

    @staticmethod
    def strain(baseband: np.ndarray, carrier: np.ndarray) -> np.ndarray:
        """The injected noise, ``Re(baseband * carrier)``."""
        return baseband.real * carrier.real - baseband.imag * carrier.imag
