"""Tests of the HTTP API, each through Flask's test client and through the real waitress server."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import AUTH, CHANNELS

from deepclean_exporter.pbtxt_check import parse_model_config

WRONG = {"Authorization": "Bearer not-the-token"}


def _policy(exporter) -> list[int]:
    """The versions config.pbtxt keeps loaded."""
    parsed = parse_model_config(exporter.model.config_path.read_text())
    return list(parsed.version_policy.specific.versions)


def test_healthz_and_empty_repository(client) -> None:
    """A fresh exporter is healthy and lists no versions and no pins."""
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/versions").json == {"versions": [], "production": None, "canary": None}
    assert client.get("/production").json == {"version": None}
    assert client.get("/canary").json == {"version": None}


def test_export_list_and_pin(client, make_training_dir) -> None:
    """Export twice, promote the first, list: versions, metadata and pins are as set."""
    first = client.post("/export", json={"training_dir": str(make_training_dir("run-1"))}, headers=AUTH)
    assert (first.status_code, first.json) == (201, {"version": 1, "created": True})
    make_training_dir("run-2", seed=2)
    second = client.post("/export", json={"training_dir": "run-2"}, headers=AUTH)
    assert (second.status_code, second.json) == (201, {"version": 2, "created": True})
    assert client.put("/production", json={"version": 1}, headers=AUTH).json == {"version": 1}
    listed = client.get("/versions").json
    assert [v["version"] for v in listed["versions"]] == [1, 2]
    assert listed["versions"][1]["metadata"]["witness_channels"] == list(CHANNELS)
    assert (listed["production"], listed["canary"]) == (1, 2)
    assert client.put("/canary", json={"version": None}, headers=AUTH).json == {"version": None}
    assert client.get("/canary").json == {"version": None}


def test_a_damaged_version_is_listed_with_its_error_beside_the_others(client, exporter, make_training_dir) -> None:
    """GET /versions answers 200 when one version's metadata is damaged, naming what is wrong with it."""
    for name in ("run-1", "run-2"):
        make_training_dir(name, seed=int(name[-1]))
        assert client.post("/export", json={"training_dir": name}, headers=AUTH).status_code == 201
    (exporter.model.version_dir(1) / "metadata.json").write_text("{not json")
    response = client.get("/versions")
    assert response.status_code == 200
    first, second = response.json["versions"]
    assert first["version"] == 1 and first["metadata"] is None and "not valid JSON" in first["error"]
    assert second["metadata"]["witness_channels"] == list(CHANNELS)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", "/export", {"training_dir": "run-1"}),
        ("put", "/production", {"version": 1, "created": True}),
        ("put", "/canary", {"version": 1, "created": True}),
        ("delete", "/production", None),
    ],
)
@pytest.mark.parametrize("headers", [{}, WRONG, {"Authorization": "Basic abc"}])
def test_mutating_calls_need_the_token(client, make_training_dir, method, path, body, headers) -> None:
    """Without the right bearer token a mutating call is 401 and changes nothing."""
    make_training_dir("run-1")
    response = getattr(client, method)(path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "token" in response.json["error"]
    assert client.get("/versions").json["versions"] == []


def test_each_bad_training_dir_gets_a_4xx_and_writes_nothing(client, exporter, training_root, tmp_path) -> None:
    """Traversal, symlink escape, missing dir or file, wrong channel count, NaN weights: 4xx, no version."""
    from conftest import write_training_dir

    outside = write_training_dir(tmp_path, "outside")
    os.symlink(outside, training_root / "link-out")
    incomplete = write_training_dir(training_root, "incomplete")
    (incomplete / "weights.pt").unlink()
    write_training_dir(training_root, "two-channels", channels=CHANNELS[:2])
    nan = write_training_dir(training_root, "nan")
    state = torch.load(nan / "weights.pt", weights_only=True)
    state["downsampler.0.0.weight"][0, 0, 0] = float("inf")
    torch.save(state, nan / "weights.pt")
    cases = {
        "../outside": (400, "not inside the training root"),
        str(outside): (400, "not inside the training root"),
        "link-out": (400, "not inside the training root"),
        "missing": (404, "does not exist"),
        "incomplete": (422, "weights.pt is missing"),
        "two-channels": (422, "trained on 2 witness channels, the configuration has 3"),
        "nan": (422, "'downsampler.0.0.weight' holds NaN or infinite values"),
    }
    for requested, (status, message) in cases.items():
        response = client.post("/export", json={"training_dir": requested}, headers=AUTH)
        assert response.status_code == status, requested
        assert message in response.json["error"], requested
    assert exporter.model.versions() == []
    assert sorted(p.name for p in exporter.model.directory.iterdir()) == [".lock"]
    metrics = client.get("/metrics").data.decode()
    assert 'deepclean_exporter_exports_total{model="deepclean",result="rejected"} 7.0' in metrics


@pytest.mark.parametrize(
    "body, message",
    [
        ("not json", "JSON object"),
        ("[1, 2]", "JSON object"),
        ('{"training_dir": 3}', "non-empty string"),
        ('{"training_dir": "x", "force": true}', "unknown key(s) ['force']"),
        ("{}", "missing key(s) ['training_dir']"),
    ],
)
def test_malformed_export_bodies_are_400(client, body: str, message: str) -> None:
    """Body shape and types are checked before anything is touched."""
    response = client.post("/export", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json["error"]


def test_oversized_body_is_413(client) -> None:
    """A body larger than max_body_bytes is refused before it is parsed."""
    body = '{"training_dir": "' + "x" * 10_000 + '"}'
    response = client.post("/export", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert "error" in response.json


@pytest.mark.parametrize("pin", ["production", "canary"])
def test_pinning_an_unknown_or_malformed_version(client, make_training_dir, pin: str) -> None:
    """An unknown version is 404; a non-integer, zero or boolean version is 400; pins stay unset."""
    client.post("/export", json={"training_dir": str(make_training_dir("run-1"))}, headers=AUTH)
    response = client.put(f"/{pin}", json={"version": 7}, headers=AUTH)
    assert response.status_code == 404
    assert "version 7 does not exist" in response.json["error"]
    for bad in ("1", 0, True, 1.5):
        assert client.put(f"/{pin}", json={"version": bad}, headers=AUTH).status_code == 400
    assert client.get("/production").json == {"version": None}


def test_production_cannot_be_put_to_null(client) -> None:
    """null is a valid canary (none) but not a valid production version: unpinning production is a DELETE."""
    response = client.put("/production", json={"version": None}, headers=AUTH)
    assert response.status_code == 400
    assert "an integer from 1 to" in response.json["error"]


def test_production_is_unpinned_deliberately_with_delete(client, exporter, make_training_dir) -> None:
    """DELETE /production (token needed) leaves no production model; the history and the files stay for a rollback."""
    for name in ("run-1", "run-2"):
        make_training_dir(name, seed=int(name[-1]))
        assert client.post("/export", json={"training_dir": name}, headers=AUTH).status_code == 201
    client.put("/production", json={"version": 1}, headers=AUTH)
    refused = client.delete("/production", headers=WRONG)
    assert refused.status_code == 401 and client.get("/production").json == {"version": 1}
    response = client.delete("/production", headers=AUTH)
    assert (response.status_code, response.json) == (200, {"version": None})
    assert client.get("/production").json == {"version": None}
    listed = client.get("/versions").json
    assert (listed["production"], listed["canary"]) == (None, 2)
    assert [v["version"] for v in listed["versions"]] == [1, 2]
    assert json.loads(exporter.model.pins_path.read_text()) == {
        "production": None,
        "canary": 2,
        "history": [1],
        "offered": 2,
    }
    assert _policy(exporter) == [2]  # the canary (also the newest) stays loaded
    assert 'deepclean_exporter_production_version{model="deepclean"} 0.0' in client.get("/metrics").data.decode()
    assert client.delete("/production", headers=AUTH).json == {"version": None}  # already unpinned: no change
    assert client.put("/production", json={"version": 1}, headers=AUTH).json == {"version": 1}
    assert _policy(exporter) == [1, 2]


def test_unknown_routes_and_methods_answer_json(client) -> None:
    """404 and 405 come back as JSON errors too; only production can be deleted (the canary is PUT to null)."""
    assert client.get("/nope").status_code == 404
    assert "error" in client.get("/nope").json
    response = client.delete("/canary", headers=AUTH)
    assert response.status_code == 405 and "error" in response.json


def test_metrics_report_versions_pins_and_requests(client, make_training_dir) -> None:
    """/metrics is Prometheus text with the pinned versions and the export count."""
    client.post("/export", json={"training_dir": str(make_training_dir("run-1"))}, headers=AUTH)
    client.put("/production", json={"version": 1}, headers=AUTH)
    response = client.get("/metrics")
    assert response.content_type.startswith("text/plain")
    text = response.data.decode()
    assert 'deepclean_exporter_production_version{model="deepclean"} 1.0' in text
    assert 'deepclean_exporter_canary_version{model="deepclean"} 1.0' in text
    assert 'deepclean_exporter_exports_total{model="deepclean",result="ok"} 1.0' in text
    requests = 'deepclean_exporter_http_requests_total{endpoint="/export",method="POST",model="deepclean",status="201"}'
    assert f"{requests} 1.0" in text
    assert 'deepclean_exporter_export_seconds_count{model="deepclean"} 1.0' in text


def test_token_never_appears_in_logs(client, make_training_dir, caplog) -> None:
    """Neither a right nor a wrong token is written to the log."""
    caplog.set_level("DEBUG")
    client.post("/export", json={"training_dir": "missing"}, headers=WRONG)
    client.post("/export", json={"training_dir": str(make_training_dir("run-1"))}, headers=AUTH)
    assert "not-the-token" not in caplog.text
    assert AUTH["Authorization"].split()[1] not in caplog.text
