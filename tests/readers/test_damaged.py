"""Every kind of damaged file gives a clear error or a validator report naming the file."""
import numpy as np
import pytest

from xfconvert import H5File, RunDirectory
from xfconvert.exceptions import FileStructureError, XfconvertError
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


@pytest.mark.parametrize("kind", sorted(BAD_TRAIN_IDS))
def test_bad_train_ids_raise_unless_skipped(tmp_path, kind):
    path = make_damaged_file(tmp_path / "RAW-R0001-DA01-S00000.h5", kind)
    with pytest.raises(FileStructureError, match="train ID") as info:
        H5File(path)
    assert str(path) in str(info.value)
    data = H5File(path, skip_suspect_trains=True)
    tids = np.array(data.train_ids)
    assert (np.diff(tids) > 0).all() and (tids > 0).all()
    assert len(tids) >= 8
    for src in data.all_sources:
        for key in data.keys_for_source(src):
            kd = data[src, key]
            assert kd.ndarray().shape[0] == kd.data_counts(labelled=False).sum()


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


def test_run_with_one_broken_file(tmp_path):
    run_dir = make_run(tmp_path / "r0001", n_trains=6, n_sequences=2)
    broken = sorted(run_dir.glob("*DA01*"))[1]
    damage_file(broken, "truncated")
    with pytest.raises(FileStructureError) as info:
        RunDirectory(run_dir)
    assert broken.name in str(info.value)
    run = RunDirectory(run_dir, file_filter=lambda paths: [p for p in paths if p != str(broken)])
    assert len(run.train_ids) == 6  # DA02 still covers every train
    assert any(str(broken) in str(p) for p in validate(run_dir))


def test_missing_paths(tmp_path):
    with pytest.raises(FileStructureError, match="not found"):
        RunDirectory(tmp_path / "nowhere")
    with pytest.raises(FileStructureError, match="not found"):
        H5File(tmp_path / "nothing.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(XfconvertError, match="no .h5 files"):
        RunDirectory(tmp_path / "empty")
