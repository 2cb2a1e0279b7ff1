"""Signal processing on scipy: resampling, band-pass filters, ASDs and band figures."""

from .causal import (
    CAUSAL_WITNESS_PHASE,
    causal_bandpass,
    causal_impulse_response,
    causal_lead,
    witness_resampling_delay,
    witness_resampling_phase,
)
from .filters import (
    bandpass_sos,
    zero_phase_accuracy,
    zero_phase_bandpass,
    zero_phase_context,
    zero_phase_impulse_response,
)
from .resample import (
    MinimumPhaseResampler,
    StreamingResampler,
    resample,
    resampling_factors,
    resampling_filter,
    streaming_resampler,
)
from .spectra import (
    asd,
    band_asd_ratio,
    band_asd_ratio_of_psds,
    band_power,
    fraction_removed,
    out_of_band_ratios,
    out_of_band_ratios_of_psds,
    psd,
    residual_db,
    worst_out_of_band_ratio,
)

__all__ = [
    "CAUSAL_WITNESS_PHASE",
    "MinimumPhaseResampler",
    "StreamingResampler",
    "asd",
    "band_asd_ratio",
    "band_asd_ratio_of_psds",
    "band_power",
    "bandpass_sos",
    "causal_bandpass",
    "causal_impulse_response",
    "causal_lead",
    "fraction_removed",
    "out_of_band_ratios",
    "out_of_band_ratios_of_psds",
    "psd",
    "resample",
    "resampling_factors",
    "resampling_filter",
    "residual_db",
    "streaming_resampler",
    "witness_resampling_delay",
    "witness_resampling_phase",
    "worst_out_of_band_ratio",
    "zero_phase_accuracy",
    "zero_phase_bandpass",
    "zero_phase_context",
    "zero_phase_impulse_response",
]
