"""Where the synthetic detector's frames are, as the frame readers of the services are told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..synthetic import DetectorConfig, FrameLayout


def synthetic_frame_source(data: Path) -> dict[str, Any]:
    """Keyword arguments naming the frames the synthetic detector writes under ``data``.

    The directories (``data/llhoft``, ``data/lldetchar``), the site, IFO and
    tags of the file names and the strain and state-vector channels: what the
    trainer's ``FrameSource`` and the cleaner's ``main`` take besides the
    witness channels and rates.
    """
    layout = FrameLayout(data / "llhoft", data / "lldetchar")
    detector = DetectorConfig()
    return {
        "strain_dir": layout.strain_dir,
        "witness_dir": layout.witness_dir,
        "site": layout.site,
        "ifo": layout.ifo,
        "strain_tag": layout.strain_tag,
        "witness_tag": layout.witness_tag,
        "strain_channel": detector.strain_channel,
        "state_channel": detector.state_channel,
    }
