"""The whole loop for two detectors at once, served by one real Triton server.

``./run.sh --headless --triton --detectors H1,L1`` (:mod:`loop_suite`): one exporter and
one model repository with a model per detector, one Triton server (the CPU build bundled
with nvidia-pytriton, python backend, poll mode) serving both, and per detector a synthetic
detector, a trainer, a cleaner (``backend = "auto"``) and a monitor. Each detector's first
version is exported, cleaned as canary, promoted and cleaned as production; Triton's own
metrics count the inferences it ran for each model's version.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from loop_suite import ROOT, check_cleaned_stream, running_suite, wait_for_production

from deepclean.testing.processes import free_port

DETECTORS = ["H1", "L1"]
TIMEOUT = 900
IN_FLIGHT = 4  # stream-seconds between a version's inference and its frame on disk, at most, per detector

pytestmark = pytest.mark.skipif(
    not (ROOT / ".venvs" / "triton-server" / "tritonserver" / "bin" / "tritonserver").exists(),
    reason="the Triton server environment is not built (./build.sh triton-server)",
)


def triton_inferences(metrics_url: str) -> dict[tuple[str, int], int]:
    """Successful inferences Triton ran, by (model, version), from its Prometheus metrics."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    pattern = re.compile(r'^nv_inference_request_success\{model="([^"]+)",version="(\d+)"\} (\d+)', re.MULTILINE)
    return {(model, int(version)): int(count) for model, version, count in pattern.findall(text)}


def version_ready(http_url: str, model: str, version: int) -> bool:
    try:
        with urllib.request.urlopen(f"{http_url}/v2/models/{model}/versions/{version}/ready", timeout=5) as response:
            return response.status == 200
    except urllib.error.URLError:
        return False


def test_two_detectors_are_trained_promoted_and_cleaned_through_one_triton_server(tmp_path):
    """Both detectors' versions are promoted; Triton serves and runs both models; both streams are whole and cleaned."""
    grpc, http, metrics = free_port(), free_port(), free_port()
    with running_suite(
        tmp_path,
        DETECTORS,
        triton=True,
        env={"TRITON_HTTP_PORT": str(http), "TRITON_METRICS_PORT": str(metrics)},
        replace={'triton_url = "127.0.0.1:8001"': f'triton_url = "127.0.0.1:{grpc}"'},
    ) as suite:
        metrics_url, http_url = f"http://127.0.0.1:{metrics}/metrics", f"http://127.0.0.1:{http}"
        first = wait_for_production(suite, frames=16, timeout=TIMEOUT)
        versions = {detector: suite.production_version(detector) for detector in DETECTORS}
        # Triton loads a new version at its next repository poll (onnxruntime runs it until then): count
        # from here. Metrics before frames, then frames before metrics, so that every second counted
        # has its inference counted too (up to the few seconds in flight at the first reading).
        served_before = triton_inferences(metrics_url)
        ran_before = {d: suite.version_seconds(d, versions[d]) for d in DETECTORS}
        last = wait_for_production(suite, frames=len(max(first.values(), key=len)) + 24, timeout=TIMEOUT)
        ran_after = {d: suite.version_seconds(d, versions[d]) for d in DETECTORS}
        served_after = triton_inferences(metrics_url)
        for detector in DETECTORS:
            model, version = suite.model(detector), versions[detector]
            assert suite.production_version(detector) == version, f"{detector}: production changed during the test"
            assert version_ready(http_url, model, version), f"Triton does not serve {model} version {version}"
            ran = served_after.get((model, version), 0) - served_before.get((model, version), 0)
            seconds = ran_after[detector] - ran_before[detector]
            report = f"{model} version {version}: Triton ran {ran} inferences while it ran {seconds} stream-seconds"
            print(report)
            # production and canary each call the version once a second: all through Triton, or the count falls short
            assert seconds > 0 and ran >= seconds - IN_FLIGHT, report
            assert suite.canary_seconds(detector, version) > 0, f"{detector}: version {version} never ran as canary"
            check_cleaned_stream(suite, detector, last[detector])
