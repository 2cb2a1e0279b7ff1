"""Cleaning through a real Triton server gives the same frames as the embedded backend.

The Triton server is the CPU build bundled with nvidia-pytriton, set up by
``./build.sh triton-server`` and started with ``servers/triton/serve.sh`` in
poll mode on a model repository of python-backend versions (``model.py``
running each version's ``model.onnx`` through onnxruntime). The same input is
cleaned twice by the ``deepclean-clean`` command of the cleaner's environment:
once with ``--backend embedded`` and once with ``--backend triton``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from deepclean.frames import read_frame, write_frame
from deepclean.model_repository import PYTHON_BACKEND_MODEL, Platform, TritonModelConfig

ROOT = Path(__file__).resolve().parents[1]
TRITON_VENV = ROOT / ".venvs" / "triton-server"
CLEANER_VENV = ROOT / ".venvs" / "cleaner"
START = 1400000000
DURATION = 24
WITNESSES = {
    "H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024,
    "H1:ASC-INP1_P_OUT_DQ": 256,
    "H1:ASC-DHARD_Y_OUT_DQ": 512,
}
STRAIN = "H1:GDS-CALIB_STRAIN"
STATE = "H1:GDS-CALIB_STATE_VECTOR"
CHANNELS = (
    "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION",
    "H1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY",
)
STARTUP_TIMEOUT = 90.0

pytestmark = [
    pytest.mark.skipif(
        not (TRITON_VENV / "tritonserver" / "bin" / "tritonserver").exists(),
        reason="the Triton server environment is not built (./build.sh triton-server)",
    ),
    pytest.mark.skipif(
        not (CLEANER_VENV / "bin" / "deepclean-clean").exists(),
        reason="the cleaner environment is not built",
    ),
]

EXPORT = textwrap.dedent(
    """
    import json, sys, torch
    from pathlib import Path
    from deepclean.architecture import DeepClean
    directory, seed, channels = Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    torch.manual_seed(seed)
    directory.mkdir(parents=True)
    torch.onnx.export(DeepClean(len(channels)).eval(), (torch.randn(1, len(channels), 1024),),
                      str(directory / "model.onnx"), input_names=["witness"], output_names=["noise"],
                      dynamic_axes={"witness": {0: "batch", 2: "time"}, "noise": {0: "batch", 1: "time"}},
                      dynamo=False)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_repository(root: Path) -> Path:
    """Versions 1 and 2 (random weights) as python-backend models; production 1, canary 2."""
    model_dir = root / "deepclean"
    for version in (1, 2):
        add_version(model_dir, version)
    write_config(model_dir, (1, 2))
    (model_dir / "pins.json").write_text(json.dumps({"production": 1, "canary": 2, "history": [1]}))
    return root


def write_config(model_dir: Path, versions: tuple[int, ...]) -> None:
    """config.pbtxt of the python-backend model keeping ``versions`` loaded."""
    config = TritonModelConfig("deepclean", Platform.PYTHON, len(WITNESSES), versions, intra_op_threads=1)
    tmp = model_dir / ".config.pbtxt.tmp"
    tmp.write_text(config.render())
    tmp.replace(model_dir / "config.pbtxt")


def add_version(model_dir: Path, version: int) -> None:
    """Publish ``version`` (random weights, seed = version) with its model.py and metadata.

    It is written outside the repository and renamed into place, as the exporter does.
    """
    channels = list(WITNESSES)
    staging = model_dir.parent.parent / f"staging-{version}"
    export = [
        str(CLEANER_VENV / "bin" / "python"),
        "-c",
        EXPORT,
        str(staging),
        str(version),
        json.dumps(channels),
    ]
    subprocess.run(export, check=True, capture_output=True, timeout=120)
    shutil.copy(PYTHON_BACKEND_MODEL, staging / "model.py")
    metadata = {
        "ifo": "H1",
        "strain_channel": STRAIN,
        "witness_channels": channels,
        "witness_sample_rates": WITNESSES,
        "sample_rate": 1024,
        "strain_sample_rate": 16384,
        "band": [58.0, 62.0],
        "filter": {"kind": "butter-sos-zero-phase", "order": 8, "band": [57.0, 63.0]},
        "scaler": {
            "witness_mean": [0.0] * 3,
            "witness_std": [1.0] * 3,
            "target_mean": 0.0,
            "target_std": 1e-21,
        },
        "architecture": {
            "name": "DeepClean",
            "kwargs": {"num_witnesses": 3, "kernel_size": 7},
        },
        "version": version,
        "source": "test",
    }
    (staging / "metadata.json").write_text(json.dumps(metadata))
    model_dir.mkdir(parents=True, exist_ok=True)
    staging.rename(model_dir / str(version))


def write_input(data: Path) -> None:
    rng = np.random.default_rng(0)
    for gps in range(START, START + DURATION):
        t = gps + np.arange(16384) / 16384
        write_frame(
            data / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf",
            {
                STRAIN: 1e-21 * np.sin(2 * np.pi * 60 * t) + 1e-22 * rng.normal(size=16384),
                STATE: np.full(16, 3, dtype=np.int32),
            },
            t0=gps,
        )
        write_frame(
            data / "lldetchar" / f"H-H1_lldetchar-{gps}-1.gwf",
            {c: rng.normal(size=rate) for c, rate in WITNESSES.items()},
            t0=gps,
        )


def wait_until_ready(http_port: int, process: subprocess.Popen, log: Path) -> None:
    """Poll Triton's HTTP readiness of both versions, bounded by STARTUP_TIMEOUT."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    urls = [f"http://127.0.0.1:{http_port}/v2/models/deepclean/versions/{v}/ready" for v in (1, 2)]
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tritonserver exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if all(urllib.request.urlopen(url, timeout=1).status == 200 for url in urls):
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"Triton did not load the model within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    """A Triton server on a fresh repository, shared by the module's tests; stopped (process group) at the end."""
    tmp_path = tmp_path_factory.mktemp("triton")
    repository = make_repository(tmp_path / "model-repo")
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    log = tmp_path / "triton.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                "bash",
                str(ROOT / "servers" / "triton" / "serve.sh"),
                str(repository),
                str(grpc_port),
                str(http_port),
                str(metrics_port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_ready(http_port, process, log)
        yield repository, f"127.0.0.1:{grpc_port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def clean(tmp_path: Path, repository: Path, backend: str, url: str) -> Path:
    cleaned = tmp_path / f"cleaned-{backend}"
    command = [
        str(CLEANER_VENV / "bin" / "deepclean-clean"),
        "--model_repository",
        str(repository),
        "--strain_dir",
        str(tmp_path / "data" / "llhoft"),
        "--witness_dir",
        str(tmp_path / "data" / "lldetchar"),
        "--cleaned_dir",
        str(cleaned),
        "--witness_channels",
        json.dumps(list(WITNESSES)),
        "--backend",
        backend,
        "--triton_url",
        url,
        "--start_gps",
        str(START),
        "--stop_gps",
        str(START + DURATION),
        "--safety",
        "false",
        "--strain_timeout",
        "1",
    ]
    env = {**os.environ, "DEEPCLEAN_CONFIG": str(ROOT / "pyproject.toml")}
    env.pop("DEEPCLEAN_PROFILE", None)
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"with the {backend} backend" in result.stderr
    return cleaned


def test_triton_and_embedded_backends_write_the_same_cleaned_frames(tmp_path, triton):
    """Every cleaned frame is the same through Triton's python backend as through onnxruntime in-process."""
    repository, url = triton
    write_input(tmp_path / "data")
    embedded = clean(tmp_path, repository, "embedded", url)
    served = clean(tmp_path, repository, "triton", url)
    compared = 0
    for gps in range(START, START + DURATION):
        a = read_frame(embedded / f"H-H1_DEEPCLEAN-{gps}-1.gwf")
        b = read_frame(served / f"H-H1_DEEPCLEAN-{gps}-1.gwf")
        raw = read_frame(tmp_path / "data" / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf")[STRAIN]
        np.testing.assert_array_equal(a["H1:DEEPCLEAN-DQ"], b["H1:DEEPCLEAN-DQ"])
        np.testing.assert_array_equal(a["H1:DEEPCLEAN-CANARY_VERSION"], b["H1:DEEPCLEAN-CANARY_VERSION"])
        for channel in CHANNELS:
            estimate = raw - a[channel]
            if np.any(estimate):
                compared += 1
            np.testing.assert_allclose(
                b[channel],
                a[channel],
                rtol=0,
                atol=1e-6 * max(np.abs(estimate).max(), 1e-30),
            )
    assert compared >= 2 * (DURATION - 10)  # production and canary cleaned after the warm-up


SERVE_NEW_VERSION = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from deepclean.model_repository import ModelRepository
    from deepclean_cleaner.backends import OnnxPredictor, TritonBackend, TritonConnection
    model = ModelRepository(sys.argv[1]).model("deepclean")
    began = time.monotonic()
    predictor = TritonBackend(TritonConnection(sys.argv[2]), load_timeout=60).load(model, 3)
    waited = time.monotonic() - began
    witness = np.random.default_rng(3).normal(size=(1, 3, 4096 + 224)).astype(np.float32)
    served = predictor.predict(witness)
    local = OnnxPredictor(model.model_file(3)).predict(witness)
    print(waited, float(np.abs(served - local).max()), float(np.abs(local).max()))
    """
)


def test_a_new_version_is_picked_up_in_poll_mode_and_served_by_its_number(triton):
    """A version published while the server runs is loaded by Triton and answers as the file on disk does."""
    repository, url = triton
    model_dir = repository / "deepclean"
    add_version(model_dir, 3)
    write_config(model_dir, (1, 2, 3))
    result = subprocess.run(
        [
            str(CLEANER_VENV / "bin" / "python"),
            "-c",
            SERVE_NEW_VERSION,
            str(repository),
            url,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    waited, difference, scale = (float(x) for x in result.stdout.split())
    assert waited < 60
    assert difference <= 1e-6 * scale
