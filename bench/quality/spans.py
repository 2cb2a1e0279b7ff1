"""The benchmark's data: a training span and a held-out test span from the synthetic detector.

The training span is written as live-style 1 s frames (what the trainer
reads, docs/interfaces.md) and, like the test span, saved as an ``.npz``
for the NOMAD environment (see ``nomad_runner.py``). The test span is
generated with ``margin`` extra seconds on each side so that every method's
filters are settled over the seconds that are measured.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepclean.synthetic import FrameLayout, SyntheticDetector, SyntheticSpan, write_span

READY_BITS = 0b11


def generate(detector: SyntheticDetector, start: int, duration: int) -> SyntheticSpan:
    """``duration`` seconds from GPS ``start``, generated in pieces of at most 256 s."""
    pieces = [detector.generate(t, min(256, start + duration - t)) for t in range(start, start + duration, 256)]
    return SyntheticSpan.concatenate(pieces)


def not_ready_seconds(span: SyntheticSpan) -> int:
    """Seconds of ``span`` that are not analysis ready for all of their state samples."""
    state = span.state.reshape(span.duration, -1)
    return int(np.sum(~np.all((state & READY_BITS) == READY_BITS, axis=1)))


def write_training_frames(span: SyntheticSpan, strain_dir: Path, witness_dir: Path) -> None:
    """Write ``span`` as the live-style strain and witness frames the trainer reads
    (seconds whose two frames already exist are left alone)."""
    layout = FrameLayout(strain_dir, witness_dir)
    for gps in range(span.start, span.end):
        if not (layout.strain_path(gps).exists() and layout.witness_path(gps).exists()):
            write_span(span.second(gps), layout)


def save_npz(span: SyntheticSpan, path: Path) -> Path:
    """Strain and witnesses (native rates) of ``span`` for ``nomad_runner.py``."""
    names = list(span.witnesses)
    np.savez(
        path,
        gps=span.start,
        strain=span.strain,
        strain_rate=span.strain_sample_rate,
        witness_names=np.array(names),
        witness_rates=np.array([span.witness_sample_rates[name] for name in names]),
        **{f"witness_{i}": span.witnesses[name] for i, name in enumerate(names)},
    )
    return path
