"""Tests of deepclean.testing: what the suites build for themselves reads back as the services read it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from deepclean.model_repository import ModelRepository, Pins, read_metadata
from deepclean.testing.model_versions import pin_versions, publish_version, write_random_network
from deepclean.testing.stub_server import Answer, StubServer
from deepclean.testing.training_directory import training_metadata, write_training_dir

RATES = {"H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024, "H1:ASC-INP1_P_OUT_DQ": 256}


def test_training_directory_holds_weights_and_metadata_readers_accept(tmp_path: Path) -> None:
    """The metadata passes the readers' checks; the weights load into the network it describes."""
    import torch

    from deepclean.architecture import DeepClean

    metadata = training_metadata(RATES, {"kernel_size": 3}, sample_rate=1024, filter_band=(57.0, 63.0))
    directory = write_training_dir(tmp_path / "run-1", metadata, seed=1)
    assert read_metadata(directory / "metadata.json") == metadata
    assert metadata["architecture"]["kwargs"] == {"num_witnesses": 2, "kernel_size": 3}
    assert metadata["filter"]["band"] == [57.0, 63.0] and metadata["band"] == [58.0, 62.0]
    network = DeepClean(**metadata["architecture"]["kwargs"])
    network.load_state_dict(torch.load(directory / "weights.pt", weights_only=True))


def test_incomplete_metadata_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Metadata a reader would refuse is not written as a training directory."""
    metadata = training_metadata(RATES)
    del metadata["scaler"]
    with pytest.raises(ValueError, match="missing key 'scaler'"):
        write_training_dir(tmp_path / "run-1", metadata)
    assert not (tmp_path / "run-1").exists()


def test_published_versions_and_pins_read_back_through_the_repository(tmp_path: Path) -> None:
    """Versions appear complete with version and source in their metadata; the pins are what was pinned."""
    model_dir = tmp_path / "deepclean"
    for version in (1, 2):
        publish_version(model_dir, version, training_metadata(RATES), lambda staged: write_random_network(staged, 2, 0))
    pin_versions(model_dir, production=1, canary=2)
    model = ModelRepository(tmp_path).model("deepclean")
    assert model.versions() == [1, 2]
    assert sorted(p.name for p in model.version_dir(2).iterdir()) == ["metadata.json", "model.onnx"]
    assert (model.metadata(2)["version"], model.metadata(2)["source"]) == (2, "test")
    assert model.pins() == Pins(production=1, canary=2, history=(1,))
    assert not [p.name for p in model_dir.iterdir() if p.name.startswith(".staging")]


class Echo(StubServer):
    """Answers every request with what it was."""

    def answer(self, method: str, path: str, body: object, auth: str | None) -> Answer:
        return 200, {"method": method, "path": path, "body": body}


def test_stub_server_answers_and_records_each_request() -> None:
    """A JSON body and the bearer token are recorded; the answer is the subclass's."""
    with Echo() as stub:
        request = urllib.request.Request(
            f"{stub.url}/export",
            data=json.dumps({"training_dir": "run-1"}).encode(),
            headers={"Authorization": "Bearer token", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.load(response)
    assert answer == {"method": "POST", "path": "/export", "body": {"training_dir": "run-1"}}
    assert stub.requests == [
        {"method": "POST", "path": "/export", "body": {"training_dir": "run-1"}, "auth": "Bearer token"}
    ]


def test_stop_shows_where_a_service_that_ignores_sigterm_waits_before_killing_it(tmp_path: Path) -> None:
    """A service stuck past SIGTERM is killed, and its stderr holds its stacks: the test's failure says where."""
    import signal
    import subprocess
    import sys

    from deepclean.testing.processes import stop

    script = (
        "import signal, time\n"
        "from deepclean.entry_point import configure_logging\n"
        "configure_logging('job')\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "def stuck_where_it_waits():\n"
        "    time.sleep(60)\n"
        "print('ready', flush=True)\n"
        "stuck_where_it_waits()\n"
    )
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True
        )
    with process.stdout:
        assert process.stdout.readline().strip() == "ready"
        assert stop(process, timeout=1.0) == -signal.SIGKILL
    assert "stuck_where_it_waits" in stderr_path.read_text()
