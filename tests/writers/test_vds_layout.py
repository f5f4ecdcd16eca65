"""Chunk plans to h5py.VirtualLayout: mappings per chunk, stacking, paths."""
from __future__ import annotations

import dataclasses
import os

import h5py
import numpy as np
import pytest

from xfconvert import RunDirectory
from xfconvert.exceptions import FileStructureError, OptionError
from xfconvert.testing import make_run
from xfconvert.writers.vds_layout import (absolute_path, build_layout, layout_for_chunks,
                                          plan_mappings, relative_to, stack_mappings)

MOD = "SPB_DET_AGIPD1M-1/DET/{}CH0:xtdf"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two AGIPD modules, 3 sequence files, module 1 missing two trains inside a file."""
    return RunDirectory(make_run(
        tmp_path_factory.mktemp("layout") / "r1", detector="agipd", n_modules=2,
        module_shape=(4, 2), n_trains=9, frames_per_train=2, n_sequences=3, seed=7,
        slow_data=False, missing_trains={MOD.format(1): [10006, 10007]}))


def read_layout(tmp_path, layout, fillvalue=None) -> np.ndarray:
    path = tmp_path / "vds.h5"
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("x", layout, fillvalue=fillvalue)
    with h5py.File(path, "r") as f:  # read-only: the source files are open read-only
        return f["x"][()]


def test_one_mapping_per_chunk_and_values(run, tmp_path):
    kd = run[MOD.format(1), "image.data"]
    chunks = kd.chunk_plan()
    mappings = plan_mappings(chunks)
    # Trains missing inside a file leave its entries contiguous: still one chunk per file.
    assert len(mappings) == len(chunks) == 3 < len(kd.train_ids)
    assert [m.dest_start for m in mappings] == [0, 4, 10]
    assert all(os.path.isabs(m.filename) for m in mappings)
    layout = layout_for_chunks(chunks, kd.shape, kd.dtype)
    np.testing.assert_array_equal(read_layout(tmp_path, layout), kd.ndarray())


def test_dest_offset_and_partial_chunks(run, tmp_path):
    kd = run[MOD.format(0), "image.data"]
    chunks = kd.chunk_plan()
    part = [dataclasses.replace(chunks[1], first=chunks[1].first + 2,
                                train_ids=chunks[1].train_ids[1:],
                                counts=chunks[1].counts[1:])]
    mappings = plan_mappings(part, dest_offset=3)
    assert [(m.src_start, m.dest_start, m.n_entries) for m in mappings] == [(2, 3, 4)]
    out = read_layout(tmp_path, build_layout(mappings, (7,) + kd.entry_shape, kd.dtype), 0)
    np.testing.assert_array_equal(out[3:], kd.ndarray()[6:10])
    assert not out[:3].any()


def test_stacking_modules_with_frame_rows(run, tmp_path):
    """Modules on axis 1 of (frames, modules, ...): missing trains stay fill values."""
    train_ids = np.asarray(run.train_ids, dtype=np.uint64)
    frames = 2
    modules, rows = {}, {}
    for m in (0, 1):
        chunks = run[MOD.format(m), "image.data"].chunk_plan()
        modules[m] = chunks
        rows[m] = [np.searchsorted(train_ids, c.entry_train_ids) * frames
                   + np.tile(np.arange(frames), len(c.train_ids)) for c in chunks]
    mappings = stack_mappings(modules, rows, module_axis=1)
    # Module 1's last chunk skips two trains' rows, so it alone is split in two.
    assert len(mappings) == 3 + 4
    kd0 = run[MOD.format(0), "image.data"]
    shape = (len(train_ids) * frames, 2) + kd0.entry_shape
    out = read_layout(tmp_path, build_layout(mappings, shape, kd0.dtype), fillvalue=7)
    np.testing.assert_array_equal(out[:, 0], kd0.ndarray())
    mod1 = run[MOD.format(1), "image.data"]
    present = np.isin(np.repeat(train_ids, frames), mod1.train_id_coordinates())
    np.testing.assert_array_equal(out[present, 1], mod1.ndarray())
    assert (out[~present, 1] == 7).all() and (~present).sum() == 4


def test_rows_split_only_where_they_break(run):
    chunk = run[MOD.format(0), "image.data"].chunk_plan()[1]  # 3 trains x 2 frames
    rows = np.array([10, 11, 12, 20, 21, 22])
    mappings = plan_mappings([chunk], [rows], module=3, module_axis=0)
    assert [(m.src_start, m.dest_start, m.n_entries) for m in mappings] == [(0, 10, 3),
                                                                            (3, 20, 3)]
    assert mappings[1].dest_selection == (3, slice(20, 23))
    assert "rows 20:23" in str(mappings[1])


def test_bad_rows_and_past_end(run):
    chunks = run[MOD.format(0), "image.data"].chunk_plan()
    with pytest.raises(OptionError, match="rows has 1 entries"):
        plan_mappings(chunks, [0])
    with pytest.raises(OptionError, match="expected"):
        plan_mappings(chunks[:1], [np.arange(3)])
    with pytest.raises(OptionError, match="module_axis"):
        stack_mappings({0: chunks}, module_axis=2)
    too_long = dataclasses.replace(chunks[0], counts=chunks[0].counts * 10)
    with pytest.raises(FileStructureError, match="are needed"):
        plan_mappings([too_long])


def test_relative_paths(run, tmp_path):
    kd = run[MOD.format(0), "image.data"]
    mappings = plan_mappings(kd.chunk_plan())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    path_of = relative_to(out_dir)
    layout = build_layout(mappings, kd.shape, kd.dtype, path_of=path_of)
    with h5py.File(out_dir / "v.h5", "w") as f:
        f.create_virtual_dataset("x", layout)
    cwd = os.getcwd()
    os.chdir("/")  # HDF5 resolves relative names against the VDS file, not the cwd
    try:
        with h5py.File(out_dir / "v.h5", "r") as f:
            stored = {m.file_name for m in f["x"].virtual_sources()}
            np.testing.assert_array_equal(f["x"][()], kd.ndarray())
    finally:
        os.chdir(cwd)
    assert all(not os.path.isabs(name) and name.startswith("..") for name in stored)
    assert absolute_path("a.h5") == os.path.abspath("a.h5")
