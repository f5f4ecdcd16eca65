"""The run-map cache: used when valid, ignored when stale or malformed, relocated when
the run directory is read-only."""
import json
import logging
import os

import numpy as np
import pytest

from xfconvert import RunDirectory
from xfconvert.readers import file_access
from xfconvert.readers.run_map import (CACHE_FILENAME, RunMap, decode_train_ranges,
                                       encode_train_ranges)
from xfconvert.testing import make_run


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XFCONVERT_CACHE_DIR", str(tmp_path / "user-cache"))
    return make_run(tmp_path / "r0001", n_trains=8, n_sequences=2)


def test_cache_written_and_used(run_dir, monkeypatch):
    first = RunDirectory(run_dir)
    cache = run_dir / CACHE_FILENAME
    assert cache.exists()
    doc = json.loads(cache.read_text())
    assert len(doc["files"]) == len(first.files)
    # With a valid cache, opening the run must not open any HDF5 file.
    file_access.FileAccess._instances.clear()
    file_access.FileAccess._states.clear()
    opened = []
    real_file = file_access.h5py.File
    monkeypatch.setattr(file_access.h5py, "File",
                        lambda *a, **k: opened.append(a[0]) or real_file(*a, **k))
    again = RunDirectory(run_dir)
    assert opened == []
    assert again.train_ids == first.train_ids
    assert again.all_sources == first.all_sources
    np.testing.assert_array_equal(again["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.xTD"].ndarray(),
                                  first["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.xTD"].ndarray())


def test_stale_entry_is_ignored(run_dir):
    RunDirectory(run_dir)
    cache = run_dir / CACHE_FILENAME
    doc = json.loads(cache.read_text())
    doc["files"][0]["train_id_ranges"] = [[1, 3]]  # wrong, but mtime/size decide
    doc["files"][0]["size"] += 1
    cache.write_text(json.dumps(doc))
    file_access.FileAccess._instances.clear()
    file_access.FileAccess._states.clear()
    run = RunDirectory(run_dir)
    assert run.train_ids == list(range(10000, 10008))
    assert json.loads(cache.read_text())["files"][0]["size"] == os.stat(
        run_dir / doc["files"][0]["filename"]).st_size  # rewritten


@pytest.mark.parametrize("content", ["{not json", '{"schema_version": 2}', "[]",
                                     '{"schema_version": 2, "run_path": "x", "files": [{}]}'])
def test_malformed_cache_warns_and_is_ignored(run_dir, content, caplog):
    (run_dir / CACHE_FILENAME).write_text(content)
    with caplog.at_level(logging.WARNING):
        run = RunDirectory(run_dir)
    assert run.train_ids == list(range(10000, 10008))
    assert "run-map cache" in caplog.text


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_run_dir_uses_user_cache(run_dir, tmp_path):
    os.chmod(run_dir, 0o555)
    try:
        RunDirectory(run_dir)
        assert not (run_dir / CACHE_FILENAME).exists()
        assert list((tmp_path / "user-cache").glob("r0001-*.json"))
    finally:
        os.chmod(run_dir, 0o755)


def test_unwritable_run_dir_falls_back(run_dir, tmp_path, monkeypatch):
    # Simulate a read-only run directory even when running as root.
    rm = RunMap(run_dir)
    blocked = run_dir / CACHE_FILENAME
    blocked.mkdir()  # a directory where the cache file should go: replace() fails
    RunDirectory(run_dir)
    assert list((tmp_path / "user-cache").glob("r0001-*.json"))
    assert RunMap(run_dir).load()
    assert rm.candidates[1].exists()


def test_train_range_encoding_round_trip():
    tids = np.array([5, 6, 7, 10, 12, 13], dtype=np.uint64)
    ranges = encode_train_ranges(tids)
    assert ranges == [[5, 3], [10, 1], [12, 2]]
    np.testing.assert_array_equal(decode_train_ranges(ranges), tids)
    assert decode_train_ranges([]).size == 0


def test_use_cache_false(tmp_path):
    run_dir = make_run(tmp_path / "r0009", n_trains=3)
    RunDirectory(run_dir, use_cache=False)
    assert not (run_dir / CACHE_FILENAME).exists()
