"""Every kind of damaged file gives a clear error or a validator report naming the file."""
import logging

import numpy as np
import pytest

from xfconvert import H5File, RunDirectory
from xfconvert.exceptions import DataNotFoundError, FileStructureError
from xfconvert.readers.file_access import FileFormatWarning
from xfconvert.readers.validation import validate
from xfconvert.testing import DAMAGE_KINDS, damage_file, make_damaged_file, make_run

UNOPENABLE = {"not_hdf5", "truncated", "missing_metadata", "missing_index"}
BAD_TRAIN_IDS = {"zero_train_id", "unsorted_train_ids", "huge_train_id"}
BAD_INDEX = {"index_past_end", "index_gap", "index_overlap", "index_length_mismatch"}


def test_kinds_are_all_covered():
    assert set(DAMAGE_KINDS) == UNOPENABLE | BAD_TRAIN_IDS | BAD_INDEX


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_validator_reports_each_kind(tmp_path, kind):
    path = make_damaged_file(tmp_path / "RAW-R0001-DA01-S00000.h5", kind)
    problems = validate(path)
    assert problems, f"validator missed {kind}"
    assert all(p.filename == str(path) for p in problems)
    if kind in BAD_INDEX:
        assert any(p.source for p in problems)


@pytest.mark.parametrize("kind", sorted(UNOPENABLE))
def test_unopenable_files_raise_naming_the_file(tmp_path, kind):
    path = make_damaged_file(tmp_path / "RAW-R0001-DA01-S00000.h5", kind)
    with pytest.raises(FileStructureError) as info:
        H5File(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("inc_suspect", [True, False])
@pytest.mark.parametrize("kind", sorted(BAD_TRAIN_IDS))
def test_bad_train_ids_kept_or_dropped_as_extra_data(tmp_path, kind, inc_suspect, caplog):
    ed = pytest.importorskip("extra_data")
    path = make_damaged_file(tmp_path / "RAW-R0001-DA01-S00000.h5", kind)
    with caplog.at_level(logging.INFO, logger="xfconvert"):
        data = H5File(path, inc_suspect_trains=inc_suspect)
    ref = ed.H5File(str(path), inc_suspect_trains=inc_suspect)
    assert data.train_ids == [int(t) for t in ref.train_ids]
    assert 0 not in data.train_ids
    if kind != "zero_train_id":
        assert str(path) in caplog.text and "suspect" in caplog.text
    for src in data.all_sources:
        for key in data.keys_for_source(src):
            kd = data[src, key]
            assert kd.ndarray().shape[0] == kd.data_counts(labelled=False).sum()
            if kind != "zero_train_id":  # 1.25 misaligns the index after a zero inside it
                np.testing.assert_array_equal(np.sort(kd.ndarray(), axis=0),
                                              np.sort(ref[src, key].ndarray(), axis=0))


@pytest.mark.parametrize("kind, message", [("index_past_end", "past the end"),
                                           ("index_length_mismatch", "entries")])
def test_bad_index_raises_on_read(tmp_path, kind, message):
    path = make_damaged_file(tmp_path / "RAW-R0001-DA01-S00000.h5", kind)
    data = H5File(path)
    source = [p.source for p in validate(path) if p.source][0]
    with pytest.raises(FileStructureError, match=message) as info:
        for key in data.keys_for_source(source):
            data[source, key].ndarray()
    assert str(path) in str(info.value) and source in str(info.value)


@pytest.mark.parametrize("kind", sorted(UNOPENABLE))
def test_run_with_one_broken_file(tmp_path, kind):
    run_dir = make_run(tmp_path / "r0001", n_trains=6, n_sequences=2)
    broken = sorted(run_dir.glob("*DA01*"))[1]
    damage_file(broken, kind)
    with pytest.warns(FileFormatWarning, match="Skipping unusable file") as record:
        run = RunDirectory(run_dir)
    assert any(str(broken) in str(w.message) for w in record)
    assert str(broken) not in [fa.filename for fa in run.files]
    assert len(run.train_ids) == 6  # DA02 still covers every train
    with pytest.raises(FileStructureError) as info:
        RunDirectory(run_dir, strict=True)
    assert str(broken) in str(info.value)
    assert any(str(broken) in str(p) for p in validate(run_dir))


def test_run_with_no_usable_file(tmp_path):
    run_dir = make_run(tmp_path / "r0001", n_trains=4)
    for path in run_dir.glob("*.h5"):
        damage_file(path, "not_hdf5")
    with pytest.warns(FileFormatWarning), pytest.raises(FileStructureError) as info:
        RunDirectory(run_dir)
    assert str(run_dir) in str(info.value) and "no usable file" in str(info.value)
    assert any("no usable file" in p.message for p in validate(run_dir))


def test_missing_paths(tmp_path):
    for call in (lambda: RunDirectory(tmp_path / "nowhere"),
                 lambda: H5File(tmp_path / "nothing.h5")):
        with pytest.raises(DataNotFoundError, match="not found") as info:
            call()
        assert isinstance(info.value, FileNotFoundError)
        assert str(tmp_path) in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .h5 files"):
        RunDirectory(tmp_path / "empty")
