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
import subprocess
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from fault_services import MODEL_NAME

from deepclean.frames import read_frame, write_frame
from deepclean.model_repository import PYTHON_BACKEND_MODEL, Platform, TritonModelConfig
from deepclean.testing.model_versions import pin_versions, publish_version
from deepclean.testing.processes import free_port, stop
from deepclean.testing.training_directory import training_metadata

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
    import sys
    from pathlib import Path
    from deepclean.testing.model_versions import write_random_network
    write_random_network(Path(sys.argv[1]), int(sys.argv[2]), seed=int(sys.argv[3]))
    """
)


def make_repository(root: Path) -> Path:
    """Versions 1 and 2 (random weights) as python-backend models of MODEL_NAME (the model the cleaner
    cleans with under the project's configuration, H1's); production 1, canary 2."""
    model_dir = root / MODEL_NAME
    for version in (1, 2):
        add_version(model_dir, version)
    write_config(model_dir, (1, 2))
    pin_versions(model_dir, production=1, canary=2)
    return root


def write_config(model_dir: Path, versions: tuple[int, ...]) -> None:
    """config.pbtxt of the python-backend model keeping ``versions`` loaded."""
    config = TritonModelConfig(MODEL_NAME, Platform.PYTHON, len(WITNESSES), versions, intra_op_threads=1)
    tmp = model_dir / ".config.pbtxt.tmp"
    tmp.write_text(config.render())
    tmp.replace(model_dir / "config.pbtxt")


def add_version(model_dir: Path, version: int) -> None:
    """Publish ``version`` (random weights, seed = version) with its model.py and metadata, renamed into place."""

    def write_files(staged: Path) -> None:
        export = [str(CLEANER_VENV / "bin" / "python"), "-c", EXPORT, str(staged), str(len(WITNESSES)), str(version)]
        subprocess.run(export, check=True, capture_output=True, timeout=120)
        shutil.copy(PYTHON_BACKEND_MODEL, staged / "model.py")

    metadata = training_metadata(WITNESSES, {"kernel_size": 7}, sample_rate=1024, filter_band=(57.0, 63.0))
    publish_version(model_dir, version, metadata, write_files)


def write_input(data: Path, seconds: int = DURATION, pace: float = 0.0) -> None:
    """Strain (a 60 Hz line in noise) and witness frames from START, one frame pair every ``pace`` s of wall time."""
    rng = np.random.default_rng(0)
    for gps in range(START, START + seconds):
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
        time.sleep(pace)


def wait_until_ready(http_port: int, process: subprocess.Popen, log: Path) -> None:
    """Poll Triton's HTTP readiness of both versions, bounded by STARTUP_TIMEOUT."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    urls = [f"http://127.0.0.1:{http_port}/v2/models/{MODEL_NAME}/versions/{v}/ready" for v in (1, 2)]
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


def start_triton(repository: Path, log: Path, grpc_port: int | None = None) -> tuple[subprocess.Popen, int, int, int]:
    """servers/triton/serve.sh on ``repository`` (gRPC on ``grpc_port``, else free ports): the process, its gRPC,
    HTTP and metrics ports."""
    grpc_port, http_port, metrics_port = grpc_port or free_port(), free_port(), free_port()
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
    return process, grpc_port, http_port, metrics_port


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    """A Triton server on a fresh repository, shared by the module's tests; stopped (process group) at the end."""
    tmp_path = tmp_path_factory.mktemp("triton")
    repository = make_repository(tmp_path / "model-repo")
    log = tmp_path / "triton.log"
    process, grpc_port, http_port, _ = start_triton(repository, log)
    try:
        wait_until_ready(http_port, process, log)
        yield repository, f"127.0.0.1:{grpc_port}"
    finally:
        stop(process)


def clean_command(
    tmp_path: Path, repository: Path, backend: str, url: str, cleaned: Path, seconds: int = DURATION
) -> list[str]:
    """``deepclean-clean`` on the module's input (``seconds`` from START), writing to ``cleaned``."""
    return [
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
        str(START + seconds),
        "--safety",
        "false",
        "--strain_timeout",
        "1",
        "--metrics_port",
        "0",
    ]


def cleaner_env() -> dict[str, str]:
    env = {**os.environ, "DEEPCLEAN_CONFIG": str(ROOT / "pyproject.toml")}
    env.pop("DEEPCLEAN_PROFILE", None)
    return env


def clean(tmp_path: Path, repository: Path, backend: str, url: str, seconds: int = DURATION) -> Path:
    cleaned = tmp_path / f"cleaned-{backend}"
    command = clean_command(tmp_path, repository, backend, url, cleaned, seconds)
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=cleaner_env(), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"with the {backend} backend" in result.stderr
    return cleaned


def assert_same_cleaning(tmp_path: Path, embedded: Path, served: Path, seconds: int = DURATION) -> None:
    """Every frame of ``served`` equals ``embedded`` (DQ, versions, strain to 1e-6 of the estimate), and both
    streams were cleaned after the warm-up."""
    compared = 0
    for gps in range(START, START + seconds):
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
    assert compared >= 2 * (seconds - 10)  # production and canary cleaned after the warm-up


def test_triton_and_embedded_backends_write_the_same_cleaned_frames(tmp_path, triton):
    """Every cleaned frame is the same through Triton's python backend as through onnxruntime in-process."""
    repository, url = triton
    write_input(tmp_path / "data")
    embedded = clean(tmp_path, repository, "embedded", url)
    served = clean(tmp_path, repository, "triton", url)
    assert_same_cleaning(tmp_path, embedded, served)


def test_two_cleaners_at_once_are_both_served_by_one_triton_server(tmp_path, triton):
    """Two cleaner processes (as on two hosts) share one server at the same time: each writes what the
    embedded backend writes."""
    repository, url = triton
    write_input(tmp_path / "data")
    embedded = clean(tmp_path, repository, "embedded", url)
    outputs = [tmp_path / "cleaned-a", tmp_path / "cleaned-b"]
    logs = [tmp_path / "cleaner-a.log", tmp_path / "cleaner-b.log"]
    processes = []
    for cleaned, log in zip(outputs, logs, strict=True):
        with open(log, "w") as out:
            command = clean_command(tmp_path, repository, "triton", url, cleaned)
            processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=cleaner_env()))
    codes = [process.wait(timeout=180) for process in processes]
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    for cleaned, log in zip(outputs, logs, strict=True):
        assert "with the triton backend" in log.read_text()
        assert_same_cleaning(tmp_path, embedded, cleaned)


def inference_count(metrics: str) -> float:
    """Successful inference requests of the model MODEL_NAME, all versions, from Triton's metrics text."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("nv_inference_request_success{") and f'model="{MODEL_NAME}"' in line
    )


def test_auto_backend_takes_up_a_server_that_starts_later_and_cleans_on_when_it_goes(tmp_path, triton):
    """A cleaner on ``auto`` starts with no Triton answering, takes up the server when it starts, and goes back
    to onnxruntime when it stops: each switch logged once, and every second cleaned as the embedded backend
    cleans it (no raw second, no no-model bit)."""
    repository, _ = triton
    seconds = 72
    data = tmp_path / "data"
    (data / "llhoft").mkdir(parents=True)
    (data / "lldetchar").mkdir(parents=True)
    grpc_port = free_port()
    cleaned, log = tmp_path / "cleaned-auto", tmp_path / "cleaner-auto.log"
    command = clean_command(tmp_path, repository, "auto", f"127.0.0.1:{grpc_port}", cleaned, seconds)
    command += ["--triton_probe_interval", "1", "--strain_timeout", "30"]
    server = None
    with open(log, "w") as out:
        cleaner = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=cleaner_env())
    try:
        write_input_thread = threading.Thread(target=write_input, args=(data, seconds, 0.5))
        write_input_thread.start()
        deadline = time.monotonic() + 60  # the cleaner has chosen onnxruntime before the server starts
        while "until Triton answers" not in log.read_text() and time.monotonic() < deadline:
            assert cleaner.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        server_log = tmp_path / "triton-late.log"
        server, _, http_port, metrics_port = start_triton(repository, server_log, grpc_port)
        wait_until_ready(http_port, server, server_log)
        deadline = time.monotonic() + 30
        while "inference backend: triton at" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3.0)  # a few seconds of data through Triton
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as answer:
            served = inference_count(answer.read().decode())
        stop(server)
        write_input_thread.join(timeout=120)
        assert cleaner.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if cleaner.poll() is None:
            cleaner.kill()
        if server is not None and server.poll() is None:
            stop(server)
    text = log.read_text()
    took_up = text.find(f"inference backend: triton at 127.0.0.1:{grpc_port}")
    went_back = text.find("inference backend: embedded (onnxruntime) while Triton")
    assert "until Triton answers" in text
    assert 0 < took_up < went_back, text[-3000:]
    assert text.count("inference backend: triton at") == 1 and text.count("while Triton at") == 1
    assert served > 0, "Triton ran no inference while it was up"
    switches = [line for line in text.splitlines() if "inference backend" in line]
    assert len(switches) == 3, switches  # embedded until it answers, triton, embedded again
    embedded = clean(tmp_path, repository, "embedded", f"127.0.0.1:{grpc_port}", seconds)
    assert_same_cleaning(tmp_path, embedded, cleaned, seconds)


SERVE_NEW_VERSION = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from deepclean.model_repository import ModelRepository
    from deepclean_cleaner.backends import OnnxPredictor, TritonBackend, TritonConnection
    model = ModelRepository(sys.argv[1]).model(sys.argv[3])
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
    model_dir = repository / MODEL_NAME
    add_version(model_dir, 3)
    write_config(model_dir, (1, 2, 3))
    result = subprocess.run(
        [
            str(CLEANER_VENV / "bin" / "python"),
            "-c",
            SERVE_NEW_VERSION,
            str(repository),
            url,
            MODEL_NAME,
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
