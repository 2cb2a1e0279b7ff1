"""Data-quality bits of the cleaned frames (docs/interfaces.md).

Production uses bits 0-4; the canary the same meanings shifted by
:data:`CANARY_SHIFT` (bits 8-12).
"""

CLEANED = 1 << 0
"""Cleaning applied (some noise estimate was subtracted)."""
SAFETY_FALLBACK = 1 << 1
"""Safety fallback: cleaning would have raised the ASD, raw strain written (tapered)."""
NO_MODEL = 1 << 2
"""No model version available for this slot: raw strain written."""
INPUT_GAP = 1 << 3
"""Witness data missing or late (or the stream restarting after a gap): raw strain written; also the
samples of non-finite strain (written as they came, never flagged cleaned)."""
NOT_ANALYSIS_READY = 1 << 4
"""The state vector says the detector was not analysis ready."""
CANARY_SHIFT = 8
