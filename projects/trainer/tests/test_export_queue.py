"""Tests of sending finished trainings to the exporter."""

from __future__ import annotations

import threading

import torch
from exporter_stub import TOKEN, ExporterStub

from deepclean.exporter_api import ExporterClient
from deepclean.testing.training_directory import training_metadata
from deepclean_trainer.export_queue import ExportWorker, pending, send_pending
from deepclean_trainer.training_directory import write_training_directory

HISTORY = [{"steps": 1, "train_loss": 1.0, "validation_loss": 1.0, "learning_rate": 1e-3}]


def make(root, name, end, ratio, noise_added_bins=None, ranges=None):
    log = root / "x.log"
    log.write_text("")
    meta = training_metadata({"H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024})
    meta.update(span={"start": 0, "end": end}, validation={"loss": 0.1, "band_asd_ratio": ratio})
    if noise_added_bins is not None:
        meta["validation"]["noise_added_bins"] = noise_added_bins
    if ranges is not None:
        meta["validation"].update(range_raw_mpc=ranges[0], range_cleaned_mpc=ranges[1])
    return write_training_directory(root, name, {"w": torch.zeros(1)}, meta, HISTORY, log)


def test_only_clearly_cleaning_versions_are_sent(tmp_path, monkeypatch):
    """A version whose validation ratio is above the limit is never sent; the others are, oldest first."""
    monkeypatch.setenv("DEEPCLEAN_EXPORTER_TOKEN", TOKEN)
    good_old, bad, good_new = (
        make(tmp_path, "a", 100, 0.3),
        make(tmp_path, "b", 200, 0.97),
        make(tmp_path, "c", 300, 0.5),
    )
    assert pending(tmp_path, 0.9) == [good_old, good_new]
    with ExporterStub() as stub:
        versions = send_pending(ExporterClient(stub.url), tmp_path, 0.9, threading.Event())
    assert versions == [1, 2]
    assert [r["body"]["training_dir"] for r in stub.requests] == [str(good_old.path), str(good_new.path)]
    assert good_old.exported_version == 1 and good_new.exported_version == 2
    assert bad.exported_version is None
    assert pending(tmp_path, 0.9) == []


def test_a_version_that_added_noise_next_to_the_band_on_its_validation_data_is_not_sent(tmp_path):
    """Clearly cleaning in the band is not enough: a bin outside it with noise added keeps it on disk only."""
    clean = make(tmp_path, "a", 100, 0.3, noise_added_bins=[])
    make(tmp_path, "b", 200, 0.3, noise_added_bins=[53.0, 54.0])
    unrecorded = make(tmp_path, "c", 300, 0.3)
    assert pending(tmp_path, 0.9) == [clean, unrecorded]


def test_a_version_that_lost_bns_range_on_its_validation_data_is_not_sent(tmp_path):
    """The cleaned held-out strain less sensitive than raw (by more than the library's tolerance) keeps a
    version back, however well it cleans the band; one that gained range, or held it to the tolerance, goes."""
    lost = make(tmp_path, "a", 100, 0.3, ranges=(123.00, 122.88))
    gained = make(tmp_path, "b", 200, 0.3, ranges=(123.00, 123.25))
    held = make(tmp_path, "c", 300, 0.3, ranges=(123.00, 123.00 * (1 - 5e-5)))
    unknown = make(tmp_path, "d", 400, 0.3, ranges=(123.00, float("nan")))
    assert lost.schema.validation.range_lost and unknown.schema.validation.range_lost
    assert pending(tmp_path, 0.9) == [gained, held]


def test_results_left_while_exporter_was_down_are_sent_after_restart(tmp_path, monkeypatch):
    """An exporter outage leaves the version pending; a later worker (a restart) sends it."""
    monkeypatch.setenv("DEEPCLEAN_EXPORTER_TOKEN", TOKEN)
    directory = make(tmp_path, "a", 100, 0.3)
    down = ExporterClient("http://127.0.0.1:9", export_timeout=0.5)
    assert send_pending(down, tmp_path, 0.9, threading.Event(), max_attempts=1) == []
    assert pending(tmp_path, 0.9) == [directory]

    stop = threading.Event()
    with ExporterStub(failures=1) as stub:
        worker = ExportWorker(ExporterClient(stub.url), tmp_path, 0.9, stop, first_delay=0.01)
        worker.start()
        for _ in range(200):
            if directory.exported_version is not None:
                break
            stop.wait(0.05)
        stop.set()
        worker.join(timeout=5)
    assert directory.exported_version == 1
