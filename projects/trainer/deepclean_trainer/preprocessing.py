"""From analysis-ready stretches to scaled network inputs and targets.

Every channel is resampled to the working rate; the target is the strain
band-passed to the band (the same zero-phase Butterworth filter the cleaner
applies to the prediction); witnesses are z-scored and the target is scaled,
with statistics taken from the training part only and saved in the metadata.
The most recent ``validation_fraction`` of the ready data is held out.
A few seconds at the ends of each stretch are dropped: the resampling and
band-pass filters ring there.

For the causal (low-latency) mode the strain and the target are moved ``lead``
samples earlier against the witnesses (:func:`deepclean.signal.causal_lead`):
sample ``n`` of a segment holds the witnesses at ``n`` and the strain at
``n + lead``, which is what the cleaner's causal chain asks of the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepclean.signal import bandpass_sos, resample, zero_phase_bandpass

from .dataset import SpanData


@dataclass
class Segment:
    """A stretch at the working rate: unscaled witnesses, strain and band-passed strain."""

    start: float  # GPS of the first sample
    sample_rate: int
    witnesses: np.ndarray  # (num_witnesses, time)
    strain: np.ndarray  # (time,)
    target: np.ndarray  # (time,) strain band-passed to the band the loss judges
    narrow_target: np.ndarray | None = None  # (time,) strain band-passed to the estimate's band; None: ``target``

    @property
    def num_samples(self) -> int:
        return self.strain.shape[-1]

    @property
    def estimate_band_target(self) -> np.ndarray:
        """The strain band-passed to the band the estimate is band-limited to. In the causal mode
        the loss's ``target`` is wider and most of its power is noise no witness explains, so
        fractions of it left say little about how well a fit follows the coupling."""
        return self.target if self.narrow_target is None else self.narrow_target


@dataclass
class Scaler:
    """Witness z-scores and target scaling, saved in metadata["scaler"]."""

    witness_mean: np.ndarray
    witness_std: np.ndarray
    target_mean: float
    target_std: float

    @classmethod
    def fit(cls, segments: list[Segment]) -> Scaler:
        witnesses = np.concatenate([s.witnesses for s in segments], axis=1)
        target = np.concatenate([s.target for s in segments])
        return cls(
            witness_mean=witnesses.mean(axis=1),
            witness_std=witnesses.std(axis=1),
            target_mean=float(target.mean()),
            target_std=float(target.std()),
        )

    def scale_witnesses(self, witnesses: np.ndarray) -> np.ndarray:
        return ((witnesses - self.witness_mean[:, None]) / self.witness_std[:, None]).astype(np.float32)

    def scale_target(self, target: np.ndarray) -> np.ndarray:
        return ((target - self.target_mean) / self.target_std).astype(np.float32)

    def unscale_prediction(self, prediction: np.ndarray) -> np.ndarray:
        return prediction.astype(np.float64) * self.target_std + self.target_mean

    def to_metadata(self) -> dict:
        return {
            "witness_mean": [float(v) for v in self.witness_mean],
            "witness_std": [float(v) for v in self.witness_std],
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }


@dataclass(frozen=True)
class Resampled:
    """One analysis-ready stretch at the working rate, before any band-pass or alignment."""

    start: float  # GPS of the first sample
    strain: np.ndarray  # (time,)
    witnesses: np.ndarray  # (num_witnesses, time)


def resample_stretches(
    span: SpanData, witness_channels: list[str], sample_rate: int, witness_phase: str = "linear"
) -> list[Resampled]:
    """Every stretch of ``span`` resampled to ``sample_rate``, the witnesses with the ``witness_phase``
    filter (:func:`deepclean.signal.witness_resampling_phase`: the cleaner's for the mode)."""
    return [
        Resampled(
            stretch.start,
            resample(stretch.strain, span.strain_rate, sample_rate),
            np.stack(
                [
                    resample(stretch.witnesses[c], span.witness_rates[c], sample_rate, phase=witness_phase)
                    for c in witness_channels
                ]
            ),
        )
        for stretch in span.stretches
    ]


def to_segments(
    span: SpanData,
    witness_channels: list[str],
    sample_rate: int,
    band: tuple[float, float],
    filter_order: int,
    edge_seconds: float,
    lead: int = 0,
    narrow_band: tuple[float, float] | None = None,
    witness_phase: str = "linear",
    resampled: list[Resampled] | None = None,
) -> list[Segment]:
    """Resample every stretch to ``sample_rate``, band-pass the strain, align it ``lead`` samples
    ahead of the witnesses and trim the ends.

    With ``narrow_band``, each segment's ``narrow_target`` is the strain band-passed to it as well.
    The witnesses are resampled with the ``witness_phase`` filter
    (:func:`deepclean.signal.witness_resampling_phase`: the cleaner's for the mode). ``resampled``:
    the stretches already resampled (:func:`resample_stretches`); the segments' witnesses are then
    views of its arrays, so segments for several bands share them.
    """
    if resampled is None:
        resampled = resample_stretches(span, witness_channels, sample_rate, witness_phase)
    sos = bandpass_sos(band, sample_rate, filter_order)
    narrow_sos = None if narrow_band is None else bandpass_sos(narrow_band, sample_rate, filter_order)
    edge = round(edge_seconds * sample_rate)
    segments = []
    for stretch in resampled:
        strain, witnesses = stretch.strain, stretch.witnesses
        target = zero_phase_bandpass(strain, sos)
        narrow = None if narrow_sos is None else zero_phase_bandpass(strain, narrow_sos)
        if lead:
            witnesses, strain, target = witnesses[:, :-lead], strain[lead:], target[lead:]
            narrow = None if narrow is None else narrow[lead:]
        if strain.size <= 2 * edge:
            continue
        keep = slice(edge, strain.size - edge)
        segments.append(
            Segment(
                start=stretch.start + edge / sample_rate,
                sample_rate=sample_rate,
                witnesses=witnesses[:, keep],
                strain=strain[keep],
                target=target[keep],
                narrow_target=None if narrow is None else narrow[keep],
            )
        )
    return segments


def split_validation(segments: list[Segment], fraction: float, multiple: int) -> tuple[list[Segment], list[Segment]]:
    """Hold out the most recent ``fraction`` of the samples (rounded to ``multiple``).

    Returns (training, validation); the segment that straddles the split is
    cut in two.
    """
    total = sum(s.num_samples for s in segments)
    held_out = int(total * fraction) // multiple * multiple
    if held_out <= 0 or held_out >= total:
        raise ValueError(f"a validation fraction of {fraction} leaves no training or no validation data")
    training, validation, remaining = [], [], held_out
    for segment in reversed(segments):
        if remaining <= 0:
            training.append(segment)
        elif segment.num_samples <= remaining:
            validation.append(segment)
            remaining -= segment.num_samples
        else:
            cut = segment.num_samples - remaining
            training.append(_slice(segment, 0, cut))
            validation.append(_slice(segment, cut, segment.num_samples))
            remaining = 0
    return training[::-1], validation[::-1]


def _slice(segment: Segment, begin: int, end: int) -> Segment:
    return Segment(
        start=segment.start + begin / segment.sample_rate,
        sample_rate=segment.sample_rate,
        witnesses=segment.witnesses[:, begin:end],
        strain=segment.strain[begin:end],
        target=segment.target[begin:end],
        narrow_target=None if segment.narrow_target is None else segment.narrow_target[begin:end],
    )
