"""Test fixtures: small model repositories and synthetic input frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from deepclean.frames import write_frame
from deepclean.signal import CAUSAL_WITNESS_PHASE, causal_lead
from deepclean.testing.model_versions import pin_versions, publish_version, write_random_network
from deepclean.testing.training_directory import training_metadata
from deepclean_cleaner.model_chain import ChainSettings
from deepclean_cleaner.network import streaming_context

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
LEAD = causal_lead(WITNESS_RATES.values(), RATE, STRAIN_RATE, streaming_context(7), 16)
"""The causal versions' lead: the test channels' witness delay past the network's context."""


def settings(lookahead: float = 0.85, history: float = 2.0) -> ChainSettings:
    """Chain settings for the test channels."""
    return ChainSettings(tuple(WITNESSES), RATE, STRAIN_RATE, history, lookahead)


def causal_settings() -> ChainSettings:
    """:func:`settings` for the causal (low-latency) mode."""
    return dataclasses.replace(settings(), latency_mode="causal")


def export_model(
    directory: Path,
    seed: int,
    channels: list[str] = WITNESSES,
    target_std: float = 1e-21,
    **architecture,
) -> None:
    """Publish a random DeepClean (``architecture``: extra constructor arguments) as the version ``directory``."""
    metadata = training_metadata(
        {c: WITNESS_RATES[c] for c in channels},
        {"kernel_size": 7, **architecture},
        sample_rate=RATE,
        band=BAND,
        target_std=target_std,
    )
    publish_version(
        directory.parent,
        int(directory.name),
        metadata,
        lambda staged: write_random_network(staged, len(channels), seed, **architecture),
    )


@pytest.fixture(scope="session")
def repository(tmp_path_factory) -> Path:
    """A model repository with versions 1 and 2 (production 1, canary 2)."""
    root = tmp_path_factory.mktemp("model-repo")
    model_dir = root / "deepclean"
    for version in (1, 2):
        export_model(model_dir / str(version), seed=version)
    pin_versions(model_dir, 1, 2)
    return root


@pytest.fixture(scope="session")
def causal_repository(tmp_path_factory) -> Path:
    """Versions 1 and 2 trained (random weights) for the causal mode with the lead of the test channels."""
    root = tmp_path_factory.mktemp("causal-repo")
    metadata = training_metadata(WITNESS_RATES, {"kernel_size": 7}, sample_rate=RATE, band=BAND)
    metadata["filter"]["kind"] = "butter-sos-causal"
    metadata["latency"] = {"mode": "causal", "lead": LEAD, "witness_resampling": CAUSAL_WITNESS_PHASE}
    for version in (1, 2):
        publish_version(
            root / "deepclean",
            version,
            metadata,
            lambda staged, seed=version: write_random_network(staged, len(WITNESSES), seed),
        )
    pin_versions(root / "deepclean", 1, 2)
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
