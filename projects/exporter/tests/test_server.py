"""Tests of concurrency over the real WSGI server (waitress) and of the deepclean-export command.

The API's behaviour over waitress is covered by test_app.py, whose client fixture runs every test
through both Flask's test client and the real server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from conftest import AUTH, CHANNELS, write_training_dir

from deepclean_exporter.pbtxt_check import parse_model_config


def test_concurrent_exports_get_distinct_versions(server, exporter, make_training_dir) -> None:
    """Three exports posted at once become versions 1-3, each complete, the newest the canary."""
    for index in range(3):
        make_training_dir(f"run-{index}", seed=index)

    def post(index: int) -> int:
        response = requests.post(f"{server}/export", json={"training_dir": f"run-{index}"}, headers=AUTH, timeout=120)
        assert response.status_code == 201, response.text
        return response.json()["version"]

    with ThreadPoolExecutor(3) as pool:
        versions = list(pool.map(post, range(3)))
    assert sorted(versions) == [1, 2, 3]
    assert exporter.model.versions() == [1, 2, 3]
    sources = {Path(exporter.model.metadata(v)["source"]).name for v in versions}
    assert sources == {f"run-{i}" for i in range(3)}
    assert exporter.pins().canary == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"deepclean-export exited with {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"deepclean-export not healthy after {timeout} s")


def test_command_serves_from_the_configuration_file(tmp_path: Path) -> None:
    """deepclean-export reads its table, generates a token file, binds 127.0.0.1 and exports."""
    root = Path(__file__).resolve().parents[3]
    training_root = tmp_path / "training"
    write_training_dir(training_root, "run-1", channels=CHANNELS)
    token_file = tmp_path / "exporter.token"
    url = f"http://127.0.0.1:{_free_port()}"
    command = [
        sys.executable, "-m", "deepclean_exporter",
        "--config", str(root / "pyproject.toml"),
        "--model_repository", str(tmp_path / "repo"),
        "--training_root", str(training_root),
        "--witness_channels", f"[{','.join(CHANNELS)}]",
        "--model_names", "[deepclean]",  # one model, whatever detectors the configuration lists
        "--model_witness_channels", "null",
        "--exporter_url", url,
        "--exporter_token_file", str(token_file),
        "--log_dir", str(tmp_path / "logs"),
        "--check_samples", "512",
        "--sample_rate", "4096",  # the rate the test's training directory was made at
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "DEEPCLEAN_EXPORTER_TOKEN"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(url, process)
        token = token_file.read_text().strip()
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        headers = {"Authorization": f"Bearer {token}"}
        response = requests.post(f"{url}/export", json={"training_dir": "run-1"}, headers=headers, timeout=60)
        assert (response.status_code, response.json()) == (201, {"version": 1, "created": True})
    finally:
        process.terminate()
        process.wait(timeout=20)
    config = parse_model_config((tmp_path / "repo" / "deepclean" / "config.pbtxt").read_text())
    assert list(config.version_policy.specific.versions) == [1]
    log = (tmp_path / "logs" / "exporter.log").read_text()
    assert "exported" in log and token not in log


def test_command_stops_on_a_bad_value_naming_the_key(tmp_path: Path, capsys) -> None:
    """An out-of-range or malformed value stops deepclean-export before it serves."""
    from deepclean.config import run_cli
    from deepclean_exporter.main import main

    config = ["--config", str(Path(__file__).resolve().parents[3] / "pyproject.toml")]
    with pytest.raises(SystemExit):
        run_cli(main, "export", [*config, "--keep_versions", "0"])
    assert "keep_versions" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="key 'exporter_url'"):
        run_cli(main, "export", [*config, "--exporter_url", "localhost", "--model_repository", str(tmp_path)])
    with pytest.raises(SystemExit):
        run_cli(main, "export", [*config, "--platform", "onnx"])
    assert "platform" in capsys.readouterr().err
