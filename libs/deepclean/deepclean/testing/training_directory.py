"""Training directories as the trainer leaves them (docs/interfaces.md, "Training directory").

A test or benchmark that needs something to export writes one with random
weights::

    metadata = training_metadata({"H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024}, {"kernel_size": 7})
    write_training_dir(root / "run-1", metadata, seed=1)   # weights.pt and metadata.json
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..model_repository import METADATA_FILENAME, write_training_metadata
from ..model_repository import training_metadata as schema

WEIGHTS_FILENAME = "weights.pt"
STRAIN_CHANNEL = "H1:GDS-CALIB_STRAIN"
TRAINING_SPAN = (1400000000, 1400001024)


def training_metadata(
    witness_rates: Mapping[str, int],
    architecture: Mapping[str, Any] | None = None,
    *,
    sample_rate: int = 4096,
    band: tuple[float, float] = (58.0, 62.0),
    filter_band: tuple[float, float] | None = None,
    target_std: float = 1e-21,
) -> dict[str, Any]:
    """The metadata of a training run on ``witness_rates`` (channel -> native rate, in order).

    Parameters
    ----------
    witness_rates
        The witness channels the network takes, in input order, with their native sample rates.
    architecture
        Keyword arguments of :class:`deepclean.architecture.DeepClean` besides ``num_witnesses``
        (which is the number of channels unless given).
    sample_rate
        Rate (Hz) the network runs at.
    band
        Where the cleaning is judged.
    filter_band
        Pass band of the filter applied to the prediction; ``band`` unless given.
    target_std
        The strain scale: a prediction ``p`` is ``p * target_std`` in strain.

    Returns
    -------
    dict
        :meth:`TrainingMetadata.to_json` of every key of the contract (a dict, so that a test can
        spoil it); the scaler is the identity on the witnesses.
    """
    channels = list(witness_rates)
    return schema.TrainingMetadata(
        ifo="H1",
        strain_channel=STRAIN_CHANNEL,
        witness_channels=tuple(channels),
        witness_sample_rates=dict(witness_rates),
        sample_rate=sample_rate,
        strain_sample_rate=16384,
        band=band,
        filter=schema.FilterSpec(schema.FilterKind.BUTTER_SOS_ZERO_PHASE, 8, filter_band or band),
        scaler=schema.ScalerParameters((0.0,) * len(channels), (1.0,) * len(channels), 0.0, target_std),
        architecture=schema.ArchitectureSpec("DeepClean", {"num_witnesses": len(channels), **(architecture or {})}),
        span=schema.TrainingSpan(*TRAINING_SPAN),
        validation=schema.ValidationFigures(loss=0.05, band_asd_ratio=0.2),
        library_version="0.1.0",
        training_seconds=1.0,
        created="2026-11-29T10:00:00Z",
    ).to_json()


def write_training_dir(directory: Path, metadata: dict[str, Any], seed: int = 0) -> Path:
    """Write ``directory`` with random weights of the network ``metadata`` describes; returns it.

    Parameters
    ----------
    directory
        The training directory; it must not exist yet.
    metadata
        What :func:`training_metadata` returns, possibly changed; it is checked as readers check it
        (:class:`~deepclean.model_repository.TrainingMetadata`).
    seed
        Seed of torch's generator for the weights.
    """
    import torch

    from ..architecture import DeepClean

    checked = schema.TrainingMetadata.from_json(metadata, directory / METADATA_FILENAME)
    torch.manual_seed(seed)
    network = DeepClean(**checked.architecture.kwargs)
    directory.mkdir(parents=True)
    torch.save(network.state_dict(), directory / WEIGHTS_FILENAME)
    write_training_metadata(directory / METADATA_FILENAME, checked)
    return directory
