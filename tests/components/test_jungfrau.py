"""JUNGFRAU component checked against direct h5py reads."""
from __future__ import annotations

import glob

import h5py
import numpy as np
import pytest

from xfconvert import RunDirectory, by_id
from xfconvert.components import JUNGFRAU
from xfconvert.testing import make_run

SHAPE = (6, 4)
SRC = "SPB_IRDA_JF4M/DET/JNGFR{:02d}:daqOutput"


def reference(run_dir, modno, key="adc"):
    out = {}
    for path in sorted(glob.glob(f"{run_dir}/*JNGFR{modno:02d}*.h5")):
        with h5py.File(path, "r") as f:
            base = f"INSTRUMENT/{SRC.format(modno)}/data"
            for t, d in zip(f[f"{base}/trainId"][:], f[f"{base}/{key}"][:]):
                out[int(t)] = d
    return out


@pytest.fixture(scope="module")
def jf_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("jf") / "r", detector="jungfrau", n_modules=3,
                    n_trains=5, memory_cells=3, module_shape=SHAPE, n_sequences=2,
                    missing_modules=[2], slow_data=False,
                    missing_trains={SRC.format(3): [10001, 10004]})


def test_jungfrau_values(jf_run):
    jf = JUNGFRAU(RunDirectory(jf_run), raw=True)
    assert jf.detector_name == "SPB_IRDA_JF4M"
    assert jf.modules == [1, 3] and jf.module_axis == [1, 2, 3] and jf.n_modules == 3
    assert jf.frames_per_train == 3 and jf.module_shape == (512, 1024)
    assert jf.get_array("data.adc").coords["module"].values.tolist() == [1, 3]
    arr = jf.get_array("data.adc", module_gaps=True)
    assert arr.dims == ("module", "train", "cell", "slow_scan", "fast_scan")
    assert arr.coords["train"].values.tolist() == list(range(10000, 10005))
    for i, m in enumerate([1, 2, 3]):
        ref = reference(jf_run, m)
        for j, t in enumerate(range(10000, 10005)):
            if t in ref:
                np.testing.assert_array_equal(arr.values[i, j], ref[t])
            else:
                assert not arr.values[i, j].any()
    assert not arr.sel(module=2).values.any()


def test_jungfrau_options(jf_run):
    jf = JUNGFRAU(RunDirectory(jf_run), n_modules=8, raw=True)
    assert jf.module_axis == list(range(1, 9))
    arr = jf.get_array("data.adc", roi=np.s_[1, 2:4], astype=np.float32, fill_value=-1,
                       module_gaps=True)
    # 1.25's naming rule: only 3-D (cell, ss, fs) and 1-D (cell) entries get names.
    assert arr.dims == ("module", "train", "dim_0", "dim_1")
    assert arr.dtype == np.float32 and arr.shape == (8, 5, 2, 4)
    assert jf.get_array("data.adc").shape[0] == 2
    ref = reference(jf_run, 3)
    np.testing.assert_array_equal(arr.sel(module=3, train=10002).values, ref[10002][1, 2:4])
    assert (arr.sel(module=3, train=10001).values == -1).all()
    cells = jf.get_array("data.memoryCell")
    assert cells.dims == ("module", "train", "cell")
    assert cells.sel(module=1).values.tolist() == [[0, 1, 2]] * 5
    assert jf.get_array("data.trainId").dims == ("module", "train")


def test_jungfrau_dask_trains_split(jf_run):
    jf = JUNGFRAU(RunDirectory(jf_run), raw=True)
    np.testing.assert_array_equal(jf.get_dask_array("data.adc").compute().values,
                                  jf.get_array("data.adc").values)
    assert jf.get_dask_array("data.adc").dims == jf.get_array("data.adc").dims
    got = dict(jf.trains())
    assert sorted(got) == [10000, 10002, 10003]
    np.testing.assert_array_equal(got[10002]["data.adc"].values,
                                  jf.get_array("data.adc").sel(train=10002).values)
    assert got[10002]["data.adc"].dims == ("module", "cell", "slow_scan", "fast_scan")
    some = dict(jf.trains(require_all=False))
    assert len(some) == 5 and some[10001]["data.adc"].coords["module"].values.tolist() == [1]
    # 3 cells a train: 2 trains a part, cut as DataCollection.split_trains cuts.
    parts = list(jf.split_trains(frames_per_part=6))
    assert [p.train_ids for p in parts] == [[10000], [10001, 10002], [10003, 10004]]
    assert jf.cell_ids().tolist() == [0, 1, 2]
    sel = jf.select_trains(by_id[10001:10003])
    assert sel.train_ids == [10001, 10002] and sel.n_modules == 3


def test_jungfrau_min_modules(jf_run):
    jf = JUNGFRAU(RunDirectory(jf_run), min_modules=2, raw=True)
    assert jf.train_ids == [10000, 10002, 10003]
    assert jf["data.adc"].shape == (2, 3, 3) + SHAPE
    assert jf["data.adc"].buffer_shape(module_gaps=True) == (3, 3, 3) + SHAPE


def test_jungfrau_first_modno_and_labels(tmp_path):
    path = make_run(tmp_path / "r", detector="jungfrau", n_modules=4, n_trains=2,
                    memory_cells=1, module_shape=SHAPE, missing_modules=[1, 2], slow_data=False,
                    jungfrau_label="MODULE_", corrected=True, corrected_naming="2026")
    run = RunDirectory(path)
    jf = JUNGFRAU(run)
    assert sorted(jf.source_to_modno.values()) == [3, 4] and jf.n_modules == 4
    assert all("/CORR/MODULE_" in s for s in jf.source_to_modno)
    shifted = JUNGFRAU(run, first_modno=3)
    assert shifted.modules == [1, 2] and shifted.n_modules == 2
    arr = shifted.get_array("data.adc", module_gaps=True)
    np.testing.assert_array_equal(arr.values, jf.get_array("data.adc").values)
    assert np.isnan(jf.masked_data().ndarray()).all()  # every pixel has some bit set
    masked = jf.masked_data(mask_bits=[1, 4], masked_value=-1).ndarray()
    bad = (jf["data.mask"].ndarray() & 5) != 0
    assert bad.any() and (~bad).any()
    assert (masked[bad] == -1).all()
    np.testing.assert_array_equal(masked[~bad], jf["data.adc"].ndarray()[~bad])
