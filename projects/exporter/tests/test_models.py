"""Tests of one exporter serving one model per detector from one repository (``/models/<model>/...``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import AUTH, CHANNELS, TOKEN, HttpClient, serving

from deepclean.testing import training_directory
from deepclean_exporter.app import create_app
from deepclean_exporter.exporter import Exporter
from deepclean_exporter.pbtxt_check import parse_model_config
from deepclean_exporter.served_models import ServedModels, detector_of
from deepclean_exporter.settings import ExportSettings, settings_per_model

H1 = "deepclean-h1"
L1 = "deepclean-l1"
L1_CHANNELS = ("L1:PEM-CS_MAINSMON_EBAY_1_DQ", "L1:ASC-INP1_P_OUT_DQ")


def write_run(root: Path, name: str, channels: tuple[str, ...], seed: int = 0, ifo: str | None = None) -> Path:
    """A training directory trained on ``channels``, its metadata naming their detector (or ``ifo``)."""
    metadata = training_directory.training_metadata(dict.fromkeys(channels, 512), {"kernel_size": 3})
    metadata["ifo"] = ifo or detector_of(channels)
    return training_directory.write_training_dir(root / name, metadata, seed)


@pytest.fixture
def models(settings: ExportSettings) -> ServedModels:
    """H1's model (three channels, the default) and L1's (two channels), started, in one repository."""
    shared = dataclasses.replace(settings, keep_versions=2, keep_rollback=0)
    per_model = settings_per_model(shared, [H1, L1], {L1: list(L1_CHANNELS)})
    served = ServedModels(Exporter(model_settings) for model_settings in per_model.values())
    served.start()
    return served


@pytest.fixture(params=["flask-test-client", "waitress"])
def client(request, models: ServedModels):
    """The two-model API through Flask's test client, and through the real WSGI server on a localhost port."""
    app = create_app(models, TOKEN)
    if request.param == "flask-test-client":
        yield app.test_client()
        return
    with serving(app) as url:
        yield HttpClient(url)


@pytest.fixture
def run(training_root: Path) -> Callable[..., Path]:
    """Factory of training directories under the training root."""
    return lambda name, channels, **kwargs: write_run(training_root, name, channels, **kwargs)


def _policy(model) -> list[int]:
    return list(parse_model_config(model.config_path.read_text()).version_policy.specific.versions)


def test_two_models_have_their_own_versions_pins_and_config(client, models, run) -> None:
    """Exports to each model number their versions from 1, and a pin of one leaves the other's alone."""
    run("h1-a", CHANNELS)
    for index in range(3):
        run(f"l1-{index}", L1_CHANNELS, seed=index)
    assert client.post(f"/models/{H1}/export", json={"training_dir": "h1-a"}, headers=AUTH).json == {
        "version": 1,
        "created": True,
    }
    for index in range(3):
        answer = client.post(f"/models/{L1}/export", json={"training_dir": f"l1-{index}"}, headers=AUTH)
        assert (answer.status_code, answer.json["version"]) == (201, index + 1)
    assert client.put(f"/models/{H1}/production", json={"version": 1}, headers=AUTH).json == {"version": 1}
    assert client.put(f"/models/{L1}/canary", json={"version": 2}, headers=AUTH).json == {"version": 2}

    h1, l1 = client.get(f"/models/{H1}/versions").json, client.get(f"/models/{L1}/versions").json
    assert ([v["version"] for v in h1["versions"]], h1["production"], h1["canary"]) == ([1], 1, 1)
    # keep_versions 2: L1's version 1 was pruned by L1's third export; H1's version 1 is untouched
    assert ([v["version"] for v in l1["versions"]], l1["production"], l1["canary"]) == ([2, 3], None, 2)
    assert l1["versions"][0]["metadata"]["witness_channels"] == list(L1_CHANNELS)
    assert client.get(f"/models/{L1}/production").json == {"version": None}
    assert client.get(f"/models/{H1}/canary").json == {"version": 1}

    for name, channels, versions in ((H1, CHANNELS, [1]), (L1, L1_CHANNELS, [2, 3])):
        model = models[name].model
        config = parse_model_config(model.config_path.read_text())
        assert config.name == name
        assert list(config.input[0].dims) == [-1, len(channels), -1]
        assert _policy(model) == versions
    assert client.get("/healthz").json == {"status": "ok"}


def test_the_unprefixed_routes_read_the_first_model(client, models, run) -> None:
    """/versions and the pins without /models/<model> read the default (first) model's."""
    run("h1-a", CHANNELS)
    assert client.get("/models").json == {"models": [H1, L1], "default": H1}
    assert client.post(f"/models/{H1}/export", json={"training_dir": "h1-a"}, headers=AUTH).status_code == 201
    assert client.put(f"/models/{H1}/production", json={"version": 1}, headers=AUTH).status_code == 200
    assert client.get("/versions").json == client.get(f"/models/{H1}/versions").json
    assert client.get("/production").json == {"version": 1}
    assert client.get("/canary").json == {"version": 1}


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("post", "export", {"training_dir": "l1-a"}),
        ("put", "production", {"version": 1}),
        ("delete", "production", None),
        ("put", "canary", {"version": None}),
    ],
)
def test_an_unprefixed_write_is_refused_when_several_models_are_served(client, models, run, method, route, body):
    """A write that names no model would change H1's model whichever detector the client serves (an L1 monitor
    started without model_name): 409 naming /models/<name>/<route> and the served models, and nothing changes."""
    run("l1-a", L1_CHANNELS)
    assert client.post(f"/models/{L1}/export", json={"training_dir": "l1-a"}, headers=AUTH).status_code == 201
    assert client.post(f"/models/{H1}/export", json={"training_dir": "l1-a"}, headers=AUTH).status_code == 409
    pins = {name: models[name].pins() for name in (H1, L1)}
    kwargs = {"headers": AUTH} | ({"json": body} if body is not None else {})
    answer = getattr(client, method)(f"/{route}", **kwargs)
    assert answer.status_code == 409
    assert answer.json == {
        "error": f"{method.upper()} /{route} names no model, and this exporter serves ['{H1}', '{L1}']: "
        f"{method.upper()} /models/<name>/{route} instead (e.g. /models/{H1}/{route})"
    }
    assert {name: models[name].pins() for name in (H1, L1)} == pins
    assert models[H1].model.versions() == [] and models[L1].model.versions() == [1]


def test_a_single_model_is_still_written_through_the_unprefixed_routes(settings: ExportSettings, run) -> None:
    """With one model served, the un-prefixed routes read and write it as before."""
    exporter = Exporter(settings)
    exporter.start()
    client = create_app(ServedModels([exporter]), TOKEN).test_client()
    run("h1-a", CHANNELS)
    assert client.post("/export", json={"training_dir": "h1-a"}, headers=AUTH).status_code == 201
    assert client.put("/production", json={"version": 1}, headers=AUTH).json == {"version": 1}
    assert client.put("/canary", json={"version": None}, headers=AUTH).json == {"version": None}
    assert client.delete("/production", headers=AUTH).json == {"version": None}
    assert exporter.pins().production is None and exporter.model.versions() == [1]


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("get", "versions", None),
        ("get", "production", None),
        ("put", "canary", {"version": 1}),
        ("post", "export", {"training_dir": "h1-a"}),
        ("delete", "production", None),
    ],
)
def test_an_unknown_model_is_a_404_naming_the_served_ones(client, models, method, route, body) -> None:
    """A model the exporter does not serve is refused with 404 and the list of the models it serves."""
    kwargs = {"headers": AUTH} | ({"json": body} if body is not None else {})
    answer = getattr(client, method)(f"/models/deepclean-v1/{route}", **kwargs)
    assert answer.status_code == 404
    assert answer.json == {"error": f"unknown model 'deepclean-v1'; this exporter serves ['{H1}', '{L1}']"}
    assert not (models[H1].settings.model_repository / "deepclean-v1").exists()


def test_a_run_of_another_detector_is_refused_with_409(client, models, run) -> None:
    """H1's run posted to L1's model (and a run whose metadata names another detector) publishes nothing."""
    run("h1-a", CHANNELS)
    answer = client.post(f"/models/{L1}/export", json={"training_dir": "h1-a"}, headers=AUTH)
    assert answer.status_code == 409
    assert answer.json["error"] == (
        f"training_dir 'h1-a' was trained for detector H1 (the witness channels of model '{H1}'), "
        f"but model '{L1}' cleans detector L1; post it to /models/{H1}/export"
    )
    run("says-l1", CHANNELS, ifo="L1")
    answer = client.post(f"/models/{H1}/export", json={"training_dir": "says-l1"}, headers=AUTH)
    assert answer.status_code == 409
    assert answer.json["error"] == (
        f"training_dir 'says-l1' was trained for detector L1, but model '{H1}' cleans detector H1"
    )
    assert models[H1].model.versions() == [] and models[L1].model.versions() == []
    assert models[L1].pins().canary is None


def test_channels_of_no_served_model_are_still_a_422(client, models, run) -> None:
    """A run of the model's detector on other channels is no other model's: the channel check names it."""
    run("h1-two", CHANNELS[:2])
    answer = client.post(f"/models/{H1}/export", json={"training_dir": "h1-two"}, headers=AUTH)
    assert answer.status_code == 422 and "trained on 2 witness channels" in answer.json["error"]


def test_health_and_metrics_cover_every_model(client, models, run) -> None:
    """/metrics has each model's versions by label; /healthz names the model whose pins are damaged."""
    run("l1-a", L1_CHANNELS)
    assert client.post(f"/models/{L1}/export", json={"training_dir": "l1-a"}, headers=AUTH).status_code == 201
    text = client.get("/metrics").data.decode()
    assert f'deepclean_exporter_canary_version{{model="{L1}"}} 1.0' in text
    assert f'deepclean_exporter_canary_version{{model="{H1}"}} 0.0' in text
    assert f'deepclean_exporter_exports_total{{model="{L1}",result="ok"}} 1.0' in text
    models[L1].model.pins_path.write_text("{damaged")
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json["problems"] and all(p.startswith(f"model '{L1}': ") for p in health.json["problems"])
    # the damaged model's pin gauges are unknown (NaN), not their last values; the other model's are read as ever
    text = client.get("/metrics").data.decode()
    for pin in ("production", "canary"):
        assert f'deepclean_exporter_{pin}_version{{model="{L1}"}} NaN' in text
    assert f'deepclean_exporter_canary_version{{model="{H1}"}} 0.0' in text
    assert f'deepclean_exporter_latest_version{{model="{L1}"}} 1.0' in text


def test_each_model_name_and_channel_list_is_checked(settings: ExportSettings) -> None:
    """Bad model names, repeats and channels of a model not served are configuration errors naming the key."""
    with pytest.raises(ValueError, match="key 'model_names': name at least one model"):
        settings_per_model(settings, [])
    with pytest.raises(ValueError, match=r"key 'model_names': \['a'\] named more than once"):
        settings_per_model(settings, ["a", "b", "a"])
    for bad in ("../up", ".hidden", "a/b", "", "x" * 200):
        with pytest.raises(ValueError, match="key 'model_names'"):
            settings_per_model(settings, [bad])
    with pytest.raises(ValueError, match=r"key 'model_witness_channels': \['c'\] not in model_names"):
        settings_per_model(settings, ["a"], {"c": ["C1:X"]})
    with pytest.raises(ValueError, match="model 'a' needs a non-empty list"):
        settings_per_model(settings, ["a"], {"a": []})
    per_model = settings_per_model(settings, ["a", "b"], {"b": ["L1:X"]})
    assert [(s.model_name, s.witness_channels) for s in per_model.values()] == [("a", CHANNELS), ("b", ("L1:X",))]


def test_the_command_refuses_a_bad_model_list(tmp_path: Path) -> None:
    """deepclean-export stops at start-up, naming the key, when model_names repeats a model."""
    from deepclean.config import run_cli
    from deepclean_exporter.main import main

    config = ["--config", str(Path(__file__).resolve().parents[3] / "pyproject.toml")]
    with pytest.raises(SystemExit, match="key 'model_names'"):
        run_cli(main, "export", [*config, "--model_names", "[a,a]", "--model_repository", str(tmp_path)])


def test_detector_of_channels() -> None:
    """The detector is the prefix every channel shares; none when they differ or lack one."""
    assert detector_of(CHANNELS) == "H1"
    assert detector_of([*CHANNELS, "L1:X"]) is None
    assert detector_of(["NOPREFIX"]) is None


def test_unreadable_metadata_is_left_to_the_export_check(client, models, training_root) -> None:
    """A run whose metadata cannot be read gets the export's 422, not a detector verdict."""
    directory = write_run(training_root, "broken", CHANNELS)
    (directory / "metadata.json").write_text("{")
    answer = client.post(f"/models/{L1}/export", json={"training_dir": "broken"}, headers=AUTH)
    assert answer.status_code == 422 and "not valid JSON" in answer.json["error"]
    assert models[L1].model.versions() == []


def test_the_client_of_each_model_round_trips_over_http(models, training_root) -> None:
    """ExporterClient(model_name=...) exports, pins and reads its own model through the real server."""
    from deepclean.exporter_api import Exported, ExporterClient, ExporterRejected

    h1_run = write_run(training_root, "h1-a", CHANNELS)
    l1_run = write_run(training_root, "l1-a", L1_CHANNELS)
    with serving(create_app(models, TOKEN)) as url:
        h1, l1 = (ExporterClient(url, token=TOKEN, model_name=name) for name in (H1, L1))
        assert l1.export(l1_run) == Exported(1, True)
        assert l1.export(l1_run) == Exported(1, False)
        assert h1.export(h1_run) == Exported(1, True)
        assert l1.set_production(1) == 1
        assert (l1.pins(), h1.pins()) == ({"production": 1, "canary": 1}, {"production": None, "canary": 1})
        assert [v["version"] for v in l1.versions()["versions"]] == [1]
        h1.set_canary(None)
        l1.unset_production()
        assert (l1.pins(), h1.pins()) == ({"production": None, "canary": 1}, {"production": None, "canary": None})
        with pytest.raises(ExporterRejected, match=f"POST {url}/models/{H1}/export: HTTP 409") as refused:
            h1.export(l1_run)
        assert refused.value.permanent
        with pytest.raises(ExporterRejected, match="HTTP 404: unknown model 'deepclean-v1'") as unknown:
            ExporterClient(url, token=TOKEN, model_name="deepclean-v1").pin("production")
        assert unknown.value.permanent
        assert ExporterClient(url, token=TOKEN).pin("canary") is None  # no name: the default model, H1
        with pytest.raises(ExporterRejected, match=rf"PUT {url}/production: HTTP 409: .*/models/<name>/production"):
            ExporterClient(url, token=TOKEN).set_production(1)  # ... which a client naming no model cannot change
        assert h1.pins()["production"] is None
