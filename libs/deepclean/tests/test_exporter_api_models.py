"""Tests of the exporter client's model routes (``/models/<model>/...``), against a real HTTP server."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from deepclean.exporter_api import Exported, ExporterClient, ExporterRejected
from deepclean.testing.stub_server import Answer, StubServer

TOKEN = "stub-token-0123456789"


class ModelsStub(StubServer):
    """Two models' pins and exports in memory, each at ``/models/<model>/``; the default one also at ``/``."""

    def __init__(self) -> None:
        super().__init__()
        self.pins = {name: {"production": None, "canary": None} for name in ("deepclean-h1", "deepclean-l1")}

    def answer(self, method: str, path: str, body: dict | None, auth: str | None) -> Answer:
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts[0] == "models":
            model, route = parts[1], parts[2]
        else:
            model, route = "deepclean-h1", parts[0]
        if model not in self.pins:
            return 404, {"error": f"unknown model {model!r}; this exporter serves {list(self.pins)}"}
        pins = self.pins[model]
        if method == "GET":
            return 200, ({"version": pins[route]} if route in pins else {"versions": [], **pins})
        if method == "POST":
            pins["canary"] = (pins["canary"] or 0) + 1
            return 201, {"version": pins["canary"], "created": True}
        pins[route] = body["version"] if method == "PUT" else None
        return 200, {"version": pins[route]}


def test_each_call_goes_to_the_named_models_routes(tmp_path: Path) -> None:
    """export, versions, pins and unpinning of a named model use /models/<model>/...; the other is untouched."""
    with ModelsStub() as stub:
        client = ExporterClient(stub.url, token=TOKEN, model_name="deepclean-l1")
        assert client.export(tmp_path) == Exported(1, True)
        assert client.set_production(1) == 1 and client.set_canary(None) is None
        assert client.pins() == {"production": 1, "canary": None}
        client.unset_production()
        assert client.versions() == {"versions": [], "production": None, "canary": None}
    assert [r["path"] for r in stub.requests] == [
        "/models/deepclean-l1/export",
        "/models/deepclean-l1/production",
        "/models/deepclean-l1/canary",
        "/models/deepclean-l1/production",
        "/models/deepclean-l1/canary",
        "/models/deepclean-l1/production",
        "/models/deepclean-l1/versions",
    ]
    assert stub.pins["deepclean-h1"] == {"production": None, "canary": None}


def test_without_a_name_the_default_models_routes_are_used(tmp_path: Path) -> None:
    """A client with no model name calls the un-prefixed routes (the exporter's default model)."""
    with ModelsStub() as stub:
        client = ExporterClient(stub.url, token=TOKEN)
        assert client.model_name is None
        assert client.export(tmp_path).version == 1 and client.pin("canary") == 1
    assert [r["path"] for r in stub.requests] == ["/export", "/canary"]


def test_a_name_is_sent_as_one_path_segment(tmp_path: Path) -> None:
    """Characters a URL gives a meaning to are escaped: the name stays one segment, answered 404 by name."""
    with ModelsStub() as stub, pytest.raises(ExporterRejected, match="HTTP 404: unknown model 'h1 #2'") as refused:
        ExporterClient(stub.url, token=TOKEN, model_name="h1 #2").pin("production")
    assert stub.requests[0]["path"] == "/models/h1%20%232/production"
    assert refused.value.permanent


@pytest.mark.parametrize("name", ["", "a/b", ".hidden", 7])
def test_a_name_that_cannot_be_a_model_is_refused_at_once(name) -> None:
    """A model name that no repository can hold is a ValueError before any call."""
    with pytest.raises(ValueError, match="model_name must be a model's name"):
        ExporterClient("http://127.0.0.1:9", model_name=name)
