"""The cleaned-frame contract (docs/interfaces.md, "Cleaned frames"): DQ bits and default channel names.

The cleaner writes these frames and the monitor, the benchmarks and users read
them; every side takes the bits and names from here. Production uses DQ bits
0-5, the canary the same meanings shifted by :data:`CANARY_SHIFT` (bits 8-13)::

    from deepclean.cleaned_frames import CLEANED, CANARY_SHIFT, default_channels

    # CleanedChannelNames(production="H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION", ...)
    channels = default_channels("H1")
    cleaned = bool(dq & CLEANED)           # production cleaned
    canary_cleaned = bool((dq >> CANARY_SHIFT) & CLEANED)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

CLEANED = 1 << 0
"""Cleaning applied (some noise estimate was subtracted)."""
SAFETY_FALLBACK = 1 << 1
"""Safety fallback: raw strain written in whole or in part (the gate's judgement failed, or the
subtraction fades out or back in, after a fallback or after seconds without an estimate)."""
NO_MODEL = 1 << 2
"""No model version usable for this stream (none pinned, unpinned, not loadable, or the inference
backend failing for it): raw strain written."""
INPUT_GAP = 1 << 3
"""Witness data missing or late (or the stream restarting after a gap): raw strain written; also the
samples of non-finite strain (written as they came, never flagged cleaned)."""
NOT_ANALYSIS_READY = 1 << 4
"""The state vector says the detector was not analysis ready."""
NARROWED = 1 << 5
"""Cleaned in the safety gate's narrowed band only: the estimate over the whole band could not be written
(its judgement failed, or it was held after a failure) and its narrowed part passed the same judgements, so
that part was subtracted (also the samples of a cross-fade to or from it)."""
CANARY_SHIFT = 8
"""The canary's bits are the production bits shifted left by this much."""
STREAM_BITS = CLEANED | SAFETY_FALLBACK | NO_MODEL | INPUT_GAP | NOT_ANALYSIS_READY | NARROWED
"""Every bit of one stream."""
NOT_MEASURABLE = NO_MODEL | INPUT_GAP | NOT_ANALYSIS_READY
"""Bits of a second that says nothing about the model (the monitor leaves it out of its figures)."""
FLAGS = STREAM_BITS & ~CLEANED
"""Bits that say why a second is not (wholly) cleaned."""

DQ_RATE = 16
"""Samples per second of the DQ and version channels."""
CLEANED_TAG = "DEEPCLEAN"
"""Default frame-type tag of the cleaned frames (``<site>-<ifo>_DEEPCLEAN-<gps>-1.gwf``)."""


@dataclass(frozen=True)
class CleanedChannelNames:
    """The channels of a cleaned frame."""

    production: str
    canary: str
    production_version: str
    canary_version: str
    dq: str


def default_strain_channel(ifo: str) -> str:
    """The calibrated strain channel of ``ifo`` that is cleaned (the raw side of every comparison)."""
    return f"{ifo}:GDS-CALIB_STRAIN"


def cleaned_channel_names(ifo: str, **overrides: str | None) -> CleanedChannelNames:
    """The default channel names of ``ifo`` with those ``overrides`` that are not None (by field name)."""
    unknown = set(overrides) - set(CleanedChannelNames.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown cleaned channel(s) {sorted(unknown)}")
    return replace(default_channels(ifo), **{k: v for k, v in overrides.items() if v is not None})


def configured_channel_names(settings: Mapping[str, Any]) -> CleanedChannelNames:
    """The channel names a service's configuration gives: the defaults of ``settings["ifo"]`` renamed
    by the keys ``production_channel``, ``canary_channel``, ``production_version_channel``,
    ``canary_version_channel`` and ``dq_channel`` that are set (absent or None: the default)."""
    renamed = {field: settings.get(f"{field}_channel") for field in CleanedChannelNames.__dataclass_fields__}
    return cleaned_channel_names(settings["ifo"], **renamed)


def default_channels(ifo: str) -> CleanedChannelNames:
    """The default channel names of ``ifo``'s cleaned frames."""
    return CleanedChannelNames(
        production=f"{ifo}:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION",
        canary=f"{ifo}:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY",
        production_version=f"{ifo}:DEEPCLEAN-PRODUCTION_VERSION",
        canary_version=f"{ifo}:DEEPCLEAN-CANARY_VERSION",
        dq=f"{ifo}:DEEPCLEAN-DQ",
    )
