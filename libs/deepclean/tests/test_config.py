"""Configuration: pyproject tables, interpolation, profiles, overrides and errors."""

from pathlib import Path
from typing import Literal

import pytest
from jsonargparse.typing import PositiveInt

from deepclean.config import ConfigError, load_table, parse_config, run_cli
from deepclean.testing.config_files import write_config

CONFIG = """
[tool.typeo.base]
run_dir = "run"
sample_rate = 4096
channels = ["H1:A", "H1:B"]

[tool.typeo.scripts.train]
run_dir = "${base.run_dir}/training"
sample_rate = "${base.sample_rate}"
channels = "${base.channels}"
lr = 0.01

[tool.typeo.profiles.cpu.train]
lr = 0.1
"""


def train(
    run_dir: Path,
    sample_rate: PositiveInt,
    channels: list[str],
    lr: float = 1e-3,
    device: Literal["cpu", "cuda"] = "cpu",
):
    """Train."""
    return dict(run_dir=run_dir, sample_rate=sample_rate, channels=channels, lr=lr, device=device)


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path, CONFIG)


def test_base_references_keep_their_type(config):
    """${base.key} alone gives the base value itself (list, int); inside a string it is substituted."""
    table = load_table("train", config)
    assert table["sample_rate"] == 4096
    assert table["channels"] == ["H1:A", "H1:B"]
    assert table["run_dir"] == "run/training"


def test_relative_paths_are_relative_to_the_file(config):
    """A relative path in the file is anchored at the file's directory."""
    values = parse_config(train, "train", ["--config", str(config)])
    assert values["run_dir"] == config.parent / "run" / "training"
    assert values["lr"] == 0.01


def test_command_line_overrides_and_profile(config):
    """The profile overlays the table and the command line overrides both."""
    assert parse_config(train, "train", ["--config", str(config), "--profile", "cpu"])["lr"] == 0.1
    values = parse_config(train, "train", ["--config", str(config), "--profile", "cpu", "--lr", "0.5"])
    assert values["lr"] == 0.5


@pytest.mark.parametrize(
    "argv, key",
    [
        (["--sample_rate", "-3"], "sample_rate"),
        (["--sample_rate", "fast"], "sample_rate"),
        (["--device", "tpu"], "device"),
        (["--lr", "abc"], "lr"),
    ],
)
def test_bad_values_stop_with_the_key_named(config, capsys, argv, key):
    """A mistyped or out-of-range value exits at start-up naming the key."""
    with pytest.raises(SystemExit) as exc:
        parse_config(train, "train", ["--config", str(config), *argv])
    assert exc.value.code != 0
    assert key in capsys.readouterr().err


def test_missing_value_names_the_key(tmp_path, capsys):
    """A required value that is nowhere stops with the key named."""
    path = write_config(tmp_path, '[tool.typeo.scripts.train]\nrun_dir = "x"\nchannels = ["a"]\n')
    with pytest.raises(SystemExit):
        parse_config(train, "train", ["--config", str(path)])
    assert "sample_rate" in capsys.readouterr().err


def test_unknown_key_and_unknown_reference(tmp_path):
    """Keys the service does not take and references to absent base keys are errors naming them."""
    path = write_config(tmp_path, "[tool.typeo.base]\n[tool.typeo.scripts.train]\nsample_rte = 3\n")
    with pytest.raises(ConfigError, match="sample_rte"):
        parse_config(train, "train", ["--config", str(path)])
    path.write_text('[tool.typeo.base]\n[tool.typeo.scripts.train]\nsample_rate = "${base.rate}"\n')
    with pytest.raises(ConfigError, match="base.rate"):
        load_table("train", path)


def test_run_cli_reports_configuration_errors(tmp_path, capsys):
    """run_cli exits 2 with a one-line message for a configuration error."""
    path = write_config(tmp_path, "[tool.typeo.base]\n")
    with pytest.raises(SystemExit) as exc:
        run_cli(train, "train", ["--config", str(path)])
    assert exc.value.code == 2
    assert "no [tool.typeo.scripts.train] table" in capsys.readouterr().err


def test_project_configuration_loads():
    """The project's own pyproject.toml has every service table and they resolve."""
    root = Path(__file__).resolve().parents[3]
    for script in ("suite", "detector"):
        table = load_table(script, root / "pyproject.toml")
        assert all("${" not in str(value) for value in table.values())
