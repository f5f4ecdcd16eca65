"""AGIPD, LPD, DSSC components checked against direct h5py reads of the module files."""
from __future__ import annotations

import glob

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xfconvert import RunDirectory, by_id, by_index
from xfconvert.components import AGIPD1M, AGIPD500K, DSSC1M, LPD1M, RawDataWarning
from xfconvert.exceptions import (FileStructureError, OptionError, PropertyNameError,
                                  SourceNameError)
from xfconvert.testing import make_run

SHAPE = (6, 4)
N_TRAINS = 6
MISSING_TRAIN = 10002


def reference(run_dir, source, key="image.data", label="pulseId"):
    """{(train ID, label): frame} read with plain h5py from every file of a module."""
    frames = {}
    group, name = key.split(".", 1)
    for path in sorted(glob.glob(f"{run_dir}/*.h5")):
        with h5py.File(path, "r") as f:
            base = f"INSTRUMENT/{source}/{group}"
            if base not in f:
                continue
            tids = f[f"{base}/trainId"][:].ravel()
            labels = f[f"{base}/{label}"][:].ravel()
            data = f[f"{base}/{name.replace('.', '/')}"][:]
            for t, p, d in zip(tids, labels, data):
                frames[int(t), int(p)] = d
    return frames


def expected_array(run_dir, det, trains, pulses, key="image.data", label="pulseId",
                   fill=np.nan, dtype=None, modules=None, squeeze=False):
    """(module, train, pulse, ...) built frame by frame from the reference, for the
    modules with data (or ``modules``); ``squeeze`` drops raw LPD/DSSC's length-1 axis."""
    example = None
    refs = {}
    modules = det.modules if modules is None else modules
    for m in modules:
        src = det.modno_to_source.get(m)
        refs[m] = reference(run_dir, src, key, label) if src else {}
        if squeeze:
            refs[m] = {k: v[0] for k, v in refs[m].items()}
        if refs[m]:
            example = next(iter(refs[m].values()))
    dtype = dtype or example.dtype
    out = np.full((len(modules), len(trains), len(pulses)) + example.shape, fill,
                  dtype=dtype)
    for i, m in enumerate(modules):
        for j, t in enumerate(trains):
            for k, p in enumerate(pulses):
                if (t, p) in refs[m]:
                    out[i, j, k] = refs[m][t, p]
    return out


@pytest.fixture(scope="module")
def agipd_raw(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("agipd") / "r", detector="agipd", n_modules=4,
                    n_trains=N_TRAINS, frames_per_train=4, n_sequences=2, module_shape=SHAPE,
                    missing_modules=[1], slow_data=False,
                    missing_trains={"*/DET/2CH0:xtdf": [MISSING_TRAIN]})


@pytest.fixture(scope="module")
def agipd_corr(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("agipdc") / "r", detector="agipd", n_modules=3,
                    n_trains=4, frames_per_train=3, corrected=True, module_shape=SHAPE,
                    missing_modules=[0], slow_data=False,
                    missing_trains={"*/DET/1CH0:xtdf": [10001]})


def test_agipd_raw_values(agipd_raw):
    with pytest.warns(RawDataWarning):
        det = AGIPD1M(RunDirectory(agipd_raw))
    assert det.detector_name == "SPB_DET_AGIPD1M-1"
    assert det.modules == [0, 2, 3]
    assert det.module_axis == list(range(16))
    assert det.source_to_modno["SPB_DET_AGIPD1M-1/DET/3CH0:xtdf"] == 3
    assert det.frames_per_train == 4 and det.module_shape == (512, 128)
    arr = det.get_array("image.data")
    assert arr.dims == ("module", "train", "pulse", "data_gain", "slow_scan", "fast_scan")
    trains = list(range(10000, 10000 + N_TRAINS))
    assert arr.coords["train"].values.tolist() == trains
    assert arr.coords["pulse"].values.tolist() == [0, 4, 8, 12]
    assert arr.coords["module"].values.tolist() == [0, 2, 3]
    exp = expected_array(agipd_raw, det, trains, [0, 4, 8, 12], fill=0, dtype=np.uint16)
    np.testing.assert_array_equal(arr.values, exp)
    gaps = det.get_array("image.data", module_gaps=True)
    assert gaps.coords["module"].values.tolist() == list(range(16))
    np.testing.assert_array_equal(gaps.values[[0, 2, 3]], arr.values)
    # missing module 1 and modules 4-15 are zeros; module 2 misses one train, others don't
    assert not gaps.sel(module=1).values.any() and not gaps.values[4:].any()
    assert not arr.sel(module=2, train=MISSING_TRAIN).values.any()
    assert arr.sel(module=3, train=MISSING_TRAIN).values.any()


def test_agipd_raw_stacked_and_fill(agipd_raw):
    det = AGIPD1M(RunDirectory(agipd_raw), modules=[1, 2, 3], raw=True)
    assert det.module_axis == [1, 2, 3] and det.modules == [2, 3]
    arr = det.get_array("image.data", unstack_pulses=False, fill_value=7, module_gaps=True)
    assert arr.dims[:2] == ("module", "train_pulse")
    assert arr.sizes["train_pulse"] == N_TRAINS * 4
    unstacked = det.get_array("image.data", fill_value=7, module_gaps=True)
    np.testing.assert_array_equal(arr.values.reshape(unstacked.shape), unstacked.values)
    assert det.get_array("image.data").coords["module"].values.tolist() == [2, 3]
    assert (arr.sel(module=1).values == 7).all()
    sel = arr.sel(module=2).isel(train_pulse=(arr.train == MISSING_TRAIN).values)
    assert (sel.values == 7).all()
    # the MultiIndex levels match the frames
    assert arr.indexes["train_pulse"].names == ["train", "pulse"]


def test_agipd_cellid_roi_astype(agipd_raw):
    det = AGIPD1M(RunDirectory(agipd_raw), raw=True)
    arr = det.get_array("image.data", subtrain_index="cellId", roi=np.s_[0, 1:4],
                        astype=np.float32)
    assert arr.dtype == np.float32
    assert arr.dims == ("module", "train", "cell", "slow_scan", "fast_scan")
    assert arr.coords["cell"].values.tolist() == [0, 1, 2, 3]
    trains = list(range(10000, 10000 + N_TRAINS))
    exp = expected_array(agipd_raw, det, trains, [0, 1, 2, 3], label="cellId",
                         dtype=np.float32)[:, :, :, 0, 1:4]
    np.testing.assert_array_equal(arr.values, exp)


def test_agipd_corrected(agipd_corr):
    det = AGIPD1M(RunDirectory(agipd_corr), raw=False)  # legacy names, float data
    assert det.modules == [1, 2]
    with pytest.raises(OptionError):
        AGIPD1M(RunDirectory(agipd_corr), raw=True)
    arr = det.get_array("image.data", module_gaps=True)
    assert arr.dtype == np.float32
    trains = [10000, 10001, 10002, 10003]
    exp = expected_array(agipd_corr, det, trains, [0, 4, 8], modules=range(16))
    np.testing.assert_array_equal(arr.values, exp)
    assert np.isnan(arr.sel(module=0).values).all()
    assert np.isnan(arr.sel(module=1, train=10001).values).all()
    gain = det.get_array("image.gain", fill_value=255, module_gaps=True)
    assert gain.dtype == np.uint8 and (gain.sel(module=0).values == 255).all()
    with pytest.raises(OptionError):
        det.get_array("image.mask", fill_value=np.nan)


def test_min_modules(agipd_corr):
    det = AGIPD1M(RunDirectory(agipd_corr), min_modules=2)
    assert det.train_ids == [10000, 10002, 10003]
    avail = det.data_availability()
    assert avail.shape == (2, 9) and avail.all()  # (modules, frames)
    det1 = AGIPD1M(RunDirectory(agipd_corr))
    gaps = det1.data_availability(module_gaps=True)
    assert gaps.shape == (16, 12)
    assert not gaps[1, 3:6].any() and gaps[2, 3:6].all() and gaps[1, :3].all()
    assert not gaps[[0] + list(range(3, 16))].any()
    with pytest.raises(ValueError):
        AGIPD1M(RunDirectory(agipd_corr), min_modules=0)
    with pytest.raises(ValueError):
        AGIPD1M(RunDirectory(agipd_corr), min_modules=3)


def _expected_selection(det, run_dir, trains, chosen_positions):
    pulses_all = [0, 4, 8, 12]
    exp = expected_array(run_dir, det, trains, pulses_all, fill=0, dtype=np.uint16)
    return exp[:, :, chosen_positions]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["id_slice", "id_list", "index_slice", "index_list", "plain"]),
       a=st.integers(-4, 4), b=st.integers(-4, 5),
       lst=st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
       trains=st.lists(st.integers(0, N_TRAINS - 1), min_size=1, max_size=N_TRAINS,
                       unique=True))
def test_pulse_and_train_selection(agipd_raw, kind, a, b, lst, trains):
    det = AGIPD1M(RunDirectory(agipd_raw), modules=[0, 1, 2], raw=True)
    sel = det.select_trains(by_index[sorted(trains)])
    tids = sorted(10000 + t for t in trains)
    assert sel.train_ids == tids
    positions = np.arange(4)
    if kind == "id_slice":
        lo, hi = sorted((abs(a) * 4, abs(b) * 4))
        pulses, chosen = by_id[lo:hi], positions[(positions * 4 >= lo) & (positions * 4 < hi)]
    elif kind == "id_list":
        pulses, chosen = by_id[[p * 4 for p in lst]], np.array(sorted(lst))
    elif kind == "index_slice":
        pulses, chosen = by_index[a:b], positions[a:b]
    elif kind == "index_list":
        pulses, chosen = by_index[lst], np.array(sorted(lst))
    else:
        pulses, chosen = np.s_[a:b], positions[a:b]
    if len(chosen) == 0:
        return
    arr = sel.get_array("image.data", pulses=pulses)
    trains_with_frames = tids
    exp = _expected_selection(sel, agipd_raw, trains_with_frames, chosen)
    assert arr.coords["pulse"].values.tolist() == (chosen * 4).tolist()
    np.testing.assert_array_equal(arr.values, exp)
    stacked = sel.get_array("image.data", pulses=pulses, unstack_pulses=False)
    np.testing.assert_array_equal(stacked.values.reshape(arr.shape), arr.values)


def test_strided_pulses_sparse_read(agipd_raw):
    det = AGIPD1M(RunDirectory(agipd_raw), raw=True)
    arr = det.get_array("image.data", pulses=np.s_[::2], unstack_pulses=False)
    full = det.get_array("image.data")
    np.testing.assert_array_equal(arr.values.reshape(3, N_TRAINS, 2, 2, *SHAPE),
                                  full.values[:, :, ::2])
    kd = det["image.data"].select_pulses(by_id[[4, 12]])
    assert kd.pulse_id_coordinates().tolist() == [4, 12] * N_TRAINS
    assert kd.cell_id_coordinates().tolist() == [1, 3] * N_TRAINS
    np.testing.assert_array_equal(kd.ndarray(), full.values[:, :, [1, 3]].reshape(kd.shape))
    np.testing.assert_array_equal(det["image.data"].xarray(pulses=np.s_[1::2]).values,
                                  kd.ndarray())


def test_per_train_key(agipd_raw):
    det = AGIPD1M(RunDirectory(agipd_raw), raw=True)
    arr = det.get_array("header.pulseCount", module_gaps=True)
    assert arr.dims == ("module", "trainId") and arr.name is None
    assert (arr.sel(module=0).values == 4).all()
    assert arr.sel(module=2, trainId=MISSING_TRAIN).item() == 0
    assert (arr.sel(module=1).values == 0).all()
    assert det.get_array("header.pulseCount").coords["module"].values.tolist() == [0, 2, 3]


def test_lpd_parallel_gain(tmp_path):
    path = make_run(tmp_path / "r", detector="lpd", n_modules=2, n_trains=3,
                    frames_per_train=6, module_shape=SHAPE, slow_data=False)
    run = RunDirectory(path)
    det = LPD1M(run, parallel_gain=True, raw=True)
    arr = det.get_array("image.data")
    assert arr.dims == ("module", "train", "gain", "pulse", "slow_scan", "fast_scan")
    assert arr.shape[:4] == (2, 3, 3, 2)
    assert arr.coords["pulse"].values.tolist() == [0, 4]
    assert arr.coords["gain"].dtype == np.uint8
    plain = LPD1M(run, raw=True).get_array("image.data")
    assert plain.sizes["pulse"] == 6
    # gain stage g, pulse k of a train is stored frame g * 2 + k
    np.testing.assert_array_equal(arr.values.reshape(plain.shape), plain.values)
    exp = expected_array(path, det, [10000, 10001, 10002], list(range(0, 24, 4)), fill=0,
                         dtype=np.uint16, squeeze=True)
    np.testing.assert_array_equal(arr.values[:, :, 1, 0], exp[:, :, 2])
    stacked = det.get_array("image.data", unstack_pulses=False, pulses=by_index[1])
    assert stacked.indexes["train_pulse"].names == ["train", "gain", "pulse"]
    np.testing.assert_array_equal(stacked.values.reshape(2, 3, 3, 1, *SHAPE),
                                  arr.values[:, :, :, 1:2])
    bad = make_run(tmp_path / "bad", detector="lpd", n_modules=1, n_trains=2,
                   frames_per_train=4, module_shape=SHAPE, slow_data=False)
    with pytest.raises(OptionError):
        LPD1M(RunDirectory(bad), parallel_gain=True, raw=True)


@pytest.mark.parametrize("cls, detector, n", [(DSSC1M, "dssc", 16), (AGIPD500K, "agipd500k", 8),
                                              (LPD1M, "lpd", 16)])
def test_other_detectors(tmp_path, cls, detector, n):
    path = make_run(tmp_path / "r", detector=detector, n_modules=2, n_trains=3,
                    frames_per_train=2, module_shape=SHAPE, slow_data=False, n_sequences=2)
    det = cls(RunDirectory(path), raw=True)
    assert det.n_modules == n and det.modules == [0, 1]
    arr = det.get_array("image.data")
    assert arr.shape[0] == 2 and det["image.data"].buffer_shape(module_gaps=True)[0] == n
    squeeze = cls is not AGIPD500K  # raw LPD/DSSC frames are (1, ss, fs): 5-D arrays
    assert arr.ndim == (5 if squeeze else 6)
    exp = expected_array(path, det, [10000, 10001, 10002], [0, 4], fill=0, dtype=np.uint16,
                         squeeze=squeeze)
    np.testing.assert_array_equal(arr.values, exp)


def test_wrong_detector_and_options(agipd_raw):
    run = RunDirectory(agipd_raw)
    with pytest.raises(SourceNameError):
        LPD1M(run)
    with pytest.raises(SourceNameError):
        AGIPD1M(run, detector_name="MID_DET_AGIPD1M-1")
    with pytest.raises(SourceNameError):
        AGIPD1M(run, modules=[5, 6], raw=True)
    with pytest.raises(SourceNameError):
        AGIPD1M(run, raw=False)
    det = AGIPD1M(run, raw=True)
    with pytest.raises(OptionError):
        det.get_array("image.data", subtrain_index="frame")
    with pytest.raises(PropertyNameError):
        det.get_array("image.nonexistent")



def test_inconsistent_frame_counts(tmp_path):
    path = make_run(tmp_path / "r", detector="agipd", n_modules=2, n_trains=3,
                    frames_per_train=2, module_shape=SHAPE, slow_data=False)
    for m, frames in ((0, 2), (1, 3)):
        make_run(tmp_path / f"m{m}", detector="agipd", n_modules=2, n_trains=3,
                 frames_per_train=frames, module_shape=SHAPE, slow_data=False)
    # Module 1 from a run with three frames a train, module 0 with two.
    import shutil
    for f in glob.glob(f"{path}/*AGIPD01*"):
        shutil.copy(f.replace(str(path), str(tmp_path / "m1")), f)
    with pytest.raises(FileStructureError, match="frame counts"):
        AGIPD1M(RunDirectory(path), raw=True)
