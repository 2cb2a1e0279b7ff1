"""One place for every default: the signature's, restated by the configuration only for deployment facts."""

from pathlib import Path

from deepclean.config import drifted_defaults
from deepclean_trainer.main import main

CONFIG = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_the_configuration_restates_no_default_differently():
    """A key set in [tool.typeo.scripts.train] to another value than the signature's default has drifted."""
    assert drifted_defaults(main, "train", CONFIG) == {}
