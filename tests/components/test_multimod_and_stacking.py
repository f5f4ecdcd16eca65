"""det[key], dask arrays, train iteration and splitting, identify, stack_detector_data."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xfconvert import RunDirectory, by_id
from xfconvert.components import (AGIPD1M, JUNGFRAU, StackView, identify_multimod_detectors,
                                   stack_detector_data)
from xfconvert.exceptions import NoDataError, OptionError
from xfconvert.testing import make_run

SHAPE = (6, 4)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("mm") / "r"
    make_run(path, detector="agipd", n_modules=3, n_trains=5, frames_per_train=3,
             module_shape=SHAPE, corrected=True, missing_modules=[1], n_sequences=2,
             missing_trains={"*/DET/2CH0:xtdf": [10003]})
    make_run(path, detector="jungfrau", n_modules=2, n_trains=5, memory_cells=2,
             module_shape=SHAPE, corrected=True, slow_data=False)
    return path


def test_multimod_keydata(run_dir):
    det = AGIPD1M(RunDirectory(run_dir))
    kd = det["image.data"]
    assert kd.shape == (2, 15) + SHAPE and kd.dtype == np.float32
    assert kd.dimensions == ["module", "train_pulse", "slow_scan", "fast_scan"]
    assert kd.train_id_coordinates().tolist() == np.repeat(np.arange(10000, 10005), 3).tolist()
    full = det.get_array("image.data", unstack_pulses=False)
    np.testing.assert_array_equal(kd.ndarray(), full.values)
    np.testing.assert_array_equal(kd.ndarray(module_gaps=True)[[0, 2]], full.values)
    xa = kd.xarray(roi=np.s_[2:4], fill_value=0)
    assert xa.dims == ("module", "train_pulse", "slow_scan", "fast_scan")
    np.testing.assert_array_equal(xa.values, np.nan_to_num(full.values[..., 2:4, :]))
    out = np.empty(kd.shape, dtype=np.float32)
    assert kd.ndarray(out=out) is out
    with pytest.raises(ValueError):
        kd.ndarray(out=np.empty((16,) + kd.shape[1:], dtype=np.float32))
    part = kd.select_trains(by_id[[10001, 10003]])
    np.testing.assert_array_equal(part.ndarray(), full.values[:, [3, 4, 5, 9, 10, 11]])
    # 3 frames a train: 2 trains a part, cut as DataCollection.split_trains cuts.
    assert [p.shape[1] for p in kd.split_trains(frames_per_part=6)] == [3, 6, 6]
    np.testing.assert_array_equal(kd.dask_array().compute(), kd.ndarray())
    assert kd.dask_array(labelled=True).dims == xa.dims
    header = det["header.pulseCount"]
    assert header.dimensions == ["module", "trainId"] and header.shape == (2, 5)
    assert header.data_availability(module_gaps=True).shape == (16, 5)


def test_dask_equals_numpy(run_dir):
    det = AGIPD1M(RunDirectory(run_dir))
    lazy = det.get_dask_array("image.data", fill_value=-5, astype=np.float64)
    eager = det.get_array("image.data", unstack_pulses=False, fill_value=-5, astype=np.float64)
    assert lazy.dims == ("module", "train_pulse", "dim_0", "dim_1") and lazy.dtype == np.float64
    assert lazy.indexes["train_pulse"].names == ["trainId", "pulseId"]
    np.testing.assert_array_equal(lazy.compute().values, eager.values)
    assert (lazy.compute().values == -5).any()  # module 2's missing train
    means = lazy.groupby("pulseId").mean().compute()
    np.testing.assert_allclose(means.values, eager.groupby("pulse").mean().values)
    cid = det.get_dask_array("image.data", subtrain_index="cellId")
    assert cid.indexes["train_pulse"].get_level_values("cellId").tolist()[:3] == [0, 1, 2]


def test_xtdf_trains(run_dir):
    det = AGIPD1M(RunDirectory(run_dir))
    full = det.get_array("image.data")
    got = dict(det.trains())
    assert sorted(got) == [10000, 10001, 10002, 10004]
    d = got[10002]
    assert "image.mask" in d and d["image.data"].dims == ("module", "train", "pulse",
                                                         "slow_scan", "fast_scan")
    np.testing.assert_array_equal(d["image.data"].values[:, 0], full.sel(train=10002).values)
    assert d["header.pulseCount"].dims == ("module",)
    some = dict(det.trains(pulses=by_id[[4]], require_all=False))
    assert len(some) == 5 and some[10003]["image.data"].shape == (1, 1, 1) + SHAPE
    np.testing.assert_array_equal(some[10003]["image.data"].values[:, 0],
                                  full.sel(train=10003, pulse=[4], module=[0]).values)


@settings(max_examples=15, deadline=None)
@given(parts=st.one_of(st.none(), st.integers(1, 6)),
       tpp=st.one_of(st.none(), st.integers(1, 6)),
       fpp=st.one_of(st.none(), st.integers(1, 20)))
def test_split_trains(run_dir, parts, tpp, fpp):
    det = AGIPD1M(RunDirectory(run_dir))
    if parts is None and tpp is None and fpp is None:
        with pytest.raises(OptionError):
            list(det.split_trains())
        return
    pieces = list(det.split_trains(parts, tpp, fpp))
    assert sum((p.train_ids for p in pieces), []) == det.train_ids
    for p in pieces:
        assert isinstance(p, AGIPD1M)
        if tpp is not None:
            assert len(p.train_ids) <= tpp
        if fpp is not None and len(p.train_ids) > 1:
            assert len(p.train_ids) * 3 <= fpp
    if parts is not None:
        assert len(pieces) >= min(parts, len(det.train_ids))


def test_identify(run_dir):
    run = RunDirectory(run_dir)
    found = identify_multimod_detectors(run)
    assert found == {("SPB_DET_AGIPD1M-1", AGIPD1M), ("SPB_IRDA_JF4M", JUNGFRAU)}
    with pytest.raises(OptionError):
        identify_multimod_detectors(run, single=True)
    assert identify_multimod_detectors(run, single=True, clses=[JUNGFRAU]) == (
        "SPB_IRDA_JF4M", JUNGFRAU)
    assert identify_multimod_detectors(run, "SPB_DET_AGIPD1M-1", single=True)[1] is AGIPD1M
    with pytest.raises(NoDataError):
        identify_multimod_detectors(run.select("*XGM*"), single=True)


def _train(modules, shape=(3, 6, 4), dtype=np.float32):
    rng = np.random.default_rng(0)
    return {f"SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf": {"image.data": rng.random(shape).astype(dtype)}
            for m in modules}


def test_stack_detector_data():
    train = _train([0, 3, 15])
    train["SA1_XTD2_XGM/DOOCS/MAIN"] = {"data.x": np.zeros(3)}
    stacked = stack_detector_data(train, "image.data")
    assert stacked.shape == (3, 16, 6, 4)
    for m in (0, 3, 15):
        np.testing.assert_array_equal(stacked[:, m],
                                      train[f"SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf"]["image.data"])
    assert np.isnan(stacked[:, 1]).all()
    first = stack_detector_data(train, "image.data", axis=0, fillvalue=-1)
    assert first.shape == (16, 3, 6, 4) and (first[2] == -1).all()
    ints = stack_detector_data(_train([1], dtype=np.uint16), "image.data", modules=4)
    assert ints.dtype == np.uint16 and not ints[:, 0].any()


@pytest.mark.parametrize("axis", [-3, 0, -1])
@pytest.mark.parametrize("index", [np.s_[...], np.s_[0], np.s_[:, 3], np.s_[1:3, ..., 2],
                                   np.s_[-1, :, 1:4], np.s_[..., 0], np.s_[2, 15, 5, 3],
                                   np.s_[:, [0, 2, 3]]])
def test_stack_view(axis, index):
    train = _train([0, 3, 15])
    real = stack_detector_data(train, "image.data", axis=axis)
    view = stack_detector_data(train, "image.data", axis=axis, real_array=False)
    assert isinstance(view, StackView)
    np.testing.assert_array_equal(view[:1].squeeze(), real[:1].squeeze())
    assert view.shape == real.shape and view.dtype == real.dtype and view.ndim == real.ndim
    np.testing.assert_array_equal(view.asarray(), real)
    try:
        expected = real[index]
    except IndexError:
        with pytest.raises(IndexError):
            view[index]
        return
    np.testing.assert_array_equal(view[index], expected)


def test_stack_errors():
    with pytest.raises(NoDataError):
        stack_detector_data({"X/Y/Z": {"a": np.zeros(3)}}, "image.data")
    train = _train([0])
    train.update(_train([1], shape=(2, 6, 4)))
    with pytest.raises(OptionError):
        stack_detector_data(train, "image.data")
    with pytest.raises(OptionError):
        stack_detector_data(_train([5]), "image.data", modules=4)
    jf = {"SPB_IRDA_JF4M/DET/JNGFR02:daqOutput": {"data.adc": np.ones((2, 3, 4))}}
    out = stack_detector_data(jf, "data.adc", modules=2, starts_at=1, pattern=r"/DET/JNGFR(\d+)")
    assert out.shape == (2, 2, 3, 4) and (out[:, 1] == 1).all() and np.isnan(out[:, 0]).all()
