"""Weighting of the least-squares start's error by frequency, as the causal loss weighs it.

:class:`~deepclean_trainer.loss.PsdRatioLoss` with a guard judges the band by the
fraction of its power left and every bin beside it against the strain's own
power there. An unweighted least-squares fit weighs every bin by its power
instead, so it trades a quiet bin beside the band (where its error is tiny in
absolute terms but large against the strain) for the slightest gain on the
line. The causal start did: its validation loss before training was 1.1-3.9
on the harmonics, independent and broad-skirts scenarios, of which the band's
part was 0.05-0.23, and the training budget went on taking that noise back.

Filtering the estimate (every input column: the filter is linear) with a
zero-phase FIR whose power response is the loss's weight per bin, and the
target with its in-band part only, makes the fit minimise::

    sum over the band of |target - estimate|^2 / sum_band S
    + guard_weight * mean over the bins beside it of |estimate|^2 / S(f)

with ``S`` the strain's PSD over the training data (sums over the FIR's
frequency bins). Beside the band that is the guard's excess,
``|T - P|^2 / S - 1``, without the cross term: the estimate's power there costs
as much as noise added, and removing noise there earns nothing, as with the
guard's hinge (a target that held the strain beside the band would credit
removal there: on the harmonics scenario the start then spent its taps on the
120 Hz harmonic and removed 3.6 points less in the band).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepclean.signal import psd

from .preprocessing import Segment

WEIGHTING_SECONDS = 4.0
"""Length of the weighting FIR (s): 0.25 Hz bins, tapered to about 0.5 Hz."""


@dataclass(frozen=True)
class ErrorWeighting:
    """Centred FIRs (odd length) for the least-squares start: ``estimate`` filters every input column,
    ``target`` the target (the band's part of ``estimate``)."""

    estimate: np.ndarray
    target: np.ndarray

    @property
    def reach(self) -> int:
        """Samples each side a filtered sample depends on."""
        return self.estimate.size // 2


def error_weighting(
    segments: list[Segment],
    band: tuple[float, float],
    guard: tuple[float, float],
    guard_weight: float,
    seconds: float = WEIGHTING_SECONDS,
) -> ErrorWeighting:
    """The zero-phase FIRs that weight the start's error per bin as the loss does.

    Parameters
    ----------
    segments
        The training segments: their strain's mean PSD sets the weights beside the band.
    band, guard
        The band the loss judges by its power left and the range of its guard (Hz).
    guard_weight
        The guard's weight in the loss.
    """
    rate = segments[0].sample_rate
    size = round(seconds * rate) // 2 * 2
    frequencies = np.fft.rfftfreq(size, 1.0 / rate)
    long_enough = [s for s in segments if s.num_samples >= size]
    powers = [psd(s.strain, rate, seconds, average="mean")[1] * s.num_samples for s in long_enough]
    if not powers:
        raise ValueError(f"no training segment is as long as the {seconds:g} s weighting filter")
    strain_psd = np.sum(powers, axis=0)
    in_band = (frequencies >= band[0]) & (frequencies <= band[1])
    beside = (frequencies >= guard[0]) & (frequencies <= guard[1]) & ~in_band
    weight = np.zeros_like(frequencies)
    weight[in_band] = 1.0
    floor = 1e-12 * strain_psd[beside].max()
    weight[beside] = guard_weight * strain_psd[in_band].sum() / (beside.sum() * np.maximum(strain_psd[beside], floor))
    return ErrorWeighting(estimate=_centred_fir(np.sqrt(weight), size), target=_centred_fir(in_band * 1.0, size))


def _centred_fir(amplitude: np.ndarray, size: int) -> np.ndarray:
    """The tapered, centred (``size + 1`` taps) FIR of a real, zero-phase amplitude response."""
    response = np.fft.fftshift(np.fft.irfft(amplitude, n=size))
    return np.append(response, response[0]) * np.hanning(size + 1)
