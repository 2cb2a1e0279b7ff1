"""One status page for every detector: the overview, each detector's own page and files, the status service."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from deepclean.config import ConfigError
from deepclean.testing.processes import free_port
from deepclean_monitor.status_server import _by_detector, create_app

SUMMARY = {
    "updated": "2026-11-30T12:00:00Z",
    "production_version": 3,
    "canary_version": 4,
    "lag": {"cleaned_age_seconds": 2.0},
    "versions": {"3": {"band_ratio": 0.0812, "range_raw_mpc": 101.5, "range_cleaned_mpc": 104.25}},
}


@pytest.fixture
def client(tmp_path):
    """The overview app for H1 (status written) and L1 (nothing written yet)."""
    (tmp_path / "H1").mkdir()
    (tmp_path / "H1" / "status.json").write_text(json.dumps(SUMMARY))
    (tmp_path / "H1" / "index.html").write_text("<html>H1 page</html>")
    app = create_app({"H1": tmp_path / "H1", "L1": tmp_path / "L1"})
    return app.test_client()


def test_overview_lists_every_detector(client):
    """The page at / has a row per detector: H1's versions and figures, L1 'no status yet', links to their pages."""
    page = client.get("/").get_data(as_text=True)
    h1 = page[page.index('<tr id="H1">') :].split("</tr>")[0]
    assert '<a href="H1/">H1</a>' in h1
    assert "<td>3</td><td>4</td><td>0.0812</td><td>101.5 / 104.2</td><td>2</td>" in h1
    l1 = page[page.index('<tr id="L1">') :].split("</tr>")[0]
    assert '<a href="L1/">L1</a>' in l1 and "no status yet" in l1


def test_each_detector_page_and_files(client):
    """/<detector>/ serves that detector's files; not yet written is 503, an unknown detector or file 404."""
    assert client.get("/H1/").get_data(as_text=True) == "<html>H1 page</html>"
    assert client.get("/H1/status.json").get_json()["production_version"] == 3
    assert client.get("/H1").status_code in (301, 302, 308)
    assert client.get("/L1/status.json").status_code == 503
    assert client.get("/V1/").status_code == 404
    assert client.get("/H1/secret.txt").status_code == 404
    assert client.get("/status.json").get_json() == {"H1": SUMMARY, "L1": None}


@pytest.mark.parametrize(
    "detectors, dirs, message",
    [
        (["H1", "L1"], ["a"], "differ in length"),
        (["H1", "H1"], ["a", "b"], "each detector once"),
        (["status.json"], ["a"], "cannot be page names"),
    ],
)
def test_bad_detector_lists(detectors, dirs, message):
    """Lists that cannot make a page are configuration errors naming the problem."""
    with pytest.raises(ConfigError, match=message):
        _by_detector(detectors, [Path(d) for d in dirs])


def test_status_service_serves_the_configured_detectors(tmp_path):
    """``python -m deepclean_monitor.status_server`` on a two-detector configuration serves both at one URL."""
    port = free_port()
    config = tmp_path / "pyproject.toml"
    config.write_text(
        '[tool.typeo.base]\ndetectors = ["H1", "L1"]\n'
        '[tool.typeo.detectors.H1]\nreports_dir = "reports/H1"\n[tool.typeo.detectors.L1]\nreports_dir = "reports/L1"\n'
        '[tool.typeo.scripts.status]\ndetectors = "${base.detectors}"\n'
        f'reports_dirs = "${{detectors.reports_dir}}"\nstatus_port = {port}\n'
    )
    (tmp_path / "reports" / "L1").mkdir(parents=True)
    (tmp_path / "reports" / "L1" / "status.json").write_text(json.dumps(SUMMARY))
    service = subprocess.Popen(
        [sys.executable, "-m", "deepclean_monitor.status_server", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert service.poll() is None, service.stdout.read()
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/status.json", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the status service never answered"
                time.sleep(0.2)
        assert answer.json() == {"H1": None, "L1": SUMMARY}
    finally:
        service.terminate()
        service.wait(timeout=30)
    assert service.returncode == 0


@pytest.mark.parametrize(
    "content, reason",
    [
        ("[1, 2]", "status.json holds a list, not an object"),
        ('"written"', "status.json holds a string, not an object"),
        ("null", "status.json holds null, not an object"),
        ('{"production_version": "3"}', "production_version is &#x27;3&#x27;, not an integer"),
        ('{"canary_version": true}', "canary_version is True, not an integer"),
        ('{"versions": [3]}', "versions is a list, not an object"),
        ('{"production_version": 3, "versions": {"3": 0.5}}', "versions[&#x27;3&#x27;] is a number, not an object"),
        (
            '{"production_version": 3, "versions": {"3": {"band_ratio": "low"}}}',
            "versions[&#x27;3&#x27;].band_ratio is &#x27;low&#x27;, not a number",
        ),
        ('{"lag": {"cleaned_age_seconds": "2"}}', "lag.cleaned_age_seconds is &#x27;2&#x27;, not a number"),
        ('{"lag": 5}', "lag is a number, not an object"),
        ("{not json", "status.json is not JSON"),
        (b"\xff\xfe", "status.json is not UTF-8 text"),
    ],
)
def test_an_unreadable_status_is_that_detectors_row_only(tmp_path, content, reason):
    """A status.json that is not the summary the overview reads (another JSON type, a string for a number, not
    JSON) makes that detector's row "unreadable" with the reason; the page is served and H1's row is intact."""
    for name in ("H1", "L1"):
        (tmp_path / name).mkdir()
    (tmp_path / "H1" / "status.json").write_text(json.dumps(SUMMARY))
    target = tmp_path / "L1" / "status.json"
    target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    client = create_app({"H1": tmp_path / "H1", "L1": tmp_path / "L1"}).test_client()
    answer = client.get("/")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    h1 = page[page.index('<tr id="H1">') :].split("</tr>")[0]
    assert "<td>3</td><td>4</td><td>0.0812</td><td>101.5 / 104.2</td><td>2</td>" in h1
    l1 = page[page.index('<tr id="L1">') :].split("</tr>")[0]
    assert '<td colspan="6" class="warn">unreadable: ' in l1 and reason in l1
    summaries = client.get("/status.json")
    assert summaries.status_code == 200 and summaries.get_json() == {"H1": SUMMARY, "L1": None}


def test_the_overview_of_summaries_passed_directly_checks_them_too():
    """overview_html given a summary that does not fit shows the row as unreadable instead of raising."""
    from deepclean_monitor.status_page import Unreadable, overview_html

    page = overview_html([("H1", {"production_version": [1]}), ("L1", Unreadable("disk on fire")), ("V1", SUMMARY)])
    assert "unreadable: production_version is [1], not an integer" in page
    assert "unreadable: disk on fire" in page and "<td>0.0812</td>" in page
