"""Reports: the status page in a real headless browser, plots, metrics, summaries, retention."""

from __future__ import annotations

import os
import shutil
import socket

import numpy as np
import pytest
import requests
from synthetic_cleaning import write_seconds

from deepclean.testing.browser import run_chromium
from deepclean.testing.processes import free_port
from deepclean_monitor.main import monitor
from deepclean_monitor.metrics import MonitorMetrics
from deepclean_monitor.summaries import read_summaries

T0 = 1_400_000_000


@pytest.fixture
def promoted_run(frame_dirs, exporter, monitor_settings):
    """A run in which canary 2 (90 % removed) is promoted over production 1 (50 %), spanning three periods."""
    exporter.exporter.production, exporter.exporter.canary = 1, 2
    write_seconds(frame_dirs, T0, 24, production=(1, "clean50"), canary=(2, "clean90"))
    write_seconds(frame_dirs, T0 + 24, 16, production=(2, "clean90"), canary=(3, "clean50"))
    service = monitor(**monitor_settings)
    return service, monitor_settings["reports_dir"]


def test_status_page_in_a_headless_browser(promoted_run, tmp_path):
    """The page opens in chromium, shows the current versions, the decision and both plots."""
    _, reports = promoted_run
    page = (reports / "index.html").resolve()
    dom = run_chromium(tmp_path, "--dump-dom", page.as_uri(), required=False).stdout
    assert 'id="production">production: <b>2</b>' in dom
    assert 'id="canary">canary: <b>3</b>' in dom
    assert '<span id="pins">production 2, canary 2</span>' in dom  # what the fake exporter holds
    assert "promote 2</b> (from 1)" in dom
    assert 'http-equiv="refresh"' in dom
    assert 'src="asd.png?gps=' in dom and 'src="band_ratio.png?gps=' in dom
    screenshot = tmp_path / "status.png"
    run_chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,1700", page.as_uri(), required=False)
    import matplotlib.image

    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[:2] == (1700, 1280)
    # the plots were loaded and drawn: many distinct colours, not a blank page with broken images
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1])[::7], axis=0)) > 50
    if os.environ.get("DEEPCLEAN_KEEP_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["DEEPCLEAN_KEEP_SCREENSHOT"])


def test_metrics_textfile_has_the_figures(promoted_run):
    """monitor.prom holds the ratios per version, the promotion and the frames read."""
    service, reports = promoted_run
    text = (reports / "monitor.prom").read_text()
    ratio_2 = service.state.qualities[2].band_ratio
    assert f'deepclean_monitor_band_asd_ratio{{version="2"}} {ratio_2}' in text
    assert "deepclean_monitor_promotions_total 1.0" in text
    assert "deepclean_monitor_rollbacks_total 0.0" in text
    assert "deepclean_monitor_frames_read_total 40.0" in text
    assert 'deepclean_monitor_live_version{stream="production"} 2.0' in text
    assert "deepclean_monitor_frame_lag_seconds" in text
    assert 'deepclean_monitor_bns_range_mpc{strain="cleaned",version="2"}' in text


def test_summaries_per_period(promoted_run, monitor_settings):
    """Each 16 s period gets one row per version measured in it, with the promotion counted."""
    rows = read_summaries(monitor_settings["summary_file"])
    periods = sorted({int(r["period_start"]) for r in rows})
    assert periods == [T0 - T0 % 16 + 16 * k for k in range(len(periods))] and len(periods) >= 2
    by_version = {int(r["version"]): r for r in rows if int(r["period_start"]) == periods[0]}
    assert by_version[2]["band_ratio_mean"] < by_version[1]["band_ratio_mean"]
    promotions = {int(r["period_start"]): int(r["promotions"]) for r in rows}
    assert sum(promotions.values()) == 1


def test_plots_are_written(promoted_run):
    """Both PNG plots exist, and the period snapshot is kept in history/."""
    _, reports = promoted_run
    for name in ("asd.png", "band_ratio.png"):
        assert (reports / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((reports / "history").glob("band_ratio-*.png"))


def test_retention_removes_old_cleaned_frames_and_snapshots(frame_dirs, exporter, monitor_settings):
    """Cleaned frames older than cleaned_retention_seconds and old report snapshots are removed; raw frames stay."""
    reports = monitor_settings["reports_dir"]
    (reports / "history").mkdir(parents=True)
    (reports / "history" / f"band_ratio-{T0 - 100}.png").write_bytes(b"old")
    write_seconds(frame_dirs, T0, 30, production=(1, "clean90"), canary=(0, "none"))
    monitor(**{**monitor_settings, "cleaned_retention_seconds": 10, "report_retention_seconds": 50})
    left = sorted(int(p.name.split("-")[2]) for p in frame_dirs.cleaned_dir.glob("*.gwf"))
    assert left == list(range(T0 + 19, T0 + 30))
    assert len(list(frame_dirs.strain_dir.glob("*.gwf"))) == 30
    assert not (reports / "history" / f"band_ratio-{T0 - 100}.png").exists()


def test_metrics_served_over_http():
    """The metrics are served on a localhost port and the server stops cleanly."""
    port = free_port()
    metrics = MonitorMetrics()
    metrics.promotions.inc()
    stop = metrics.serve(port)
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        stop()
    assert "deepclean_monitor_promotions_total 1.0" in text
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_busy_metrics_port_is_not_fatal(caplog):
    """If the metrics port is taken the monitor logs it and goes on (the textfile still has the metrics)."""
    from deepclean_monitor.main import serve_metrics

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        stop = serve_metrics(MonitorMetrics(), taken.getsockname()[1])
        stop()
    assert "cannot serve metrics" in caplog.text
