"""The pins watcher: versions loaded in the background and handed over between blocks."""

import json
import shutil
import time

from conftest import BAND, RATE, WITNESS_RATES, WITNESSES, export_model, settings

from deepclean.model_repository import ModelRepository, file_digests
from deepclean.testing.model_versions import pin_versions, publish_version, write_random_network
from deepclean.testing.training_directory import TRAINING_SPAN, training_metadata
from deepclean_cleaner.backends import EmbeddedBackend
from deepclean_cleaner.watcher import ModelWatcher


def watcher_for(root, **kwargs):
    return ModelWatcher(
        ModelRepository(root).model("deepclean"),
        EmbeddedBackend(),
        settings(),
        **kwargs,
    )


def primed_watcher_for(root, **kwargs):
    """A watcher that has handed over the pinned versions once: what it hands over next is a change."""
    watcher = watcher_for(root, **kwargs)
    watcher.poll()
    watcher.take_changes()
    return watcher


def copy_repository(repository, tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(repository, root)
    return root


def test_pinned_versions_are_handed_over_once(repository, tmp_path):
    """The first poll hands over production and canary; an unchanged pins file hands over nothing."""
    watcher = watcher_for(copy_repository(repository, tmp_path))
    watcher.poll()
    changes = watcher.take_changes()
    assert {slot: model.version for slot, model in changes.items()} == {
        "production": 1,
        "canary": 2,
    }
    watcher.poll()
    assert watcher.take_changes() == {}


def test_a_promotion_and_a_new_canary_are_picked_up_in_the_background(repository, tmp_path):
    """The watcher thread notices new pins within its poll interval."""
    root = copy_repository(repository, tmp_path)
    export_model(root / "deepclean" / "3", seed=3)
    watcher = primed_watcher_for(root, poll_interval=0.05)
    watcher.start()
    try:
        pin_versions(root / "deepclean", 2, 3)
        deadline = time.monotonic() + 10
        changes = {}
        while time.monotonic() < deadline and len(changes) < 2:
            changes.update(watcher.take_changes())
            time.sleep(0.05)
    finally:
        watcher.stop()
    assert {slot: model.version for slot, model in changes.items()} == {
        "production": 2,
        "canary": 3,
    }


def test_an_unpinned_canary_is_handed_over_as_none(repository, tmp_path):
    """Removing the canary pin empties the canary slot."""
    root = copy_repository(repository, tmp_path)
    watcher = primed_watcher_for(root)
    pin_versions(root / "deepclean", 1, None)
    watcher.poll()
    assert watcher.take_changes() == {"canary": None}


def test_a_version_that_does_not_fit_is_refused_and_the_old_one_kept(repository, tmp_path, caplog):
    """A canary whose channels are not configured is logged by version and not handed over."""
    root = copy_repository(repository, tmp_path)
    export_model(root / "deepclean" / "4", seed=4)
    metadata_path = root / "deepclean" / "4" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["witness_channels"][0] = "H1:NOT-A-CONFIGURED_CHANNEL"
    metadata_path.write_text(json.dumps(metadata))
    watcher = primed_watcher_for(root)
    pin_versions(root / "deepclean", 1, 4)
    watcher.poll()
    assert watcher.take_changes() == {}
    assert "version 4" in caplog.text and "H1:NOT-A-CONFIGURED_CHANNEL" in caplog.text


def test_a_pinned_version_that_is_not_published_is_refused(repository, tmp_path, caplog):
    """A pin to a missing version is an error naming it; nothing is handed over."""
    root = copy_repository(repository, tmp_path)
    watcher = primed_watcher_for(root)
    pin_versions(root / "deepclean", 1, 9)
    watcher.poll()
    assert watcher.take_changes() == {}
    assert "version 9" in caplog.text


def _record_checksums(version_dir):
    metadata_path = version_dir / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["export"] = {"files": file_digests(version_dir, ["model.onnx"])}
    metadata_path.write_text(json.dumps(metadata))


def test_a_version_whose_file_no_longer_matches_its_checksum_is_refused(repository, tmp_path, caplog):
    """A model.onnx changed on disk after export (still loadable) is refused by name, not served."""
    root = copy_repository(repository, tmp_path)
    for version, seed in ((4, 4), (5, 5)):
        export_model(root / "deepclean" / str(version), seed=seed)
        _record_checksums(root / "deepclean" / str(version))
    onnx = root / "deepclean" / "5" / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[-200] ^= 0x01  # a low bit of one stored weight: onnxruntime still loads it
    onnx.write_bytes(bytes(data))
    EmbeddedBackend().load(ModelRepository(root).model("deepclean"), 5)  # loadable
    watcher = primed_watcher_for(root)
    pin_versions(root / "deepclean", 4, 5)
    watcher.poll()
    assert {s: m.version for s, m in watcher.take_changes().items()} == {"production": 4}
    assert "model.onnx of version 5 is damaged" in caplog.text


def test_a_loaded_canary_damaged_on_disk_is_not_promoted_into_production(repository, tmp_path, caplog):
    """Files are checked again when a loaded version moves to another slot (a server may reload them)."""
    root = copy_repository(repository, tmp_path)
    for version, seed in ((4, 4), (5, 5)):
        export_model(root / "deepclean" / str(version), seed=seed)
        _record_checksums(root / "deepclean" / str(version))
    watcher = watcher_for(root)
    pin_versions(root / "deepclean", 4, 5)
    watcher.poll()
    assert {s: m.version for s, m in watcher.take_changes().items()} == {
        "production": 4,
        "canary": 5,
    }
    onnx = root / "deepclean" / "5" / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[-200] ^= 0x01
    onnx.write_bytes(bytes(data))
    pin_versions(root / "deepclean", 5, 5)
    watcher.poll()
    assert "production" not in watcher.take_changes()
    assert "cannot use model version 5 any more" in caplog.text
    assert "model.onnx of version 5 is damaged" in caplog.text


def test_the_load_line_names_the_span_and_the_band_the_estimate_is_band_passed_to(repository, tmp_path, caplog):
    """An operator reads in the cleaner's log which data a version learned from and which band it cleans
    (a trainer with ``band_widening`` may band-pass a version wider than the configured band)."""
    root = copy_repository(repository, tmp_path)
    metadata = training_metadata(WITNESS_RATES, {"kernel_size": 7}, sample_rate=RATE, band=BAND)
    metadata["filter"]["band"] = [54.0, 66.0]
    publish_version(root / "deepclean", 3, metadata, lambda staged: write_random_network(staged, len(WITNESSES), 3))
    pin_versions(root / "deepclean", 1, 3)
    with caplog.at_level("INFO"):
        watcher_for(root).poll()
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("loaded model version 3"))
    start, end = TRAINING_SPAN
    assert f"trained on GPS {start}-{end}" in line and "band-passed to 54-66 Hz (zero-phase)" in line
