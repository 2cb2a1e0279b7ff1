"""The exporter service: check the configuration, prepare the repository, serve the API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import torch
import waitress
from jsonargparse.typing import NonNegativeInt, PositiveFloat, PositiveInt

from deepclean.config import ConfigError, from_keys
from deepclean.entry_point import configure_logging, hold_output, stop_on_signals
from deepclean.model_repository import Platform

from .app import create_app
from .auth import TokenError, load_token
from .exporter import Exporter
from .served_models import ServedModels
from .settings import DEFAULT_MODEL_NAME, ExportSettings, settings_per_model

log = logging.getLogger("deepclean_exporter")


def listen_address(exporter_url: str) -> tuple[str, int]:
    """Host and port to bind from ``exporter_url`` (``http://host:port``)."""
    parts = urlsplit(exporter_url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"exporter_url must look like http://127.0.0.1:5005, got {exporter_url!r}")
    return parts.hostname, parts.port


def main(
    model_repository: Path,
    training_root: Path,
    witness_channels: list[str],
    sample_rate: PositiveInt,
    model_names: list[str] = (DEFAULT_MODEL_NAME,),
    model_witness_channels: dict[str, list[str]] | None = None,
    exporter_url: str = "http://127.0.0.1:5005",
    exporter_token_file: Path | None = None,
    platform: Literal["python", "onnxruntime_onnx", "tensorrt_plan"] = "python",
    tensorrt: Literal["auto", "off"] = "auto",
    instance_kind: Literal["auto", "KIND_CPU", "KIND_GPU"] = "auto",
    instance_count: PositiveInt = 1,
    intra_op_threads: NonNegativeInt = 2,
    keep_versions: PositiveInt = 5,
    keep_rollback: NonNegativeInt = 3,
    onnx_opset: PositiveInt = 17,
    check_samples: PositiveInt = 4096,
    onnx_atol: PositiveFloat = 1e-5,
    onnx_rtol: PositiveFloat = 1e-4,
    max_body_bytes: PositiveInt = 4096,
    server_threads: PositiveInt = 4,
    torch_threads: PositiveInt = 1,
    log_dir: Path | None = None,
) -> None:
    """Serve the exporter API: training directories in, versions of a Triton model repository out.

    Parameters
    ----------
    model_repository
        Root of the Triton model repository.
    training_root
        Only training directories under this directory (after resolving links) are exported.
    witness_channels
        The configured witness channels; a training run must use exactly these, in this order
        (each model's own, for the models ``model_witness_channels`` names).
    sample_rate
        The working sample rate a training run must have used (Hz), for every model.
    model_names
        The served models: each one's directory (and Triton name) in the repository, and its API
        routes ``/models/<name>/...``; the first is also served on the un-prefixed routes.
    model_witness_channels
        Witness channels of the models trained on others than ``witness_channels`` (another
        detector's), e.g. ``{"deepclean-l1": ["L1:PEM-CS_MAINSMON_EBAY_1_DQ", ...]}``.
    exporter_url
        Where to listen, ``http://host:port``; keep the host 127.0.0.1 unless others must reach it.
    exporter_token_file
        File holding the bearer token of mutating calls (``$DEEPCLEAN_EXPORTER_TOKEN`` wins);
        created with a random token when neither exists.
    platform
        ``python`` (Triton python backend running the ONNX model; the server that installs here),
        ``onnxruntime_onnx`` or ``tensorrt_plan`` (NVIDIA's Triton container on a GPU node).
    tensorrt
        ``auto`` also builds an fp16 ``model.plan`` when TensorRT and a GPU are present.
    instance_kind
        Triton instance kind; ``auto`` is KIND_GPU for tensorrt_plan and KIND_CPU otherwise.
    instance_count
        Model instances per Triton server.
    intra_op_threads
        onnxruntime threads per instance of the python-backend model (0: onnxruntime decides).
    keep_versions
        Versions kept on disk besides the pinned ones and the rollback history.
    keep_rollback
        Past production versions kept for rollback.
    onnx_opset
        ONNX opset of the exported model.
    check_samples
        Witness samples of the random input used to compare ONNX with torch.
    onnx_atol, onnx_rtol
        The comparison accepts ``|onnx - torch| <= onnx_atol + onnx_rtol * max|torch|`` (the largest
        output of the same random input).
    max_body_bytes
        Larger request bodies are refused (413).
    server_threads
        Request threads of the WSGI server (waitress).
    torch_threads
        Threads torch may use for an export.
    log_dir
        Also log to ``<log_dir>/exporter.log``.
    """
    shared = from_keys(
        ExportSettings,
        locals(),
        model_name=DEFAULT_MODEL_NAME,
        witness_channels=tuple(witness_channels),
        platform=Platform(platform),
        instance_kind=None if instance_kind == "auto" else instance_kind,
    )
    try:
        per_model = settings_per_model(shared, model_names, model_witness_channels)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        host, port = listen_address(exporter_url)
    except ValueError as exc:
        raise ConfigError(f"key 'exporter_url': {exc}") from None
    configure_logging("exporter", log_dir=log_dir)
    try:
        token = load_token(exporter_token_file)
    except TokenError as exc:
        raise ConfigError(f"key 'exporter_token_file': {exc}") from None
    writer_lock = hold_output(model_repository, "exporter")  # two exporters must never publish into one model
    try:
        torch.set_num_threads(torch_threads)
        try:
            models = ServedModels(Exporter(settings) for settings in per_model.values())
        except RuntimeError as exc:
            raise ConfigError(f"key 'platform': {exc}") from None
        models.start()
        app = create_app(models, token, max_body_bytes)
        log.info(
            "serving models %s (default %r) of %s on http://%s:%d (platform %s, TensorRT plans %s)",
            list(models),
            models.default,
            model_repository,
            host,
            port,
            platform,
            "on" if models[models.default].build_plans else "off",
        )
        # waitress only guards memory; Flask's own, smaller limit answers an oversized body with JSON.
        body_limit = max_body_bytes + 65536
        with stop_on_signals("exporter", interrupt=True):  # waitress shuts down on the interrupt
            waitress.serve(app, host=host, port=port, threads=server_threads, max_request_body_size=body_limit)
    finally:
        writer_lock.release()
    log.info("stopped")
