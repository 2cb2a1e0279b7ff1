"""The mains line and how it couples into strain.

The mains voltage is ``A(t) cos(2 pi phi(t))`` with ``phi`` the integral of a
frequency that jitters slowly around 60 Hz and ``A`` an amplitude that wanders
slowly. It reaches the strain two ways:

- linearly, through a transfer function whose gain and phase drift over
  hundreds of seconds: ``g(t) A(t) cos(2 pi phi(t) + theta(t))``;
- bilinearly, modulated by the motion ``m_j(t)`` of a few angular-control
  loops (sidebands a linear filter cannot remove):
  ``sum_j c_j(t) m_j(t) A(t) cos(2 pi phi(t) + psi_j)``.

Both together are ``Re(b(t) exp(2 pi i f0 t))`` with ``f0`` the nominal
frequency and ``b`` a slowly varying complex baseband signal
(:meth:`MainsModel.baseband`) that carries the couplings, the amplitude wander
and the phase the frequency jitter accumulates. The baseband signal is
computed at a low rate and interpolated; the carrier is the same in every
block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .drifts import SlowDrift, interpolated
from .random_streams import Stream, generator


@dataclass(frozen=True)
class MainsModel:
    """Mains line, its monitor and its couplings into strain.

    Built by :meth:`random` from the detector seed; all times are absolute
    GPS (``gps`` integer seconds plus ``offsets``).
    """

    frequency: float
    jitter: SlowDrift
    wander: SlowDrift
    harmonic_amplitude: float
    harmonic_phase: float
    linear_gain: float
    linear_gain_drift: SlowDrift
    linear_phase: float
    linear_phase_drift: SlowDrift
    sideband_gains: np.ndarray
    sideband_phases: np.ndarray
    sideband_drifts: tuple[SlowDrift, ...]

    @classmethod
    def random(
        cls,
        seed: int,
        num_coupled: int,
        noise_rms: float,
        bilinear_fraction: float,
        frequency: float = 60.0,
    ) -> MainsModel:
        """A mains model whose injected noise has RMS ``noise_rms``, of which the
        power fraction ``bilinear_fraction`` is in the sidebands (for coupled
        motions of unit variance)."""
        rng = generator(seed, Stream.MAINS_DRIFTS)
        weights = rng.uniform(0.5, 1.0, num_coupled)
        sideband_power = bilinear_fraction * noise_rms**2
        return cls(
            frequency=frequency,
            jitter=SlowDrift.random(rng, rms=0.01, shortest_period=30.0, longest_period=600.0),
            wander=SlowDrift.random(rng, rms=0.05, shortest_period=20.0, longest_period=600.0),
            harmonic_amplitude=0.05,
            harmonic_phase=rng.random(),
            linear_gain=np.sqrt(2.0 * (1.0 - bilinear_fraction)) * noise_rms,
            linear_gain_drift=SlowDrift.random(rng, rms=0.05, shortest_period=200.0, longest_period=2000.0),
            linear_phase=rng.uniform(0, 2 * np.pi),
            linear_phase_drift=SlowDrift.random(rng, rms=0.08, shortest_period=200.0, longest_period=2000.0),
            sideband_gains=np.sqrt(2.0 * sideband_power) * weights / np.sqrt(np.sum(weights**2)),
            sideband_phases=rng.uniform(0, 2 * np.pi, num_coupled),
            sideband_drifts=tuple(
                SlowDrift.random(rng, rms=0.2, shortest_period=150.0, longest_period=1500.0) for _ in range(num_coupled)
            ),
        )

    def cycles(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The mains phase in cycles (any integer part may be dropped)."""
        carrier = np.mod(self.frequency * float(gps), 1.0) + self.frequency * offsets
        return carrier + interpolated(self.jitter.integral, gps, offsets)

    def amplitude(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The relative mains amplitude ``A(t)`` (about 1)."""
        return 1.0 + interpolated(self.wander.value, gps, offsets)

    def voltage(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """What the mains monitor records (before its own sensor noise): the line and a weak third harmonic."""
        cycles = self.cycles(gps, offsets)
        line = np.cos(2 * np.pi * cycles)
        harmonic = self.harmonic_amplitude * np.cos(2 * np.pi * (3 * cycles + self.harmonic_phase))
        return self.amplitude(gps, offsets) * (line + harmonic)

    def linear_coupling(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The linear transfer function at the mains frequency, ``g e^{i theta}`` (strain per unit mains)."""
        gain = self.linear_gain * (1.0 + interpolated(self.linear_gain_drift.value, gps, offsets))
        phase = self.linear_phase + interpolated(self.linear_phase_drift.value, gps, offsets)
        return gain * np.exp(1j * phase)

    def baseband(self, gps: int, offsets: np.ndarray, motions: np.ndarray | None = None) -> np.ndarray:
        """The injected noise shifted down by the nominal mains frequency (complex strain).

        ``A (I + i Q) exp(2 pi i (J + frac(f0 gps)))``, with ``J`` the phase the
        frequency jitter has accumulated: the noise is the real part of this
        times ``exp(2 pi i f0 offsets)`` (:meth:`strain`). ``motions`` has one row
        per coupled loop, sampled at ``gps + offsets`` (None: the linear coupling
        only). It varies as slowly as the motions (a few hertz), so it can be
        sampled far below the strain rate.
        """
        coupling = self.linear_coupling(gps, offsets)
        if motions is not None:
            for gain, phase, drift, motion in zip(
                self.sideband_gains, self.sideband_phases, self.sideband_drifts, motions, strict=True
            ):
                coupling = (
                    coupling + gain * np.exp(1j * phase) * (1.0 + interpolated(drift.value, gps, offsets)) * motion
                )
        wander = self.cycles(gps, offsets) - self.frequency * offsets
        return self.amplitude(gps, offsets) * coupling * np.exp(2j * np.pi * wander)

    def carrier(self, offsets: np.ndarray) -> np.ndarray:
        """``exp(2 pi i f0 offsets)``: the nominal mains line from the start of a second."""
        return np.exp(2j * np.pi * self.frequency * offsets)

    @staticmethod
    def strain(baseband: np.ndarray, carrier: np.ndarray) -> np.ndarray:
        """The injected noise, ``Re(baseband * carrier)``."""
        return baseband.real * carrier.real - baseband.imag * carrier.imag
