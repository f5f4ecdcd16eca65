"""FileAccess: one per file, lazy, limited number of open handles, all format versions."""
import pickle

import h5py
import numpy as np
import pytest

from xfconvert.readers.file_access import (FileAccess, classify_train_ids,
                                           get_open_files_limit, set_open_files_limit)
from xfconvert.testing import make_run, write_file
from xfconvert.testing.devices import XGM


def test_same_object_per_file(agipd_run):
    path = sorted(agipd_run.glob("*DA01*"))[0]
    assert FileAccess(path) is FileAccess(str(path))


def test_pickles_by_path(agipd_run):
    fa = FileAccess(sorted(agipd_run.glob("*DA01*"))[0])
    assert pickle.loads(pickle.dumps(fa)) is fa


def test_open_files_limit(tmp_path):
    run_dir = make_run(tmp_path / "r1", detector="dssc", n_modules=6, module_shape=(4, 4),
                       n_trains=2, slow_data=False)
    old = get_open_files_limit()
    set_open_files_limit(3)
    try:
        files = [FileAccess(p) for p in sorted(run_dir.glob("*.h5"))]
        for fa in files:
            fa.get_keys(next(iter(fa.instrument_sources)))
        assert sum(fa._file is not None for fa in files) <= 3
        # a closed file reopens on demand
        assert files[0].get_dataset(next(iter(files[0].instrument_sources)), "image.data").shape
    finally:
        set_open_files_limit(old)
    with pytest.raises(ValueError):
        set_open_files_limit(0)


@pytest.mark.parametrize("version", ["0.5", "1.0", "1.2", "1.3"])
@pytest.mark.parametrize("legacy", [False, True])
def test_metadata_every_version(tmp_path, version, legacy):
    path = write_file(tmp_path / "f.h5", [XGM("SA1_XTD2_XGM/DOOCS/MAIN")], range(5, 10),
                      format_version=version, legacy_index=legacy, pad_trains=2)
    fa = FileAccess(path)
    assert fa.format_version == version
    assert fa.train_ids.tolist() == [5, 6, 7, 8, 9]   # padding dropped
    assert fa.control_sources == {"SA1_XTD2_XGM/DOOCS/MAIN"}
    assert fa.instrument_sources == {"SA1_XTD2_XGM/DOOCS/MAIN:output"}
    first, count = fa.get_index("SA1_XTD2_XGM/DOOCS/MAIN:output", "data")
    assert count.tolist() == [1] * 5 and first.tolist() == [0, 1, 2, 3, 4]
    assert not fa.train_id_problems


def test_files_opened_read_only(agipd_run):
    fa = FileAccess(sorted(agipd_run.glob("*DA01*"))[0])
    assert fa.file.mode == "r"


def test_classify_train_ids():
    pos, problems = classify_train_ids(np.array([1, 2, 2**64 - 1, 4, 5, 0, 0], np.uint64))
    assert pos.tolist() == [0, 1, 2, 3, 4]
    assert problems.out_of_order_positions.tolist() == [2]
    assert problems.suspect_positions.tolist() == [2]  # no flag: out of order is suspect
    pos, problems = classify_train_ids(np.array([10, 11, 3, 13], np.uint64),
                                       flag=np.array([1, 0, 1, 1]))
    assert problems.suspect_positions.tolist() == [1]  # a flag decides alone
    assert problems.out_of_order_positions.tolist() == [2]
    pos, problems = classify_train_ids(np.array([10, 0, 12], np.uint64))
    assert problems.zero_positions.tolist() == [1] and pos.tolist() == [0, 2]
    pos, problems = classify_train_ids(np.zeros(3, np.uint64))
    assert not pos.size and not problems
