"""The mains line and how it couples into strain.

The mains voltage is ``A(t) cos(2 pi phi(t))`` with ``phi`` the integral of a
frequency that jitters slowly around 60 Hz and ``A`` an amplitude that wanders
slowly. It reaches the strain two ways:

- linearly, through a transfer function whose gain and phase drift over
  hundreds of seconds: ``g(t) A(t) cos(2 pi phi(t) + theta(t))``;
- bilinearly, modulated by the motion ``m_j(t)`` of a few angular-control
  loops (sidebands a linear filter cannot remove):
  ``sum_j c_j(t) m_j(t) A(t) cos(2 pi phi(t) + psi_j)``.

Both together are ``I cos 2 pi phi - Q sin 2 pi phi`` with slowly varying
in-phase and quadrature parts ``I`` and ``Q`` (:meth:`MainsModel.envelope`).
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
            linear_gain_drift=SlowDrift.random(rng, rms=0.1, shortest_period=200.0, longest_period=2000.0),
            linear_phase=rng.uniform(0, 2 * np.pi),
            linear_phase_drift=SlowDrift.random(rng, rms=0.2, shortest_period=200.0, longest_period=2000.0),
            sideband_gains=np.sqrt(2.0 * sideband_power) * weights / np.sqrt(np.sum(weights**2)),
            sideband_phases=rng.uniform(0, 2 * np.pi, num_coupled),
            sideband_drifts=tuple(
                SlowDrift.random(rng, rms=0.2, shortest_period=150.0, longest_period=1500.0)
                for _ in range(num_coupled)
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

    def envelope(
        self, gps: int, offsets: np.ndarray, motions: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """In-phase and quadrature parts ``A I`` and ``A Q`` of the injected noise (strain).

        ``motions`` has one row per coupled loop, sampled at ``gps + offsets``
        (None: the linear coupling only). The result varies as slowly as the
        motions (a few hertz), so it can be sampled far below the strain rate.
        """
        amplitude = self.amplitude(gps, offsets)
        gain = self.linear_gain * (1.0 + interpolated(self.linear_gain_drift.value, gps, offsets))
        phase = self.linear_phase + interpolated(self.linear_phase_drift.value, gps, offsets)
        in_phase = gain * np.cos(phase)
        quadrature = gain * np.sin(phase)
        if motions is not None:
            for sideband_gain, sideband_phase, drift, motion in zip(
                self.sideband_gains, self.sideband_phases, self.sideband_drifts, motions, strict=True
            ):
                coupling = sideband_gain * (1.0 + interpolated(drift.value, gps, offsets)) * motion
                in_phase += np.cos(sideband_phase) * coupling
                quadrature += np.sin(sideband_phase) * coupling
        return amplitude * in_phase, amplitude * quadrature

    def strain(
        self, gps: int, offsets: np.ndarray, in_phase: np.ndarray, quadrature: np.ndarray
    ) -> np.ndarray:
        """``I cos 2 pi phi - Q sin 2 pi phi`` at ``gps + offsets`` (``I``, ``Q`` from :meth:`envelope`)."""
        angle = 2 * np.pi * self.cycles(gps, offsets)
        return in_phase * np.cos(angle) - quadrature * np.sin(angle)
