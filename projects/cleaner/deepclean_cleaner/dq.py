"""Data-quality bits of the cleaned frames: the library's contract (``deepclean.cleaned_frames``)."""

from deepclean.cleaned_frames import (
    CANARY_SHIFT,
    CLEANED,
    INPUT_GAP,
    NARROWED,
    NO_MODEL,
    NOT_ANALYSIS_READY,
    SAFETY_FALLBACK,
)

__all__ = ["CANARY_SHIFT", "CLEANED", "INPUT_GAP", "NARROWED", "NO_MODEL", "NOT_ANALYSIS_READY", "SAFETY_FALLBACK"]
