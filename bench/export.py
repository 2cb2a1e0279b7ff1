"""Export time of one model version, and the inference speed of what was exported.

    .venvs/exporter/bin/python bench/export.py [--repeats 5] [--witnesses 21]

Builds a training directory with the full-size network (random weights,
metadata per docs/interfaces.md), then times the whole export pipeline
(checks, ONNX export, ONNX-vs-torch comparison, publish, pins, config.pbtxt,
pruning) in process and once through the real waitress server over HTTP.
Prints the median and worst export time, the split between ONNX export and
the comparison, and the exported model's real-time factor through
onnxruntime (seconds of witness data per second of wall time).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import requests
import torch
import waitress
from waitress import wasyncore

from deepclean.testing.training_directory import training_metadata, write_training_dir
from deepclean_exporter import onnx_export
from deepclean_exporter.app import create_app
from deepclean_exporter.exporter import Exporter
from deepclean_exporter.settings import ExportSettings
from deepclean_exporter.training_dir import load_training

SAMPLE_RATE = 4096


def realtime_factor(onnx_path: Path, channels: int, threads: int, seconds: int = 8) -> float:
    """Seconds of witness data per wall second, streaming 1 s blocks through onnxruntime."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
    block = np.random.default_rng(0).standard_normal((1, channels, SAMPLE_RATE)).astype(np.float32)
    session.run(["noise"], {"witness": block})  # warm-up
    started = time.perf_counter()
    for _ in range(seconds):
        session.run(["noise"], {"witness": block})
    return seconds / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--witnesses", type=int, default=21)
    parser.add_argument("--check-samples", type=int, default=4096)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--ort-threads", type=int, default=2)
    parser.add_argument("--kernel-size", type=int, default=7)
    parser.add_argument("--plain", action="store_true", help="without the mains x witness products")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    channels = [f"H1:BENCH-WITNESS_{i}" for i in range(args.witnesses)]
    kwargs = {"num_witnesses": args.witnesses, "kernel_size": args.kernel_size}
    if not args.plain:
        kwargs["mains_index"] = 0  # as the trainer builds it: the mains monitor is the first witness

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "training"
        # A repeated export of one training run returns its version: each repeat exports a new run.
        metadata = training_metadata(dict.fromkeys(channels, 512), kwargs, sample_rate=SAMPLE_RATE)
        for repeat in range(args.repeats + 1):
            write_training_dir(root / f"run-{repeat}", metadata, seed=repeat)
        settings = ExportSettings(
            model_repository=Path(scratch) / "repo",
            model_name="deepclean",
            training_root=root,
            witness_channels=tuple(channels),
            sample_rate=SAMPLE_RATE,
            check_samples=args.check_samples,
            keep_versions=3,
        )
        exporter = Exporter(settings)
        exporter.start()

        totals = []
        for repeat in range(args.repeats):
            started = time.perf_counter()
            version = exporter.export(f"run-{repeat}").version
            totals.append(time.perf_counter() - started)

        network = onnx_export.build_network(load_training(root / "run-0", tuple(channels), SAMPLE_RATE))
        onnx_path = Path(scratch) / "split.onnx"
        started = time.perf_counter()
        onnx_export.export_onnx(network, onnx_path, settings.onnx_opset, args.check_samples)
        export_seconds = time.perf_counter() - started
        started = time.perf_counter()
        check = onnx_export.check_onnx(network, onnx_path, args.check_samples, settings.onnx_atol, settings.onnx_rtol)
        check_seconds = time.perf_counter() - started

        token = "bench"
        server = waitress.create_server(create_app(exporter, token), host="127.0.0.1", port=0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        started = time.perf_counter()
        response = requests.post(
            f"http://127.0.0.1:{server.effective_port}/export",
            json={"training_dir": f"run-{args.repeats}"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
        )
        http_seconds = time.perf_counter() - started
        server.trigger.pull_trigger(lambda: (server.task_dispatcher.shutdown(), wasyncore.close_all(server._map)))
        thread.join(timeout=5)
        if response.status_code != 201:
            raise SystemExit(f"HTTP export failed: {response.status_code} {response.text}")

        rtf = realtime_factor(exporter.model.model_file(version), args.witnesses, args.ort_threads)
        size_kib = exporter.model.model_file(version).stat().st_size / 1024

    print(f"network: DeepClean(**{kwargs}), ONNX {size_kib:.0f} KiB, torch threads {args.torch_threads}")
    print(
        f"export of one version (in process, {args.repeats} runs): "
        f"median {statistics.median(totals):.2f} s, worst {max(totals):.2f} s"
    )
    print(f"  of which ONNX export {export_seconds:.2f} s, ONNX-vs-torch check {check_seconds:.2f} s")
    print(
        f"  check: max |onnx - torch| {check.max_abs_difference:.2e} "
        f"(tolerance {check.atol:g} + {check.rtol:g}*|torch|, max |torch| {check.max_abs_output:.2f})"
    )
    print(f"export of one version over HTTP (waitress, POST /export): {http_seconds:.2f} s")
    print(
        f"exported model through onnxruntime ({args.ort_threads} threads, 1 s blocks at {SAMPLE_RATE} Hz): "
        f"real-time factor {rtf:.0f}x"
    )


if __name__ == "__main__":
    main()
