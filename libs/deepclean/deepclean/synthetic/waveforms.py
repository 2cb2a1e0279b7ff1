"""Waveforms of the injected signals: compact-binary inspirals and sine-Gaussians.

Each function returns the samples, the index of the reference sample (an
inspiral's peak, a sine-Gaussian's centre) and the parameters; the
parameters are drawn from a generator the caller seeds (see
:mod:`deepclean.synthetic.injections`, which places and scales them).
"""

from __future__ import annotations

import math

import numpy as np

INSPIRAL_F_LOWER = 40.0
"""Frequency (Hz) the inspirals start at."""

INSPIRAL_MASSES = (1.2, 1.6)
"""Range of the component masses (Msun)."""

REFERENCE_DISTANCE_MPC = 100.0
"""Distance the inspirals are computed at before they are scaled to their SNR."""

SINE_GAUSSIAN_FREQUENCIES = (55.0, 65.0)
SINE_GAUSSIAN_Q = (10.0, 30.0)
SINE_GAUSSIAN_WIDTHS = 6.0
"""A sine-Gaussian is cut at this many ``tau`` either side of its centre."""

_END_TAPER_SECONDS = 0.01

Parameters = dict[str, float | str]


def random_inspiral(rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, int, Parameters]:
    """A binary-neutron-star-like inspiral at :data:`REFERENCE_DISTANCE_MPC` as a detector sees it.

    IMRPhenomD (``lalsimulation.SimInspiralChooseTDWaveform``) from
    :data:`INSPIRAL_F_LOWER`, masses uniform in :data:`INSPIRAL_MASSES`, no
    spins, isotropic inclination, uniform polarisation ``psi`` and phase, seen
    with ``F+ = cos 2psi``, ``Fx = sin 2psi``; its last 10 ms tapered to zero.
    """
    import lal
    import lalsimulation

    mass1, mass2 = sorted(rng.uniform(*INSPIRAL_MASSES, size=2), reverse=True)
    inclination = float(np.arccos(rng.uniform(-1.0, 1.0)))
    polarization = float(rng.uniform(0.0, np.pi))
    phase = float(rng.uniform(0.0, 2.0 * np.pi))
    plus, cross = lalsimulation.SimInspiralChooseTDWaveform(
        mass1 * lal.MSUN_SI, mass2 * lal.MSUN_SI,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        REFERENCE_DISTANCE_MPC * 1e6 * lal.PC_SI,
        inclination, phase, 0.0, 0.0, 0.0,
        1.0 / sample_rate, INSPIRAL_F_LOWER, INSPIRAL_F_LOWER,
        lal.CreateDict(), lalsimulation.IMRPhenomD,
    )  # fmt: skip
    wave = np.cos(2 * polarization) * plus.data.data + np.sin(2 * polarization) * cross.data.data
    taper = round(_END_TAPER_SECONDS * sample_rate)
    wave[-taper:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, taper + 1) / taper)
    peak = round(-float(plus.epoch) * sample_rate)  # the waveform's t = 0
    parameters: Parameters = {
        "mass1": float(mass1),
        "mass2": float(mass2),
        "inclination": inclination,
        "polarization": polarization,
        "phase": phase,
        "f_lower": INSPIRAL_F_LOWER,
        "approximant": "IMRPhenomD",
    }
    return wave, peak, parameters


def random_sine_gaussian(rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, int, Parameters]:
    """A unit-amplitude :func:`sine_gaussian` with frequency, Q and phase drawn from their ranges."""
    frequency = float(rng.uniform(*SINE_GAUSSIAN_FREQUENCIES))
    quality = float(rng.uniform(*SINE_GAUSSIAN_Q))
    phase = float(rng.uniform(0.0, 2.0 * np.pi))
    wave, centre = sine_gaussian(frequency, quality, phase, sample_rate)
    return wave, centre, {"frequency": frequency, "q": quality, "phase": phase}


def sine_gaussian(frequency: float, quality: float, phase: float, sample_rate: int) -> tuple[np.ndarray, int]:
    """A unit-amplitude sine-Gaussian cut at ``+-SINE_GAUSSIAN_WIDTHS`` tau; the samples and the centre's index.

    ``exp(-(t/tau)^2) sin(2 pi f t + phase)`` with ``tau = quality / (sqrt(2) pi f)``.
    """
    if frequency <= 0 or quality <= 0:
        raise ValueError(f"a sine-Gaussian needs a positive frequency and Q, got {frequency}, {quality}")
    tau = quality / (np.sqrt(2.0) * np.pi * frequency)
    half = math.ceil(SINE_GAUSSIAN_WIDTHS * tau * sample_rate)
    t = np.arange(-half, half + 1) / sample_rate
    return np.exp(-((t / tau) ** 2)) * np.sin(2 * np.pi * frequency * t + phase), half
