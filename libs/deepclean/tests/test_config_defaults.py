"""drifted_defaults: a default kept in the signature and in the configuration must agree."""

from pathlib import Path

from deepclean.config import drifted_defaults


def example(rate: int = 4, threads: int = 1, log_dir: Path | None = None, witness_channels: list[str] | None = None):
    """A service function."""


def test_a_restated_default_that_disagrees_is_reported_and_deployment_facts_are_not(tmp_path):
    config = tmp_path / "pyproject.toml"
    config.write_text(
        "[tool.typeo.base]\nwitness_channels = ['A']\n[tool.typeo.scripts.example]\n"
        "rate = 8\nthreads = 1\nlog_dir = 'logs'\nwitness_channels = '${base.witness_channels}'\n"
    )
    assert drifted_defaults(example, "example", config) == {"rate": (4, 8)}
