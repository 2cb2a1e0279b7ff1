"""Checking config.pbtxt text against Triton's own protobuf definitions (bundled in tritonclient)."""

from __future__ import annotations

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2


class ConfigTextError(ValueError):
    """The config text does not parse as Triton's ModelConfig."""


def parse_model_config(text: str) -> model_config_pb2.ModelConfig:
    """Parse ``text`` as a Triton ``ModelConfig``; raises :class:`ConfigTextError`."""
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise ConfigTextError(f"config.pbtxt does not parse as Triton's ModelConfig: {exc}") from exc
