"""The service end to end: an input frame rewritten, or duplicated, after the cleaner read its second.

Regression: the cleaner ignored such frames without a word. It must keep what it
read first (the cleaned frame is written once and never again), warn once per
stream and second naming the file, and count it in
``deepclean_cleaner_input_frames_replaced_total{stream}``.
"""

import threading
import time

import numpy as np
import pytest
from conftest import STATE, STRAIN, write_input
from test_main import arguments

from deepclean.frames import write_frame
from deepclean_cleaner import main as service

START = 1400000000
REPLACED = START + 3

pytestmark = pytest.mark.timeout(240)


def test_a_rewritten_strain_frame_and_a_duplicate_witness_frame_change_nothing_but_are_reported(
    tmp_path, repository, caplog, monkeypatch
):
    """Once GPS +3 is cleaned its strain frame is rewritten and a second witness file for it appears:
    its cleaned frame stays the one written first, one warning per stream names the GPS and the file,
    and the counter is 1 per stream."""
    created = []

    class Metrics(service.CleanerMetrics):
        def __init__(self):
            super().__init__()
            created.append(self)

    monkeypatch.setattr(service, "CleanerMetrics", Metrics)
    data = tmp_path / "data"
    write_input(data, START, 10)
    cleaned = tmp_path / "cleaned" / f"H-H1_DEEPCLEAN-{REPLACED}-1.gwf"
    strain_file = data / "llhoft" / f"H-H1_llhoft-{REPLACED}-1.gwf"
    duplicate = data / "lldetchar" / f"H-H1_lldetchar-0{REPLACED}-1.gwf"
    first_output = {}

    def replace_inputs_once_cleaned():
        deadline = time.monotonic() + 120
        while not cleaned.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        first_output.update(content=cleaned.read_bytes(), mtime=cleaned.stat().st_mtime_ns)
        write_frame(
            strain_file,
            {STRAIN: np.full(16384, 1e-18), STATE: np.zeros(16, np.int32)},
            REPLACED,
        )
        duplicate.write_bytes((data / "lldetchar" / f"H-H1_lldetchar-{REPLACED}-1.gwf").read_bytes())
        write_input(data, START + 10, 10, seed=1)  # the stream goes on

    writer = threading.Thread(target=replace_inputs_once_cleaned, daemon=True)
    writer.start()
    assert service.main(**arguments(tmp_path, repository, stop_gps=START + 20, strain_timeout=10.0)) == 0
    writer.join()

    assert sorted(p.name for p in (tmp_path / "cleaned").glob("*.gwf")) == [
        f"H-H1_DEEPCLEAN-{g}-1.gwf" for g in range(START, START + 20)
    ]
    assert cleaned.read_bytes() == first_output["content"]
    assert cleaned.stat().st_mtime_ns == first_output["mtime"]  # written once, never again
    warnings = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "frame read first" in r.getMessage()
    ]
    assert len(warnings) == 2
    assert sum(w.startswith(f"GPS {REPLACED}: strain frame {strain_file}") for w in warnings) == 1
    assert sum(w.startswith(f"GPS {REPLACED}: witness frame {duplicate}") for w in warnings) == 1
    (metrics,) = created
    for stream in ("strain", "witness"):
        assert (
            metrics.registry.get_sample_value("deepclean_cleaner_input_frames_replaced_total", {"stream": stream})
            == 1.0
        )
