"""The served status page: the monitor's own server, in a real headless browser, and the server alone."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import requests
from synthetic_cleaning import write_seconds

from deepclean.config import load_table
from deepclean.testing.browser import run_chromium
from deepclean.testing.processes import free_port
from deepclean_monitor.status_server import serve_status_page, start_status_server

T0 = 1_400_000_000
CONFIG = Path(__file__).resolve().parents[3] / "pyproject.toml"


def command_line(settings: dict) -> list[str]:
    """``deepclean-monitor`` arguments for the keyword arguments ``settings`` of ``monitor()``."""
    arguments = []
    for key, value in settings.items():
        if isinstance(value, tuple):
            value = json.dumps(list(value))
        elif isinstance(value, bool):
            value = str(value).lower()
        arguments.append(f"--{key}={value}")
    return arguments


def wait_for_summary(url: str, monitor: subprocess.Popen, ready, timeout: float = 120.0) -> dict:
    """The served ``status.json`` once ``ready(summary)`` holds; fails if the monitor exits or time runs out
    (``monitor.stderr_path``: where its standard error goes)."""
    deadline = time.monotonic() + timeout
    summary = None
    while time.monotonic() < deadline:
        if monitor.poll() is not None:
            pytest.fail(f"the monitor exited ({monitor.returncode}): {monitor.stderr_path.read_text()[-3000:]}")
        try:
            answer = requests.get(url + "status.json", timeout=5)
        except requests.ConnectionError:
            answer = None
        if answer is not None and answer.status_code == 200:
            summary = answer.json()
            if ready(summary):
                return summary
        time.sleep(0.5)
    pytest.fail(f"status.json never showed the promotion within {timeout} s; last: {summary}")


def stop_monitor(process: subprocess.Popen, timeout: float = 60.0) -> int:
    """SIGTERM the monitor and its exit status; if it has not exited within ``timeout`` s the test fails
    with every thread's stack (SIGUSR1, deepclean.entry_point) and the end of its standard error."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)
        time.sleep(2)
        process.kill()
        process.wait(timeout=10)
        stderr = process.stderr_path.read_text()[-6000:]
        pytest.fail(f"the monitor did not exit within {timeout:.0f} s of SIGTERM; its standard error:\n{stderr}")


@pytest.fixture
def running_monitor(frame_dirs, exporter, monitor_settings, tmp_path):
    """``deepclean-monitor`` from the repository's configuration, serving its page, over a run in which
    canary 2 (90 % removed) is promoted over production 1 (50 %); stopped with SIGTERM afterwards."""
    exporter.exporter.production, exporter.exporter.canary = 1, 2
    write_seconds(frame_dirs, T0, 24, production=(1, "clean50"), canary=(2, "clean90"))
    write_seconds(frame_dirs, T0 + 24, 16, production=(2, "clean90"), canary=(3, "clean50"))
    port = free_port()
    settings = {
        **monitor_settings,
        "exit_when_idle": False,
        "report_interval": 2.0,
        "metrics_port": 0,
        "status_port": port,
    }
    # standard error to a file: a pipe nobody reads fills up and blocks the monitor's writes (and its exit)
    stderr_path = tmp_path / "monitor.stderr"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "deepclean_monitor", f"--config={CONFIG}", *command_line(settings)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    process.stderr_path = stderr_path
    try:
        yield process, f"http://127.0.0.1:{port}/"
    finally:
        if process.poll() is None:
            stop_monitor(process)


def test_served_page_in_a_headless_browser(running_monitor, exporter, tmp_path):
    """The running monitor serves its page: it opens in chromium over HTTP with the versions, the decision,
    the streams' lag in words and both plots drawn, and status.json holds the same figures; it called its
    configured model's routes of the exporter."""
    process, url = running_monitor
    summary = wait_for_summary(
        url, process, lambda s: s["production_version"] == 2 and s["lag"]["monitor_gps"] == T0 + 39
    )
    assert [d["label"] for d in summary["decisions"]] == ["promote 2"]
    assert set(exporter.exporter.models) == {load_table("monitor", CONFIG)["model_name"]}
    assert summary["lag"]["cleaning_behind_seconds"] == 0 and summary["lag"]["monitor_behind_seconds"] == 0
    assert summary["versions"]["2"]["better_than_raw"] is True

    dom = run_chromium(tmp_path, "--dump-dom", url).stdout
    assert 'id="production">production: <b>2</b>' in dom
    assert 'id="canary">canary: <b>3</b>' in dom
    assert "promote 2</b> (from 1)" in dom
    assert "cleaning 0 s behind the input" in dom
    assert not re.search(r"\D-\d+ s\b", dom)  # no negative lag, on any feed
    assert 'src="asd.png?gps=' in dom and 'src="band_ratio.png?gps=' in dom
    served_json = run_chromium(tmp_path, "--dump-dom", url + "status.json").stdout
    in_browser = json.loads(html.unescape(re.search(r"<pre[^>]*>(.*?)</pre>", served_json, re.S).group(1)))
    assert in_browser["decisions"][0]["label"] == "promote 2"

    screenshot = tmp_path / "served.png"
    run_chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,1700", url)
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[:2] == (1700, 1280)
    # the plots came over HTTP and were drawn: many distinct colours, not a page of broken images
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1])[::7], axis=0)) > 50
    if os.environ.get("DEEPCLEAN_KEEP_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["DEEPCLEAN_KEEP_SCREENSHOT"])

    assert stop_monitor(process) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "index.html").write_text("<!DOCTYPE html><title>DeepClean monitor</title>")
    (reports / "status.json").write_text('{"production_version": 2}')
    (reports / "monitor.prom").write_text("deepclean_monitor_promotions_total 1.0\n")
    (tmp_path / "secret").write_text("not for the web")
    return reports


def test_serves_the_report_files_and_nothing_else(reports_dir):
    """/, status.json and the plots are served from the reports directory, not cached; other files are not."""
    server = start_status_server(reports_dir, 0)
    try:
        page = requests.get(server.url, timeout=5)
        assert page.status_code == 200 and "DeepClean monitor" in page.text
        assert "no-cache" in page.headers["Cache-Control"]
        summary = requests.get(server.url + "status.json", timeout=5)
        assert summary.headers["Content-Type"] == "application/json" and summary.json() == {"production_version": 2}
        not_yet = requests.get(server.url + "asd.png", timeout=5)
        assert not_yet.status_code == 503 and "Retry-After" in not_yet.headers
        for other in ("monitor.prom", "../secret", "%2e%2e/secret", "history/"):
            assert requests.get(server.url + other, timeout=5).status_code == 404, other
        (reports_dir / "status.json").write_text('{"production_version": 3}')
        assert requests.get(server.url + "status.json", timeout=5).json() == {"production_version": 3}
    finally:
        server.stop()


def test_stop_closes_open_connections(reports_dir):
    """Stopping returns promptly even with a browser's keep-alive connection open, and frees the port."""
    server = start_status_server(reports_dir, 0)
    session = requests.Session()
    assert session.get(server.url, timeout=5).status_code == 200
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2 and not server.thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=2)
    start_status_server(reports_dir, server.server.effective_port).stop()  # the port can be bound again


def test_taken_port_is_logged_not_fatal(reports_dir, caplog):
    """A status port already taken is logged and the monitor goes on without the server."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        stop = serve_status_page(reports_dir, taken.getsockname()[1])
        stop()
    assert "cannot serve the status page" in caplog.text


def test_stops_when_its_wake_up_pipe_is_already_closed(reports_dir):
    """A server whose loop can no longer be woken (its trigger's descriptor closed under it) still stops:
    the sockets are closed from the caller and the loop ends within its poll timeout."""
    server = start_status_server(reports_dir, 0)
    assert requests.get(server.url, timeout=5).status_code == 200
    os.close(server.server.trigger.trigger)
    server.stop()
    assert not server.thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=2)
