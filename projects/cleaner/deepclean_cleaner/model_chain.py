"""The stages one model version runs: network -> un-scale/band-pass -> upsample.

A chain is built for each loaded version from its metadata (channels and
their order, scaler, filter, network kernel, latency mode and lead) and the
cleaner's settings. The band-pass is zero phase (:class:`NoiseFilter`) or, in
the causal mode, forward only (:class:`CausalNoiseFilter`) behind a network
whose output is stamped ``lead`` samples later; a version runs only in the
latency mode it was trained for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepclean.model_repository import TrainingMetadata
from deepclean.model_repository.training_metadata import LatencyMode
from deepclean.network_reach import architecture_context
from deepclean.signal import bandpass_sos, witness_resampling_phase

from .buffers import Block, Gap
from .network import DEFAULT_WIDTHS, NoisePredictor, StreamedNetwork
from .noise_filter import CausalNoiseFilter, NoiseFilter, design_bandpass
from .resampling import BlockResampler

log = logging.getLogger(__name__)


class IncompatibleModelError(ValueError):
    """A model version's metadata does not fit the cleaner's configuration."""


@dataclass(frozen=True)
class LoadedModel:
    """A model version ready to run: its number, metadata (the JSON object of its metadata.json) and predictor."""

    version: int
    metadata: dict[str, Any]
    predictor: NoisePredictor


@dataclass(frozen=True)
class ChainSettings:
    """The cleaner's side of a chain: channels, rates, band-pass context (seconds) and latency mode.

    ``bandpass_lookahead`` applies to the zero-phase mode only; ``bandpass_history`` is the
    settling time of either band-pass after a restart. ``narrowed_band`` (Hz; None: none): in the
    zero-phase mode the chain also band-passes the network's output to this band, with the same
    filter order and look-ahead, for the safety gate to write when the whole estimate adds noise
    (a causal filter of another band would change the phase the version learned, so causal chains
    make none; nor does a version whose own filter band does not hold this band).
    """

    witness_channels: tuple[str, ...]
    sample_rate: int
    strain_sample_rate: int
    bandpass_history: float
    bandpass_lookahead: float
    latency_mode: str = LatencyMode.ZERO_PHASE.value
    narrowed_band: tuple[float, float] | None = None

    @property
    def witness_resampling(self) -> str:
        """Phase of the witnesses' resampling filter (:func:`deepclean.signal.witness_resampling_phase`)."""
        return witness_resampling_phase(self.latency_mode == LatencyMode.CAUSAL.value)


class ModelChain:
    """Witness blocks (working rate, configured channel order) in; noise at the strain rate out."""

    def __init__(self, model: LoadedModel, settings: ChainSettings) -> None:
        where = f"model version {model.version}"
        meta = TrainingMetadata.from_json(model.metadata, where)  # raises MetadataError naming the key
        if int(meta.sample_rate) != settings.sample_rate:
            raise IncompatibleModelError(
                f"{where}: sample_rate {meta.sample_rate} differs from the configured {settings.sample_rate}"
            )
        if int(meta.strain_sample_rate) != settings.strain_sample_rate:
            raise IncompatibleModelError(
                f"{where}: strain_sample_rate {meta.strain_sample_rate} differs from the configured "
                f"{settings.strain_sample_rate}"
            )
        if meta.latency_mode.value != settings.latency_mode:
            raise IncompatibleModelError(
                f"{where}: 'latency.mode' is {meta.latency_mode.value!r}, but the cleaner runs latency_mode "
                f"{settings.latency_mode!r} (a version runs only in the mode it was trained for)"
            )
        if meta.witness_resampling != settings.witness_resampling:
            raise IncompatibleModelError(
                f"{where}: 'latency.witness_resampling' is {meta.witness_resampling!r}, but the cleaner resamples "
                f"witnesses with the {settings.witness_resampling!r}-phase filter in latency_mode "
                f"{settings.latency_mode!r} (the network learned its own filter's phase response: retrain it)"
            )
        unknown = [c for c in meta.witness_channels if c not in settings.witness_channels]
        if unknown:
            raise IncompatibleModelError(
                f"{where}: witness channels {unknown} are not in the configured witness_channels"
            )
        self.description = (
            f"trained on GPS {meta.span.start}-{meta.span.end}, its estimate band-passed to "
            f"{meta.filter.band[0]:g}-{meta.filter.band[1]:g} Hz ({meta.latency_mode.value})"
        )
        scaler = meta.scaler
        kwargs = meta.architecture.kwargs
        levels = len(kwargs.get("widths", DEFAULT_WIDTHS))
        self.model = model
        self.network = StreamedNetwork(
            predictor=model.predictor,
            channel_index=np.array([settings.witness_channels.index(c) for c in meta.witness_channels]),
            witness_mean=np.asarray(scaler.witness_mean, dtype=np.float64),
            witness_std=np.asarray(scaler.witness_std, dtype=np.float64),
            context=architecture_context(kwargs),
            stride=2**levels,
            lead=meta.lead,
        )
        rate = settings.sample_rate
        filter_settings = {
            "sos": design_bandpass(meta.filter, rate),
            "target_mean": float(scaler.target_mean),
            "target_std": float(scaler.target_std),
            "history": round(settings.bandpass_history * rate),
        }
        self.narrowed_filter = None
        if meta.latency_mode is LatencyMode.CAUSAL:
            self.noise_filter = CausalNoiseFilter(**filter_settings)
        else:
            lookahead = round(settings.bandpass_lookahead * rate)
            self.noise_filter = NoiseFilter(**filter_settings, lookahead=lookahead)
            narrowed = settings.narrowed_band
            if narrowed is not None and meta.filter.band[0] < narrowed[0] < narrowed[1] < meta.filter.band[1]:
                narrowed_sos = bandpass_sos(narrowed, rate, order=meta.filter.order)
                self.narrowed_filter = NoiseFilter(**{**filter_settings, "sos": narrowed_sos}, lookahead=lookahead)
            elif narrowed is not None:
                log.info(
                    "%s: its filter band %s Hz does not hold the narrowed band %s Hz: no narrowed estimate",
                    where,
                    list(meta.filter.band),
                    list(narrowed),
                )
        self.upsampler = BlockResampler(rate, settings.strain_sample_rate)

    @property
    def version(self) -> int:
        return self.model.version

    @property
    def delay(self) -> float:
        """Seconds the chain's output lags its input (negative: a causal version's output leads it)."""
        rate = self.noise_filter_rate
        return (
            self.network.context - self.network.lead + self.noise_filter.lookahead
        ) / rate + self.upsampler.delay / self.upsampler.output_rate

    @property
    def causal(self) -> bool:
        """Whether the chain runs a version trained for the causal (low-latency) mode."""
        return isinstance(self.noise_filter, CausalNoiseFilter)

    @property
    def noise_filter_rate(self) -> int:
        return self.upsampler.input_rate

    def reset(self) -> None:
        self.network.reset()
        self.noise_filter.reset()
        if self.narrowed_filter is not None:
            self.narrowed_filter.reset()
        self.upsampler.reset()

    def process(self, item: Block | Gap) -> Block | Gap | None:
        """Noise at the strain rate for the stretch ``delay`` behind ``item``; ``None`` while priming.

        With a narrowed band the block holds two rows: the whole estimate and the narrowed one.
        """
        item = self.network.process(item)
        if item is None:
            return None
        whole = self.noise_filter.process(item)
        if self.narrowed_filter is not None:
            narrowed = self.narrowed_filter.process(item)  # the same look-ahead: None exactly when whole is
            if isinstance(whole, Block):
                whole = Block(whole.start, whole.rate, np.stack([whole.data, narrowed.data]))
        if whole is None:
            return None
        return self.upsampler.process(whole)
