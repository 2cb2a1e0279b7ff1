"""The training loss: the in-band PSD ratio of the residual to the target.

Both PSDs are Welch estimates (Hann window, half overlap, mean removed per
segment, as ``scipy.signal.welch``) pooled over the batch. Two weightings of
the band's bins:

- ``"power"``: the in-band power of the residual over that of the target,
  i.e. the fraction of the in-band noise power left. Bins count by their
  power, so the mains line itself, where most of the noise is, dominates;
- ``"per_bin"``: the ratio PSD(target - prediction) / PSD(target) averaged
  over the bins (the original DeepClean loss), which weights a sideband bin
  barely above the floor as much as the line and so trades line residual for
  small gains where little can be removed.

0 means the in-band noise is predicted perfectly, 1 means the prediction
removes nothing.

For a version trained for the causal (low-latency) mode the prediction is
first passed through the causal band-pass the cleaner applies to it
(:class:`CausalFilter`), so the loss judges what the cleaner subtracts and the
network learns to offset the filter's phase response instead of losing to it.
That filter's skirts reach far outside the band, where the power weighting
barely sees a bin (the floor there is 40-60 dB below the line): a ``guard``
adds the mean over the bins beside the band of max(0, PSD(target - prediction)
/ PSD(target) - 1), each bin judged against itself as the safety gate judges
it (the target must then hold the strain over the guard's range). 0 means no
bin beside the band has noise added; removing noise there earns nothing. On
the quality benchmark's broad-skirts scenario (causal, one-shot) this form
removed 83.6 % of the band's noise; crediting removal beside the band traded
the band for the skirts (40.3 %), and judging the subtracted power against the
strain's PSD instead added noise at 51-54 Hz (worst bin 1.12, 43.1 %).

The causal mode's guard judges the band's own bins too (``guard_band_bins``): the
power weighting lets the band's edge bins, where the noise is weak, be made worse
than raw while the line is removed. On the independent scenario (causal, one-shot)
bins 55 and 65 Hz were 1.15 and 1.12 times the raw PSD and the BNS range 0.12 Mpc
below raw; with them guarded it is 0.12 Mpc above. Judging each training window
apart instead of the batch's pooled PSDs (so removal in loud windows cannot hide
noise added in quiet ones) cost 2-10 points of band removal on four scenarios: a
4 s window's PSD ratio is too noisy for a hinge.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

LOSS_WEIGHTINGS = ("power", "per_bin")


class WelchPsd(nn.Module):
    """Welch PSD (one-sided, density scaling) along the last axis, averaged over
    segments and over the batch, at the frequency bins inside ``band`` only."""

    def __init__(self, sample_rate: float, fftlength: float, band: tuple[float, float]) -> None:
        super().__init__()
        self.nperseg = round(fftlength * sample_rate)
        if self.nperseg < 2:
            raise ValueError(f"fftlength {fftlength} s is too short at {sample_rate} Hz")
        self.step = self.nperseg // 2
        window = torch.hann_window(self.nperseg, periodic=True, dtype=torch.float64)
        frequencies = torch.fft.rfftfreq(self.nperseg, d=1.0 / sample_rate, dtype=torch.float64)
        in_band = (frequencies >= band[0]) & (frequencies <= band[1])
        if not bool(in_band.any()):
            raise ValueError(f"no frequency bin of a {fftlength} s FFT falls in the band {list(band)}")
        self.register_buffer("window", window.float())
        self.register_buffer("bins", torch.nonzero(in_band)[:, 0])
        self.register_buffer("frequencies", frequencies[in_band].float())
        self.scale = float(2.0 / (sample_rate * (window**2).sum()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < self.nperseg:
            raise ValueError(f"{x.shape[-1]} samples are fewer than one {self.nperseg}-sample FFT segment")
        segments = x.unfold(-1, self.nperseg, self.step)
        segments = segments - segments.mean(dim=-1, keepdim=True)
        spectrum = torch.fft.rfft(segments * self.window, dim=-1).index_select(-1, self.bins)
        power = spectrum.real**2 + spectrum.imag**2
        return power.reshape(-1, power.shape[-1]).mean(dim=0) * self.scale


class CausalFilter(nn.Module):
    """A causal filter as a convolution with its (cut) impulse response, along the last axis.

    The first ``len(response) - 1`` output samples lack part of their past
    (:attr:`warmup`); a caller keeps only the samples after them.

    Parameters
    ----------
    response
        The impulse response (:func:`deepclean.signal.causal_impulse_response`).
    """

    def __init__(self, response: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("response", torch.as_tensor(np.asarray(response), dtype=torch.float32))

    @property
    def warmup(self) -> int:
        return int(self.response.numel()) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-1] + self.warmup
        spectrum = torch.fft.rfft(x, n=size) * torch.fft.rfft(self.response, n=size)
        return torch.fft.irfft(spectrum, n=size)[..., : x.shape[-1]]


class PsdRatioLoss(nn.Module):
    """In-band PSD(target - prediction) relative to PSD(target), weighted per ``weighting``.

    With a ``prediction_filter`` (the causal mode) the prediction is filtered and
    its last ``target``-length samples are compared: the prediction must be at
    least the filter's warm-up longer than the target.

    With a ``guard`` (a frequency range around ``band``) the bins of the guard
    outside ``band`` add ``guard_weight`` times the mean of their PSD ratios' excess over one;
    ``guard_band_bins`` judges the band's own bins so too (the band's power weighting barely sees
    its edge bins, where the noise is weak).
    """

    def __init__(
        self,
        sample_rate: float,
        band: tuple[float, float],
        fftlength: float = 2.0,
        weighting: str = "power",
        prediction_filter: CausalFilter | None = None,
        guard: tuple[float, float] | None = None,
        guard_weight: float = 1.0,
        guard_band_bins: bool = False,
    ) -> None:
        super().__init__()
        if weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss weighting must be one of {LOSS_WEIGHTINGS}, got {weighting!r}")
        self.psd = WelchPsd(sample_rate, fftlength, band)
        self.weighting = weighting
        self.prediction_filter = prediction_filter
        self.guard_psd = None
        self.guard_weight = float(guard_weight)
        if guard is not None:
            if not guard[0] < band[0] < band[1] < guard[1]:
                raise ValueError(f"the guard {list(guard)} must reach beyond both edges of the band {list(band)}")
            self.guard_psd = WelchPsd(sample_rate, fftlength, guard)
            beside = (self.guard_psd.frequencies < band[0]) | (self.guard_psd.frequencies > band[1])
            judged = torch.ones_like(beside) if guard_band_bins else beside
            self.register_buffer("guarded", torch.nonzero(judged)[:, 0])

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.prediction_filter is not None:
            if prediction.shape[-1] - target.shape[-1] < self.prediction_filter.warmup:
                raise ValueError(
                    f"a prediction of {prediction.shape[-1]} samples leaves less than the causal filter's "
                    f"{self.prediction_filter.warmup}-sample warm-up before a {target.shape[-1]}-sample target"
                )
            prediction = self.prediction_filter(prediction)[..., -target.shape[-1] :]
        residual, reference = self.psd(target - prediction), self.psd(target)
        if self.weighting == "power":
            value = residual.sum() / reference.sum()
        else:
            value = (residual / reference).mean()
        if self.guard_psd is not None:
            guarded_residual = self.guard_psd(target - prediction).index_select(-1, self.guarded)
            guarded_reference = self.guard_psd(target).index_select(-1, self.guarded)
            # a bin with no strain power (gated or notched data) must not make the loss infinite
            guarded_reference = guarded_reference.clamp_min(1e-12 * float(guarded_reference.mean()) + 1e-30)
            excess = torch.clamp(guarded_residual / guarded_reference - 1.0, min=0.0)
            value = value + self.guard_weight * excess.mean()
        return value
