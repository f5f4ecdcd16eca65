"""Writers on a run with a suspect (out-of-order) train, kept as EXtra-data 1.25 keeps it
(inc_suspect_trains=True): INDEX facts come from each train's own row."""
import h5py
import numpy as np
import pytest

from xfconvert import RunDirectory
from xfconvert.testing import make_run

extra_data = pytest.importorskip("extra_data")


@pytest.fixture(scope="module")
def suspect_run(tmp_path_factory):
    # Train 10003 of DA01 is written as 10008: after 10002, before 10004 (out of order).
    return make_run(tmp_path_factory.mktemp("suspect") / "r0001", n_trains=8,
                    out_of_order_trains={10003: 10008}, seed=5)


def _da01(run_dir):
    return next(run_dir.glob("*DA01*.h5"))


def _stored_index(path):
    with h5py.File(path, "r") as f:
        return {name: f[f"INDEX/{name}"][()] for name in ("trainId", "timestamp")
                if f"INDEX/{name}" in f}


def test_write_keeps_each_train_with_its_own_index_row(suspect_run, tmp_path):
    run = RunDirectory(suspect_run).select("*XGM*")
    out = tmp_path / "out.h5"
    run.write(out)
    src = _stored_index(_da01(suspect_run))
    got = _stored_index(out)
    by_tid = dict(zip(src["trainId"].tolist(), src["timestamp"].tolist()))
    assert len(set(src["trainId"].tolist())) == len(src["trainId"])
    n_checked = 0
    for tid, stamp in zip(got["trainId"].tolist(), got["timestamp"].tolist()):
        if tid in by_tid:  # trains of the run that DA01 lacks come from other files
            assert by_tid[tid] == stamp, tid
            n_checked += 1
    assert n_checked >= 7
