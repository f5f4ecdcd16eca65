"""Opening: suspect trains, duplicate trains, open_run(data=, aliases=), the data root,
paths_collection, run-map cache robustness, and data the validator flags."""
import json
import shutil

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xfconvert import H5File, RunDirectory, open_run
from xfconvert.exceptions import DataNotFoundError, FileStructureError
from xfconvert.readers import file_access
from xfconvert.readers.file_access import FileFormatWarning, guess_suspect_trains
from xfconvert.readers.open import data_root, paths_collection
from xfconvert.readers.run_map import CACHE_FILENAME, RunMap
from xfconvert.readers.validation import validate
from xfconvert.testing import XGM, make_run, write_file

XGM_NAME = "SA1_XTD2_XGM/DOOCS/MAIN"


def xgm_file(path, tids, **kwargs):
    return write_file(path, [XGM(XGM_NAME)], tids, **kwargs)


# ---- suspect trains -----------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=0, max_size=25))
def test_guess_suspect_trains_as_extra_data(values):
    from extra_data.file_access import FileAccess as EdFileAccess
    tids = np.array(values, dtype=np.uint64)
    fake = object.__new__(EdFileAccess)
    fake.train_ids = tids
    np.testing.assert_array_equal(~guess_suspect_trains(tids), fake._guess_valid_trains())


@pytest.mark.parametrize("version", ["0.5", "1.0"])
@pytest.mark.parametrize("inc", [True, False])
def test_flagged_and_out_of_order_trains_as_extra_data(tmp_path, version, inc):
    ed = pytest.importorskip("extra_data")
    path = xgm_file(tmp_path / "RAW-R0001-DA01-S00000.h5", [10, 11, 12, 13, 14, 15],
                    format_version=version, pad_trains=3, flag_zero_trains=[12])
    with h5py.File(path, "r+") as f:
        f["INDEX/trainId"][4] = 99  # out of order, flagged good
    ours, ref = H5File(path, inc_suspect_trains=inc), ed.H5File(str(path), inc_suspect_trains=inc)
    assert ours.train_ids == [int(t) for t in ref.train_ids]
    key = "data.intensityTD"
    src = XGM_NAME + ":output"
    # EXtra-data keeps file order; we give entries in train-ID order.
    order = np.argsort(ref[src, key].train_id_coordinates(), kind="stable")
    np.testing.assert_array_equal(ours[src, key].ndarray(), ref[src, key].ndarray()[order])


# ---- duplicate trains ------------------------------------------------------------------
def _rewritten_run(tmp_path, change=False):
    run_dir = tmp_path / "r0001"
    run_dir.mkdir()
    xgm_file(run_dir / "RAW-R0001-DA01-S00000.h5", range(10, 20), seed=1)
    xgm_file(run_dir / "RAW-R0001-DA01-S00001.h5", range(20, 30), seed=2, sequence=1)
    shutil.copy(run_dir / "RAW-R0001-DA01-S00001.h5", run_dir / "RAW-R0001-DA01-S00002.h5")
    if change:
        with h5py.File(run_dir / "RAW-R0001-DA01-S00002.h5", "r+") as f:
            f[f"INSTRUMENT/{XGM_NAME}:output/data/intensityTD"][3] += 1
    return run_dir


def test_identical_duplicate_file_read_once(tmp_path):
    run_dir = _rewritten_run(tmp_path)
    with pytest.warns(FileFormatWarning, match="identical data") as record:
        run = RunDirectory(run_dir)
    assert any("S00002" in str(w.message) and XGM_NAME in str(w.message) for w in record)
    kd = run[XGM_NAME + ":output", "data.intensityTD"]
    assert run.train_ids == list(range(10, 30))
    assert kd.ndarray().shape[0] == 20 and kd.data_counts(labelled=False).tolist() == [1] * 20
    single = H5File(run_dir / "RAW-R0001-DA01-S00001.h5")
    np.testing.assert_array_equal(kd.select_trains(np.s_[10:]).ndarray(),
                                  single[XGM_NAME + ":output", "data.intensityTD"].ndarray())
    assert any("identical data" in p.message for p in validate(run_dir))


def test_conflicting_duplicate_raises_as_extra_data(tmp_path):
    ed = pytest.importorskip("extra_data")
    run_dir = _rewritten_run(tmp_path, change=True)
    with pytest.raises(ValueError, match="conflicting data"):
        ed.RunDirectory(str(run_dir))
    with pytest.raises(FileStructureError, match="conflicting data") as info:
        RunDirectory(run_dir)
    message = str(info.value)
    assert XGM_NAME + ":output" in message and "S00001" in message and "S00002" in message
    assert any("different data" in p.message for p in validate(run_dir))


def test_repeated_train_id_in_one_file(tmp_path):
    path = xgm_file(tmp_path / "RAW-R0001-DA01-S00000.h5", [10, 11, 12, 13])
    with h5py.File(path, "r+") as f:
        f["INDEX/trainId"][3] = 12
    with pytest.raises(FileStructureError, match="same file, with different data"):
        H5File(path)


# ---- unusable files, paths_collection ---------------------------------------------------
def test_paths_collection(tmp_path):
    run_dir = make_run(tmp_path / "r0001", n_trains=4, n_sequences=2)
    paths = sorted(run_dir.glob("*DA01*.h5"))
    data = paths_collection(paths)
    assert data.train_ids == RunDirectory(run_dir, include="*DA01*").train_ids
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5" * 100)
    with pytest.warns(FileFormatWarning, match="bad.h5"):
        assert paths_collection(paths + [bad]).train_ids == data.train_ids
    with pytest.raises(FileStructureError, match="bad.h5"):
        paths_collection(paths + [bad], strict=True)
    with pytest.raises(DataNotFoundError):
        paths_collection([])


# ---- open_run ---------------------------------------------------------------------------
@pytest.fixture
def proposal(tmp_path, monkeypatch):
    root = tmp_path / "exp"
    prop = root / "SPB" / "202601" / "p700000"
    make_run(prop / "raw" / "r0001", n_trains=4, detector="agipd", n_modules=2,
             module_shape=(4, 4))
    proc = prop / "proc" / "r0001"
    proc.mkdir(parents=True)
    for path in sorted((prop / "raw" / "r0001").glob("*AGIPD*.h5")):
        shutil.copy(path, proc / path.name.replace("RAW", "CORR"))
    monkeypatch.delenv("XFCONVERT_DATA_ROOT", raising=False)
    monkeypatch.setenv("EXTRA_DATA_DATA_ROOT", str(root))
    return prop


def test_data_root_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("EXTRA_DATA_DATA_ROOT", str(tmp_path / "a"))
    monkeypatch.delenv("XFCONVERT_DATA_ROOT", raising=False)
    assert data_root() == tmp_path / "a"
    monkeypatch.setenv("XFCONVERT_DATA_ROOT", str(tmp_path / "b"))
    assert data_root() == tmp_path / "b"


@pytest.mark.parametrize("data", ["default", "all", "raw", "proc", ["raw", "proc"]])
def test_open_run_data(proposal, data):
    raw = RunDirectory(proposal / "raw" / "r0001")
    proc = RunDirectory(proposal / "proc" / "r0001")
    run = open_run(700000, 1, data=data)
    assert run.all_sources == (proc.all_sources if data == "proc" else raw.all_sources)
    detector = sorted(proc.instrument_sources)[0]
    origin = {fa.filename.rsplit("/", 1)[1][:3] for fa in run.files_for_source(detector)}
    expected = "RAW" if data in ("default", "raw") else "COR"
    assert origin == {expected}


def test_open_run_missing(proposal):
    with pytest.raises(FileNotFoundError):
        open_run(700000, 99)
    with pytest.raises(FileNotFoundError):
        open_run(700001, 1)
    shutil.rmtree(proposal / "proc")
    assert open_run(700000, "r0001").all_sources  # 'default': proc may be absent
    with pytest.raises(DataNotFoundError):
        open_run(700000, 1, data="proc")


def test_open_run_aliases(proposal):
    run = RunDirectory(proposal / "raw" / "r0001")
    if not hasattr(run, "with_aliases"):
        pytest.skip("DataCollection.with_aliases is not there yet")
    alias_file = proposal / "usr" / "aliases.json"
    alias_file.parent.mkdir()
    alias_file.write_text(json.dumps({"xgm": XGM_NAME}))
    for aliases in ({"xgm": XGM_NAME}, "{}/usr/aliases.json"):
        run = open_run(700000, 1, aliases=aliases)
        assert run.alias["xgm"].source == XGM_NAME


# ---- run-map cache ---------------------------------------------------------------------
def _cached_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XFCONVERT_CACHE_DIR", str(tmp_path / "user-cache"))
    run_dir = make_run(tmp_path / "r0001", n_trains=5)
    RunDirectory(run_dir)
    file_access.FileAccess._instances.clear()
    file_access.FileAccess._states.clear()
    return run_dir, run_dir / CACHE_FILENAME


@pytest.mark.parametrize("damage", ["latin1", "huge_count", "huge_first", "bad_position"])
def test_bad_cache_is_no_cache(tmp_path, monkeypatch, caplog, damage):
    run_dir, cache = _cached_run(tmp_path, monkeypatch)
    doc = json.loads(cache.read_text())
    entry = doc["files"][0]
    if damage == "latin1":
        cache.write_bytes(json.dumps(doc).replace(XGM_NAME, "SA1_XTD2_XGM/DOOCS/M\xc4IN")
                          .encode("latin-1"))
    else:
        if damage == "huge_count":
            entry["train_id_ranges"] = [[10000, 2**60]]
        elif damage == "huge_first":
            entry["train_id_ranges"] = [[2**64 - 2, 5]]
        else:
            entry["train_id_problems"]["zero_positions"] = [10**9]
        cache.write_text(json.dumps(doc))
    assert RunMap(run_dir).load() == {}
    assert "run-map cache" in caplog.text
    assert RunDirectory(run_dir).train_ids == list(range(10000, 10005))


# ---- data validate flags -----------------------------------------------------------------
def test_legacy_negative_counts(tmp_path):
    path = xgm_file(tmp_path / "RAW-R0001-DA01-S00000.h5", range(10, 15),
                    format_version="0.5", legacy_index=True)
    with h5py.File(path, "r+") as f:
        f[f"INDEX/{XGM_NAME}/last"][2] = 0  # first 2, last 0: count -1
    assert any("negative" in p.message and p.source == XGM_NAME for p in validate(path))
    data = H5File(path)
    with pytest.warns(FileFormatWarning, match="negative") as record:
        counts = data[XGM_NAME, "beamPosition.ixPos"].data_counts(labelled=False)
    assert str(path) in str(record[0].message) and XGM_NAME in str(record[0].message)
    assert counts.tolist() == [1, 1, 0, 1, 1]


def test_overlapping_index_warns(tmp_path):
    path = xgm_file(tmp_path / "RAW-R0001-DA01-S00000.h5", range(10, 15))
    with h5py.File(path, "r+") as f:
        f[f"INDEX/{XGM_NAME}/first"][3] = 2
    assert any("overlap" in p.message for p in validate(path))
    with pytest.warns(FileFormatWarning, match="overlapping") as record:
        H5File(path)[XGM_NAME, "beamPosition.ixPos"].ndarray()
    assert str(path) in str(record[0].message) and XGM_NAME in str(record[0].message)


@pytest.mark.parametrize("damage, message", [
    ("int_sources", "not source names"), ("float_fraction", "not whole numbers"),
    ("string_ids", "not integer"), ("float_whole", None)])
def test_bad_dtypes(tmp_path, damage, message):
    path = xgm_file(tmp_path / "RAW-R0001-DA01-S00000.h5", range(10, 15), pad_trains=1)
    with h5py.File(path, "r+") as f:
        if damage == "int_sources":
            del f["METADATA/dataSources/dataSourceId"]
            f["METADATA/dataSources/dataSourceId"] = np.arange(3)
        else:
            tids = f["INDEX/trainId"][()]
            del f["INDEX/trainId"]
            f["INDEX/trainId"] = {"float_fraction": tids + 0.5, "float_whole": tids * 1.0,
                                  "string_ids": tids.astype("S8")}[damage]
    if message is None:
        with pytest.warns(FileFormatWarning, match="float64"):
            assert H5File(path).train_ids == list(range(10, 15))
    else:
        with pytest.raises(FileStructureError, match=message) as info:
            H5File(path)
        assert str(path) in str(info.value)
    problems = validate(path)
    assert problems and all(p.filename == str(path) for p in problems)


def test_validate_decreasing_timestamp(tmp_path):
    path = xgm_file(tmp_path / "RAW-R0001-DA01-S00000.h5", range(10, 15))
    with h5py.File(path, "r+") as f:
        ts = f[f"CONTROL/{XGM_NAME}/beamPosition/ixPos/timestamp"]
        ts[3] = ts[2] - 1
    found = [p for p in validate(path) if "decreasing" in p.message]
    assert found and found[0].source == XGM_NAME and found[0].key.startswith("beamPosition")
