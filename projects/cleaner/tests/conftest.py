"""Test fixtures: small model repositories and synthetic input frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deepclean.architecture import DeepClean
from deepclean.frames import write_frame
from deepclean_cleaner.model_chain import ChainSettings

WITNESSES = [
    "H1:PEM-CS_MAINSMON_EBAY_1_DQ",
    "H1:ASC-INP1_P_OUT_DQ",
    "H1:ASC-INP1_Y_OUT_DQ",
    "H1:ASC-MICH_P_OUT_DQ",
]
WITNESS_RATES = {
    WITNESSES[0]: 1024,
    WITNESSES[1]: 256,
    WITNESSES[2]: 512,
    WITNESSES[3]: 2048,
}
STRAIN = "H1:GDS-CALIB_STRAIN"
STATE = "H1:GDS-CALIB_STATE_VECTOR"
STRAIN_RATE = 16384
RATE = 4096
BAND = (58.0, 62.0)


def settings(lookahead: float = 0.85, history: float = 2.0) -> ChainSettings:
    """Chain settings for the test channels."""
    return ChainSettings(tuple(WITNESSES), RATE, STRAIN_RATE, history, lookahead)


def export_model(
    directory: Path,
    seed: int,
    channels: list[str] = WITNESSES,
    target_std: float = 1e-21,
    **architecture,
) -> None:
    """Write a random DeepClean (``architecture``: extra constructor arguments) as a published version."""
    torch.manual_seed(seed)
    network = DeepClean(len(channels), **architecture).eval()
    directory.mkdir(parents=True)
    example = torch.randn(1, len(channels), 1024)
    torch.onnx.export(
        network,
        (example,),
        str(directory / "model.onnx"),
        input_names=["witness"],
        output_names=["noise"],
        dynamic_axes={
            "witness": {0: "batch", 2: "time"},
            "noise": {0: "batch", 1: "time"},
        },
        dynamo=False,
    )
    metadata = {
        "ifo": "H1",
        "strain_channel": STRAIN,
        "witness_channels": list(channels),
        "witness_sample_rates": {c: WITNESS_RATES[c] for c in channels},
        "sample_rate": RATE,
        "strain_sample_rate": STRAIN_RATE,
        "band": list(BAND),
        "filter": {"kind": "butter-sos-zero-phase", "order": 8, "band": list(BAND)},
        "scaler": {
            "witness_mean": [0.0] * len(channels),
            "witness_std": [1.0] * len(channels),
            "target_mean": 0.0,
            "target_std": target_std,
        },
        "architecture": {
            "name": "DeepClean",
            "kwargs": {
                "num_witnesses": len(channels),
                "kernel_size": 7,
                **architecture,
            },
        },
        "span": {"start": 0, "end": 1},
        "validation": {"loss": 1.0, "band_asd_ratio": 1.0},
        "library_version": "0.1.0",
        "training_seconds": 0.0,
        "created": "2026-11-29T10:00:00Z",
        "version": int(directory.name),
        "source": "test",
    }
    (directory / "metadata.json").write_text(json.dumps(metadata))


def set_pins(model_dir: Path, production: int | None, canary: int | None) -> None:
    """Replace pins.json atomically."""
    tmp = model_dir / ".pins.tmp"
    tmp.write_text(
        json.dumps(
            {
                "production": production,
                "canary": canary,
                "history": [production] if production else [],
            }
        )
    )
    tmp.replace(model_dir / "pins.json")


@pytest.fixture(scope="session")
def repository(tmp_path_factory) -> Path:
    """A model repository with versions 1 and 2 (production 1, canary 2)."""
    root = tmp_path_factory.mktemp("model-repo")
    model_dir = root / "deepclean"
    for version in (1, 2):
        export_model(model_dir / str(version), seed=version)
    set_pins(model_dir, 1, 2)
    return root


def synthetic_input(start: int, duration: int, seed: int = 0) -> dict:
    """Strain (white noise plus a 60 Hz line modulated by a witness) and witnesses at native rates."""
    rng = np.random.default_rng(seed)
    t = np.arange(duration * STRAIN_RATE) / STRAIN_RATE + start
    mains = np.sin(2 * np.pi * 60.0 * t)
    witnesses = {}
    for channel, rate in WITNESS_RATES.items():
        witnesses[channel] = rng.normal(size=duration * rate)
    witnesses[WITNESSES[0]] = mains[:: STRAIN_RATE // 1024] + 0.01 * rng.normal(size=duration * 1024)
    strain = 1e-22 * rng.normal(size=t.size) + 1e-21 * mains
    state = np.full(duration * 16, 3, dtype=np.int32)
    return {"strain": strain, "state": state, "witnesses": witnesses}


def write_input(
    directory: Path,
    start: int,
    duration: int,
    seed: int = 0,
    skip_strain=(),
    skip_witness=(),
    nan_witness=(),
    nan_strain=(),
) -> None:
    """Write strain and witness frames for ``[start, start + duration)`` under ``directory``.

    Seconds in ``nan_witness`` get a NaN in their first witness channel; seconds in
    ``nan_strain`` get 0.1 s of NaN strain from 0.5 s into the second.
    """
    data = synthetic_input(start, duration, seed)
    for gps in nan_strain:
        first = (gps - start) * STRAIN_RATE + STRAIN_RATE // 2
        data["strain"][first : first + STRAIN_RATE // 10] = np.nan
    for gps in nan_witness:
        data["witnesses"][WITNESSES[0]][(gps - start) * WITNESS_RATES[WITNESSES[0]]] = np.nan
    for i in range(duration):
        gps = start + i
        if gps not in skip_strain:
            write_frame(
                directory / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf",
                {
                    STRAIN: data["strain"][i * STRAIN_RATE : (i + 1) * STRAIN_RATE],
                    STATE: data["state"][i * 16 : (i + 1) * 16],
                },
                t0=gps,
            )
        if gps not in skip_witness:
            write_frame(
                directory / "lldetchar" / f"H-H1_lldetchar-{gps}-1.gwf",
                {c: x[i * WITNESS_RATES[c] : (i + 1) * WITNESS_RATES[c]] for c, x in data["witnesses"].items()},
                t0=gps,
            )
