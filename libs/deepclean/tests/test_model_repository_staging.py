"""Tests of new versions: reservation across threads and processes, crashes, publishing, pruning."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from deepclean.model_repository import (
    ModelRepository,
    Pins,
    prune,
    remove_abandoned,
    reserve_version,
    update_pins,
    versions_to_keep,
)


def _model(tmp_path: Path):
    model = ModelRepository(tmp_path / "repo").model("deepclean")
    model.directory.mkdir(parents=True)
    return model


def _publish(model, content: str = "onnx") -> int:
    staged = reserve_version(model)
    (staged.directory / "model.onnx").write_text(content)
    staged.publish()
    return staged.version


def test_staged_version_is_invisible_until_published(tmp_path: Path) -> None:
    """Readers see no version while it is staged, and the whole directory once published."""
    model = _model(tmp_path)
    staged = reserve_version(model)
    (staged.directory / "model.onnx").write_text("onnx")
    assert model.versions() == []
    path = staged.publish()
    assert model.versions() == [1]
    assert (path / "model.onnx").read_text() == "onnx"
    assert not staged.directory.exists()


def test_discarded_version_leaves_nothing(tmp_path: Path) -> None:
    """A failed write (context manager exit without publish) removes its staging directory."""
    model = _model(tmp_path)
    with pytest.raises(RuntimeError), reserve_version(model) as staged:
        (staged.directory / "model.onnx").write_text("half")
        raise RuntimeError("export failed")
    assert model.versions() == []
    assert [p.name for p in model.directory.iterdir()] == [".lock"]


def test_concurrent_reservations_in_threads_get_distinct_versions(tmp_path: Path) -> None:
    """Eight threads publishing at once get versions 1..8, each exactly once."""
    model = _model(tmp_path)
    versions: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        versions.append(_publish(model))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(versions) == list(range(1, 9))
    assert model.versions() == list(range(1, 9))


_RESERVE_AND_WAIT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from deepclean.model_repository import ModelRepository, reserve_version
    model = ModelRepository(Path(sys.argv[1])).model("deepclean")
    staged = reserve_version(model)
    (staged.directory / "model.onnx").write_text("half written")
    print(staged.version, flush=True)
    time.sleep(60)
    """
)


def test_reservations_across_processes_and_a_crashed_writer(tmp_path: Path) -> None:
    """A live writer in another process keeps its version; once it is killed its staging is removed."""
    model = _model(tmp_path)
    writer = subprocess.Popen(
        [sys.executable, "-c", _RESERVE_AND_WAIT, str(model.directory.parent)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "1"
        assert remove_abandoned(model) == []  # the writer is alive: its staging stays
        assert _publish(model) == 2  # and its number is not handed out again
    finally:
        writer.kill()  # a crash mid-export: no clean-up code runs
        writer.wait(timeout=10)
    assert model.versions() == [2]
    removed = remove_abandoned(model)
    assert [p.name for p in removed] == [".staging-1"]
    assert _publish(model) == 3
    assert model.versions() == [2, 3]


def test_remove_abandoned_finishes_an_interrupted_prune_and_temp_files(tmp_path: Path) -> None:
    """Half-deleted versions and unrenamed temporary files from a crash are removed at start-up."""
    model = _model(tmp_path)
    (model.directory / ".pruned-1").mkdir()
    (model.directory / ".pins.json.abc.tmp").write_text("{")
    _publish(model)
    removed = sorted(p.name for p in remove_abandoned(model))
    assert removed == [".pins.json.abc.tmp", ".pruned-1"]
    assert model.versions() == [1]


def test_versions_to_keep_protects_pins_and_rollback() -> None:
    """Keep the newest K, production, canary and the last rollback entries; nothing else."""
    pins = Pins(production=3, canary=9, history=(1, 2, 3))
    keep = versions_to_keep(list(range(1, 11)), pins, keep_last=2, keep_rollback=2)
    assert keep == {2, 3, 9, 10}


def test_prune_removes_old_versions_but_never_production(tmp_path: Path) -> None:
    """After ten exports with version 1 in production, pruning keeps 1 and the newest three."""
    model = _model(tmp_path)
    for _ in range(10):
        _publish(model)
    update_pins(model, lambda pins: pins.with_production(1).with_canary(10))
    removed = prune(model, keep_last=3, keep_rollback=1)
    assert removed == [2, 3, 4, 5, 6, 7]
    assert model.versions() == [1, 8, 9, 10]
    assert _publish(model) == 11  # numbers are never reused
    with pytest.raises(ValueError, match="keep_last"):
        prune(model, keep_last=0, keep_rollback=0)
