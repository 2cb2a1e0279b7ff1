"""The digest cache of repeated integrity checks: hashes a file once, again whenever it changes."""

from __future__ import annotations

import os

import pytest

from deepclean.model_repository import DigestCache, IntegrityError, integrity, verify_files


def test_a_file_is_hashed_once_while_it_is_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"weights" * 1000)
    hashed = []
    real = integrity.sha256_of
    monkeypatch.setattr(integrity, "sha256_of", lambda p: hashed.append(p) or real(p))
    cache = DigestCache()
    assert cache(path) == cache(path) == real(path)
    assert hashed == [path]


def test_contents_rewritten_with_the_same_size_and_time_are_hashed_again(tmp_path):
    """A damaged file that keeps its size and modification time still changes its change time."""
    path = tmp_path / "model.onnx"
    path.write_bytes(b"a" * 4096)
    before = os.stat(path)
    cache = DigestCache()
    first = cache(path)
    path.write_bytes(b"b" * 4096)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert cache(path) == integrity.sha256_of(path) != first


def test_verify_files_with_the_cache_refuses_a_damaged_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"good")
    metadata = {"version": 3, "export": {"files": {"model.onnx": integrity.sha256_of(path)}}}
    cache = DigestCache()
    verify_files(tmp_path, metadata, cache)
    path.write_bytes(b"evil")
    with pytest.raises(IntegrityError, match="model.onnx of version 3 is damaged"):
        verify_files(tmp_path, metadata, cache)
