"""Faults at the exporter's API, against the real ``deepclean-export`` (waitress) process.

Abusive requests are refused with the status the contract names and change
nothing; a burst of concurrent exports and pin calls leaves every version
complete and one consistent pins file; the server keeps serving throughout.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import requests
from conftest import record_fault, verdict
from fault_services import auth, write_training_dir


def _unchanged(exporter) -> bool:
    """No version, no pin, no staging directory."""
    versions = requests.get(f"{exporter.url}/versions", timeout=5).json()
    entries = [p.name for p in exporter.model_dir.iterdir()] if exporter.model_dir.exists() else []
    return versions == {"versions": [], "production": None, "canary": None} and not [
        e for e in entries if e[0].isdigit() or e.startswith(".staging")
    ]


def _complete(model_dir, version: int) -> bool:
    """The version's directory holds a model file and metadata naming that version."""
    directory = model_dir / str(version)
    try:
        metadata = json.loads((directory / "metadata.json").read_text())
        return (directory / "model.onnx").stat().st_size > 0 and metadata["version"] == version
    except (OSError, ValueError, KeyError):
        return False


def test_abusive_requests_are_refused_and_change_nothing(exporter, tmp_path):
    """Traversal, symlink escapes, wrong types, deep nesting, huge numbers, long names, oversized body, bad token,
    unknown version: 4xx with a JSON error naming no server path, nothing changed."""
    outside = tmp_path / "outside"
    write_training_dir(outside, "stolen")
    (exporter.training_root / "escape").symlink_to(outside / "stolen")
    root = exporter.training_root
    linked = write_training_dir(root, "linked-weights")  # its weights.pt a link to a file outside
    (linked / "weights.pt").unlink()
    (linked / "weights.pt").symlink_to(outside / "stolen" / "weights.pt")
    calls = {
        "path traversal": ("post", "/export", {"training_dir": str(root / ".." / "outside" / "stolen")}, auth(), 400),
        "symlink escape": ("post", "/export", {"training_dir": str(root / "escape")}, auth(), 400),
        "wrong type (training_dir)": ("post", "/export", {"training_dir": 7}, auth(), 400),
        "wrong type (body)": ("post", "/export", ["x"], auth(), 400),
        "wrong type (version)": ("put", "/production", {"version": "1"}, auth(), 400),
        "boolean version": ("put", "/canary", {"version": True}, auth(), 400),
        "oversized body": ("post", "/export", {"training_dir": "x" * 10_000}, auth(), 413),
        # refused by waitress itself before Flask sees it (plain-text 413, connection closed)
        "huge body": ("post", "/export", {"training_dir": "x" * 1_000_000}, auth(), 413),
        "missing token": ("post", "/export", {"training_dir": str(root / "escape")}, {}, 401),
        "wrong token": ("put", "/production", {"version": 1}, {"Authorization": "Bearer nope"}, 401),
        "unknown version": ("put", "/production", {"version": 99}, auth(), 404),
        "unknown training directory": ("post", "/export", {"training_dir": str(root / "nothing")}, auth(), 404),
        "file linked from outside": ("post", "/export", {"training_dir": str(linked)}, auth(), 422),
        # raw bodies (bytes): what a JSON encoder would not produce
        "JSON nested 1900 deep": ("post", "/export", b"[" * 1900 + b"]" * 1900, auth(), 400),
        "version of 4000 digits": ("put", "/production", b'{"version": 1' + b"0" * 4000 + b"}", auth(), 400),
        "version beyond 2^31": ("put", "/canary", {"version": 2**31}, auth(), 400),
        "path component of 300 characters": ("post", "/export", {"training_dir": str(root / ("y" * 300))}, auth(), 400),
    }
    answers = {}
    for fault, (method, path, body, headers, _) in calls.items():
        payload = (
            {"data": body, "headers": {**headers, "Content-Type": "application/json"}}
            if isinstance(body, bytes)
            else {"json": body, "headers": headers}
        )
        response = getattr(requests, method)(f"{exporter.url}{path}", timeout=10, **payload)
        json_error = (
            response.headers.get("Content-Type", "").startswith("application/json") and "error" in response.json()
        )
        # an error names nothing of the server's file system beyond what the request named
        private = json_error and (
            str(exporter.model_dir) in response.json()["error"] or str(outside) in response.json()["error"]
        )
        answers[fault] = (response.status_code, (json_error or fault == "huge body") and not private)
    alive = exporter.process.poll() is None
    unchanged = alive and _unchanged(exporter)
    for fault, (*_, expected) in calls.items():
        status, explained = answers[fault]
        record_fault(f"API: {fault}", status == expected and explained and alive and unchanged)
    assert {fault: answer[0] for fault, answer in answers.items()} == {fault: call[-1] for fault, call in calls.items()}
    unexplained = [fault for fault, (_, explained) in answers.items() if not explained]
    assert unexplained == [], f"refused without a JSON error: {unexplained}"
    assert alive, "the exporter exited"
    assert unchanged, "a refused request changed the repository"


def test_a_burst_of_concurrent_exports_and_pin_calls_leaves_one_consistent_state(exporter):
    """Four exports and 40 pin calls at once: no 5xx, every version complete, pins.json matches the API."""
    directories = [write_training_dir(exporter.training_root, f"run-{i}", seed=i) for i in range(4)]
    rng = random.Random(0)

    def export(directory):
        return requests.post(
            f"{exporter.url}/export", json={"training_dir": str(directory)}, headers=auth(), timeout=120
        )

    def pin(_):
        slot = rng.choice(["production", "canary"])
        version = rng.choice([1, 2, 3, 4, None] if slot == "canary" else [1, 2, 3, 4])
        return requests.put(f"{exporter.url}/{slot}", json={"version": version}, headers=auth(), timeout=60)

    with ThreadPoolExecutor(max_workers=12) as pool:
        exports = [pool.submit(export, d) for d in directories]
        pins = list(pool.map(pin, range(40)))
        exported = [f.result() for f in exports]

    answered = sorted(r.status_code for r in exported)
    versions = sorted(r.json()["version"] for r in exported if r.status_code == 201)
    unexpected_pin_answers = [(r.status_code, r.text[:200]) for r in pins if r.status_code not in (200, 404)]
    incomplete = [v for v in (1, 2, 3, 4) if not _complete(exporter.model_dir, v)]
    staging = [p.name for p in exporter.model_dir.iterdir() if p.name.startswith(".staging")]
    on_disk = json.loads((exporter.model_dir / "pins.json").read_text())
    served = requests.get(f"{exporter.url}/versions", timeout=5).json()
    checks = {
        "four exports answered 201": answered == [201] * 4,
        "they made versions 1-4": versions == [1, 2, 3, 4],
        "every pin call answered 200 or 404": unexpected_pin_answers == [],
        "versions 1-4 complete on disk": incomplete == [],
        "no staging directory left": staging == [],
        "pins.json is what /versions serves": (on_disk["production"], on_disk["canary"])
        == (served["production"], served["canary"]),
        # a pin call that succeeded after the last export took effect: the state is one of the answered ones
        "production a published version, the last of the history": on_disk["production"] in (1, 2, 3, 4)
        and on_disk["history"][-1:] == [on_disk["production"]],
        "the exporter still running": exporter.process.poll() is None,
    }
    verdict(
        "API: burst of 4 exports + 40 pin calls",
        checks,
        f"exports {answered} -> {versions} {[r.text[:200] for r in exported if r.status_code != 201]}; "
        f"pin answers {unexpected_pin_answers}; incomplete {incomplete}; staging {staging}; "
        f"pins.json {on_disk}; served {served['production'], served['canary']}",
    )
