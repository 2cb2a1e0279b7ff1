"""How the angular-loop motions enter the mains coupling.

A coupled loop modulates the mains coupling by ``c_j(t) f_j(m)``. The form
``f_j`` is bilinear (``m_j`` itself) in the baseline detector; the other forms
(:data:`SIDEBAND_FORMS`) are higher than bilinear and scaled to zero mean and
about unit variance for Gaussian motion of unit variance, so that they carry
the same power. A :class:`CouplingStep` multiplies every coupling strength by
its own factor from a given GPS time on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .drifts import Step, interpolated
from .random_streams import Stream, generator

# Mean and standard deviation for m ~ N(0, 1) of the smooth |m| and of tanh(2 m).
_ABS_ROUNDING = 0.5
_ABS_MEAN, _ABS_STD = 0.99726, 0.50545
_TANH_STD = 0.79703

SIDEBAND_FORMS: dict[str, str] = {
    "bilinear": "m (the baseline)",
    "square": "(m^2 - 1) / sqrt(2)",
    "abs": "a smooth |m|, sqrt(m^2 + 0.5^2), less its mean, over its standard deviation",
    "tanh": "tanh(2 m) / 0.797 (saturating)",
    "product": "m times the motion of the next coupled loop (cyclically)",
}
"""The forms of the modulation by a loop's motion ``m`` (unit variance).

Smooth forms keep the sidebands within a few times the motion's bandwidth of
the carrier; a sharp one (a true ``|m|``, a steep ``tanh``) would spread them
over tens of hertz.
"""


def modulations(forms: tuple[str, ...], motions: np.ndarray) -> list[np.ndarray]:
    """What modulates the coupling, one row per coupled loop.

    ``forms`` is cycled over the rows of ``motions`` (the coupled loops'
    motions); a bilinear row is the motion itself.
    """
    rows = []
    for index, motion in enumerate(motions):
        form = forms[index % len(forms)]
        if form == "bilinear":
            rows.append(motion)
        elif form == "square":
            rows.append((motion**2 - 1.0) / np.sqrt(2.0))
        elif form == "abs":
            rows.append((np.hypot(motion, _ABS_ROUNDING) - _ABS_MEAN) / _ABS_STD)
        elif form == "tanh":
            rows.append(np.tanh(2.0 * motion) / _TANH_STD)
        elif form == "product":
            rows.append(motion * motions[(index + 1) % len(motions)])
        else:
            raise ValueError(f"sideband form {form!r} is unknown; known: {sorted(SIDEBAND_FORMS)}")
    return rows


@dataclass(frozen=True)
class CouplingStep:
    """Every coupling strength changes by its own factor at ``step.gps``.

    The linear coupling's gain is multiplied by ``linear_factor`` and loop
    ``j``'s sideband strength by ``sideband_factors[j]``, over the step's
    ramp (a second: a step, not a drift).
    """

    step: Step
    linear_factor: float
    sideband_factors: np.ndarray

    @classmethod
    def random(cls, seed: int, gps: int, num_coupled: int, octaves: tuple[float, float]) -> CouplingStep:
        """Factors ``2**(+-u)`` with ``u`` uniform in ``octaves`` and a random sign each
        (``octaves=(0.5, 1.0)``: factors in 0.5-0.71 or 1.41-2)."""
        rng = generator(seed, Stream.COUPLING_STEP)
        sizes = rng.uniform(octaves[0], octaves[1], num_coupled + 1)
        signs = rng.choice([-1.0, 1.0], num_coupled + 1)
        factors = 2.0 ** (signs * sizes)
        return cls(step=Step(gps), linear_factor=float(factors[0]), sideband_factors=factors[1:])

    def _factor(self, factor: float, gps: int, offsets: np.ndarray) -> np.ndarray:
        return 1.0 + (factor - 1.0) * interpolated(self.step.value, gps, offsets)

    def linear(self, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The factor of the linear coupling's gain at ``gps + offsets``."""
        return self._factor(self.linear_factor, gps, offsets)

    def sideband(self, index: int, gps: int, offsets: np.ndarray) -> np.ndarray:
        """The factor of coupled loop ``index``'s sideband strength at ``gps + offsets``."""
        return self._factor(float(self.sideband_factors[index]), gps, offsets)
