"""get_dataframe, get_series, trains(), train_from_id/index: values and missing data."""
import numpy as np
import pandas as pd
import pytest

from xfconvert import RunDirectory, by_id
from xfconvert.exceptions import TrainIDError

from ..conftest import AGIPD_MOD, XGM, XGM_OUT, reference_read


@pytest.fixture(scope="module")
def run(agipd_run):
    return RunDirectory(agipd_run)


def test_get_dataframe_values(run, agipd_run):
    df = run.get_dataframe(fields=[("*_XGM/*", "*.i[xy]Pos"), ("*/MOTOR/*", "*")])
    assert df.index.name == "trainId"
    assert df.index.tolist() == run.train_ids
    assert f"{XGM}/beamPosition.ixPos" in df.columns
    assert f"{XGM}/beamPosition.ixPos.timestamp" not in df.columns
    tids, ref = reference_read(agipd_run, XGM, "beamPosition.iyPos.value")
    np.testing.assert_array_equal(df[f"{XGM}/beamPosition.iyPos"].to_numpy(), ref)
    motor_cols = [c for c in df.columns if "/MOTOR/" in c]
    assert len(motor_cols) == 6


def test_get_dataframe_timestamps(run):
    # As in EXtra-data: a property name selects its value; the timestamp column needs
    # the timestamp selected too (each column once).
    df = run.get_dataframe(fields={XGM: {"beamPosition.ixPos"}}, timestamps=True)
    assert list(df.columns) == [f"{XGM}/beamPosition.ixPos"]
    df = run.get_dataframe(fields=[(XGM, "beamPosition.ixPos*")], timestamps=True)
    assert sorted(df.columns) == [f"{XGM}/beamPosition.ixPos",
                                f"{XGM}/beamPosition.ixPos.timestamp"]
    assert df[f"{XGM}/beamPosition.ixPos.timestamp"].dtype == np.uint64


def test_get_dataframe_missing_data(tmp_path):
    from xfconvert.testing import make_run
    run_dir = make_run(tmp_path / "r1", n_trains=6, control_every=2,
                       missing_trains={"*STAGE_X": [10002]})
    run = RunDirectory(run_dir)
    df = run.get_dataframe(fields=[("*/MOTOR/*", "*")])
    # control_every=2: only even trains have data (10002 only for STAGE_Y)
    assert df.index.tolist() == [10000, 10002, 10004]
    col = "SPB_XTD9_MOTORS/MOTOR/STAGE_X/status"
    assert df[col].dtype == np.float64 and np.isnan(df.loc[10002, col])
    full = df["SPB_XTD9_MOTORS/MOTOR/STAGE_Y/status"]
    assert full.dtype == np.int32 and not full.isna().any()
    s = run.get_series("SPB_XTD9_MOTORS/MOTOR/STAGE_X", "actualPosition")
    assert s.index.tolist() == [10000, 10004]
    np.testing.assert_array_equal(df[col.replace("status", "actualPosition")].dropna().to_numpy(),
                                  s.to_numpy())


def test_get_dataframe_skips_multi_entry_and_nd(run):
    df = run.get_dataframe(fields=[("*/DET/*", "image.*"), (XGM_OUT, "*")])
    assert not any("/DET/" in c for c in df.columns)  # several frames per train
    assert list(df.columns) == [f"{XGM_OUT}/data.trainId"]
    np.testing.assert_array_equal(df[f"{XGM_OUT}/data.trainId"].to_numpy(), df.index.to_numpy())


def test_trains_values_and_missing(run, agipd_run):
    sel = run.select([(AGIPD_MOD.format(1), "image.data"), (XGM, "beamPosition.ixPos"),
                      (XGM_OUT, "data.xTD")])
    tids, frames = reference_read(agipd_run, AGIPD_MOD.format(1), "image.data")
    _, xtd = reference_read(agipd_run, XGM_OUT, "data.xTD")
    seen = []
    for tid, data in sel.trains():
        seen.append(tid)
        mod = data.get(AGIPD_MOD.format(1), {})
        if tid in (10003, 10004):
            assert "image.data" not in mod
        else:
            np.testing.assert_array_equal(mod["image.data"], frames[tids == tid])
        np.testing.assert_array_equal(data[XGM_OUT]["data.xTD"], xtd[tid - 10000])
        assert np.ndim(data[XGM]["beamPosition.ixPos.value"]) == 0
        assert data[XGM]["metadata"]["timestamp.tid"] == tid
    assert seen == run.train_ids
    required = [tid for tid, _ in sel.trains(require_all=True)]
    assert 10003 not in required and len(required) == 10


def test_trains_small_blocks_match(run):
    from xfconvert.readers.trains import key_trains
    kd = run[AGIPD_MOD.format(0), "image.data"]
    big = [(t, a.copy()) for t, a in key_trains(kd)]
    small = [(t, a.copy()) for t, a in key_trains(kd, block_bytes=1)]
    assert [t for t, _ in big] == [t for t, _ in small]
    for (_, a), (_, b) in zip(big, small):
        np.testing.assert_array_equal(a, b)


def test_train_from_id_and_index(run):
    tid, data = run.train_from_id(10005, devices=[(XGM, "*")])
    assert tid == 10005 and set(data) == {XGM}
    tid, data = run.train_from_index(-1)
    assert tid == 10011
    with pytest.raises(KeyError):
        run.train_from_id(1)
    with pytest.raises(TrainIDError):
        run.train_from_index(100)
    assert [t for t, _ in run.trains(train_range=by_id[10001:10003])] == [10001, 10002]


def test_dask_array(run):
    pytest.importorskip("dask")
    kd = run[AGIPD_MOD.format(3), "image.data"]
    arr = kd.dask_array()
    np.testing.assert_array_equal(arr.compute(), kd.ndarray())
    labelled = run.get_dask_array(AGIPD_MOD.format(3), "image.data", labelled=True)
    assert labelled.dims[0] == "trainId"
    np.testing.assert_array_equal(labelled.coords["trainId"].values, kd.train_id_coordinates())


def test_run_values(run, agipd_run):
    import h5py
    xgm = run[XGM]
    path = sorted(agipd_run.glob("*DA01*"))[0]
    with h5py.File(path, "r") as f:
        expected = f[f"RUN/{XGM}/beamPosition/ixPos/value"][0]
    assert xgm.run_value("beamPosition.ixPos") == expected
    values = xgm.run_values()  # as EXtra-data 1.25: stored names, timestamps included
    assert values["beamPosition.ixPos.value"] == expected
    assert "beamPosition.ixPos.timestamp" in values
    assert run.get_run_values(XGM) == values
    assert run.get_run_value(XGM, "beamPosition.ixPos") == expected
    with pytest.raises(ValueError):  # instrument sources have no RUN values (1.25 too)
        run[XGM_OUT].run_value("data.xTD")


def test_kept_train_data_is_never_overwritten(run):
    """Buffers are reused only when no view is alive: kept arrays keep their values."""
    from xfconvert.readers.trains import key_trains
    kd = run[AGIPD_MOD.format(0), "image.data"]
    kept = [(t, a) for t, a in key_trains(kd, block_bytes=1)]  # one block per train
    copies = [(t, a.copy()) for t, a in key_trains(kd, block_bytes=1)]
    for (t1, a), (t2, b) in zip(kept, copies):
        assert t1 == t2
        np.testing.assert_array_equal(a, b)
    # the pool refills a block only when no view is alive
    from xfconvert.readers.trains import _BlockPool
    pool = _BlockPool()
    first = pool.get((2, 3), np.dtype("f4"))
    view = first[:1]
    assert pool.get((2, 3), np.dtype("f4")) is not first   # a view is alive
    del view, first
    assert pool.get((2, 3), np.dtype("f4")) is pool.blocks[0]
