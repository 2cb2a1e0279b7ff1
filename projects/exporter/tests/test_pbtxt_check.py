"""Tests that the generated config.pbtxt is Triton's ModelConfig (tritonclient's protobuf definitions)."""

from __future__ import annotations

import pytest
from tritonclient.grpc import model_config_pb2

from deepclean.model_repository import Pins, Platform, TritonModelConfig, policy_versions
from deepclean_exporter.pbtxt_check import ConfigTextError, parse_model_config


@pytest.mark.parametrize("platform", list(Platform))
def test_rendered_config_parses_with_the_expected_fields(platform: Platform) -> None:
    """Every platform's config parses; names, types, shapes and the version policy survive."""
    versions = policy_versions([1, 2, 3, 4], Pins(production=2, canary=3))
    config = TritonModelConfig("deepclean", platform, 21, tuple(versions), intra_op_threads=2)
    parsed = parse_model_config(config.render())
    assert parsed.name == "deepclean"
    if platform is Platform.PYTHON:
        assert parsed.backend == "python"
        assert parsed.parameters["intra_op_num_threads"].string_value == "2"
    else:
        assert parsed.platform == platform.value
    assert parsed.max_batch_size == 0
    (witness,) = parsed.input
    assert (witness.name, list(witness.dims)) == ("witness", [-1, 21, -1])
    assert witness.data_type == model_config_pb2.TYPE_FP32
    (noise,) = parsed.output
    assert (noise.name, list(noise.dims)) == ("noise", [-1, -1])
    assert list(parsed.version_policy.specific.versions) == [2, 3, 4]
    expected_kind = "KIND_GPU" if platform is Platform.TENSORRT else "KIND_CPU"
    assert parsed.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.Kind.Value(expected_kind)


def test_text_that_is_not_a_model_config_is_refused() -> None:
    """An unknown field or a syntax error raises ConfigTextError."""
    with pytest.raises(ConfigTextError, match="does not parse"):
        parse_model_config('name: "x"\nnot_a_field: 3\n')
    with pytest.raises(ConfigTextError, match="does not parse"):
        parse_model_config("input [ { name: ")
