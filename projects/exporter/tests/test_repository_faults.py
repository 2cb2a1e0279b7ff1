"""Faults found by an audit: repeated exports, damaged pins and files, links out of the root, abusive input.

Each test fails on the exporter as it was before: a second version of one
training run, a 500 after publishing, a symlinked file exported, a corrupt
model listed as fine, a 500 naming server paths.
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import AUTH

from deepclean.model_repository import Pins, read_pins
from deepclean_exporter.exporter import Exporter


def test_the_same_training_run_exported_twice_is_one_version(client, exporter, make_training_dir) -> None:
    """A retried export (same directory, or a copy with the same content) returns the existing version."""
    directory = make_training_dir("run-1")
    first = client.post("/export", json={"training_dir": "run-1"}, headers=AUTH)
    again = client.post("/export", json={"training_dir": str(directory)}, headers=AUTH)
    make_training_dir("copy-of-run-1")  # same seed: the same weights and metadata
    copy = client.post("/export", json={"training_dir": "copy-of-run-1"}, headers=AUTH)
    assert (first.status_code, first.json) == (201, {"version": 1, "created": True})
    assert (again.status_code, again.json) == (200, {"version": 1, "created": False})
    assert (copy.status_code, copy.json) == (200, {"version": 1, "created": False})
    assert exporter.model.versions() == [1]
    make_training_dir("run-2", seed=2)
    assert client.post("/export", json={"training_dir": "run-2"}, headers=AUTH).json == {"version": 2, "created": True}
    metrics = client.get("/metrics").data.decode()
    assert 'deepclean_exporter_exports_total{model="deepclean",result="existing"} 2.0' in metrics


def test_a_retried_export_of_an_older_version_does_not_take_back_the_canary(exporter, make_training_dir) -> None:
    exporter.export(str(make_training_dir("run-1")))
    exporter.export(str(make_training_dir("run-2", seed=2)))
    exporter.set_canary(None)  # version 2 rejected by the monitor
    assert exporter.export("run-1").version == 1
    assert exporter.export("run-2").version == 2
    assert exporter.pins().canary is None  # a rejected canary is not offered again by a retry


def test_export_with_damaged_pins_publishes_once_and_answers_201(client, exporter, make_training_dir) -> None:
    """Damaged pins.json: the export repairs the pins and succeeds; /healthz is ok afterwards, no orphan version."""
    make_training_dir("run-1")
    assert client.post("/export", json={"training_dir": "run-1"}, headers=AUTH).status_code == 201
    client.put("/production", json={"version": 1}, headers=AUTH)
    exporter.model.pins_path.write_text("{garbage")
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["status"] == "damaged"
    assert any("pins.json" in problem for problem in health.json["problems"])
    make_training_dir("run-2", seed=2)
    response = client.post("/export", json={"training_dir": "run-2"}, headers=AUTH)
    assert (response.status_code, response.json) == (201, {"version": 2, "created": True})
    assert exporter.model.versions() == [1, 2]
    assert exporter.pins() == Pins(production=1, canary=2, history=(1,), offered=2)  # from the last good copy
    assert client.get("/healthz").json == {"status": "ok"}


def test_pin_calls_repair_damaged_pins(client, exporter, make_training_dir) -> None:
    make_training_dir("run-1")
    client.post("/export", json={"training_dir": "run-1"}, headers=AUTH)
    exporter.model.pins_path.write_text("[]")
    response = client.put("/production", json={"version": 1}, headers=AUTH)
    assert (response.status_code, response.json) == (200, {"version": 1})
    assert client.get("/healthz").json == {"status": "ok"}


def test_a_crash_between_publish_and_pin_update_is_repaired_at_start_up(settings, make_training_dir) -> None:
    """A published version that was never offered becomes the canary when the exporter starts again."""
    first = Exporter(settings)
    first.start()
    first.export(str(make_training_dir("run-1")))
    first.set_production(1)
    first.export(str(make_training_dir("run-2", seed=2)))
    before_pin_update = {"production": 1, "canary": None, "history": [1], "offered": 1}
    first.model.pins_path.write_text(json.dumps(before_pin_update))  # as the crash left them
    restarted = Exporter(settings)
    restarted.start()
    assert restarted.pins() == Pins(production=1, canary=2, history=(1,), offered=2)
    assert restarted.export("run-2").version == 2  # the trainer's retry finds it


def test_a_pin_update_that_cannot_be_written_withdraws_the_version_and_answers_503(
    client, exporter, make_training_dir, monkeypatch
) -> None:
    """Disk full at the pin update: nothing stays published and the client is told to retry (5xx)."""
    make_training_dir("run-1")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("deepclean.model_repository.writing.write_pins", disk_full)
    response = client.post("/export", json={"training_dir": "run-1"}, headers=AUTH)
    assert response.status_code == 503
    assert "No space left on device" in response.json["error"] and "nothing was published" in response.json["error"]
    assert exporter.model.versions() == []
    monkeypatch.undo()
    retried = client.post("/export", json={"training_dir": "run-1"}, headers=AUTH)
    assert (retried.status_code, retried.json) == (201, {"version": 1, "created": True})


@pytest.mark.parametrize("name", ["weights.pt", "metadata.json"])
def test_a_file_linked_from_outside_the_training_directory_is_refused(
    client, exporter, make_training_dir, tmp_path, name
) -> None:
    """Only the directory used to be checked: a link inside it could export any file of the host."""
    directory = make_training_dir("run-1")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.replace(directory / name, outside / name)
    (directory / name).symlink_to(outside / name)
    response = client.post("/export", json={"training_dir": "run-1"}, headers=AUTH)
    assert response.status_code == 422
    assert f"{name} in 'run-1' is a link to a file outside the training directory" in response.json["error"]
    assert str(tmp_path) not in response.json["error"]
    assert exporter.model.versions() == []


def test_abusive_bodies_are_4xx_and_name_no_server_path(client, exporter, make_training_dir, tmp_path) -> None:
    """Deep nesting, huge numbers and over-long names are client errors, and the answer names no file of ours."""
    make_training_dir("run-1")
    client.post("/export", json={"training_dir": "run-1"}, headers=AUTH)
    json_headers = {**AUTH, "Content-Type": "application/json"}
    cases = [
        ("post", "/export", "[" * 1900 + "]" * 1900, 400),
        ("put", "/production", '{"version": 1' + "0" * 4000 + "}", 400),
        ("put", "/canary", '{"version": 1' + "0" * 4400 + "}", 413),  # over max_body_bytes
        ("put", "/production", '{"version": 2147483648}', 400),
        ("post", "/export", json.dumps({"training_dir": "x" * 300}), 400),
        ("post", "/export", json.dumps({"training_dir": "run-1/" + "y" * 300 + "/z"}), 400),
    ]
    for method, path, body, status in cases:
        response = getattr(client, method)(path, data=body, headers=json_headers)
        assert response.status_code == status, (path, body[:40], response.json)
        assert str(tmp_path) not in response.json["error"], response.json["error"]
        assert len(response.json["error"]) < 400
    assert exporter.model.versions() == [1] and exporter.pins() == Pins(canary=1, offered=1)


def test_a_damaged_model_file_is_shown_by_versions_and_healthz(client, exporter, make_training_dir) -> None:
    """Each version records its files' SHA-256; a changed byte shows in GET /versions and /healthz."""
    make_training_dir("run-1")
    client.post("/export", json={"training_dir": "run-1"}, headers=AUTH)
    metadata = exporter.model.metadata(1)
    assert set(metadata["export"]["files"]) == {"model.onnx", "model.py"}
    assert len(metadata["export"]["training_sha256"]) == 64
    assert client.get("/versions").json["versions"][0]["integrity"] == "ok"
    onnx = exporter.model.model_file(1)
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    listed = client.get("/versions").json["versions"][0]
    assert "model.onnx of version 1 is damaged" in listed["integrity"]
    health = client.get("/healthz")
    assert health.status_code == 503
    assert any("model.onnx of version 1 is damaged" in problem for problem in health.json["problems"])


def test_an_internal_error_names_no_path(client, exporter, make_training_dir, monkeypatch, tmp_path) -> None:
    make_training_dir("run-1")

    def broken(*args, **kwargs):
        raise RuntimeError(f"cannot open {tmp_path}/secret")

    monkeypatch.setattr(exporter, "versions", broken)
    response = client.get("/versions")
    assert response.status_code == 500
    assert str(tmp_path) not in response.json["error"] and "RuntimeError" in response.json["error"]


def test_pins_file_history_survives_repair_round_trip(exporter, make_training_dir) -> None:
    exporter.export(str(make_training_dir("run-1")))
    exporter.set_production(1)
    exporter.model.pins_path.write_text("")
    exporter.start()  # the start-up repair
    assert read_pins(exporter.model.pins_path) == Pins(production=1, canary=1, history=(1,), offered=1)
