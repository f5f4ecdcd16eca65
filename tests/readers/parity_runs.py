"""Runs read by both xfconvert and EXtra-data 1.25 in the parity tests, and a comparison.

Runs come from EXtra-data's own generator (`extra_data.tests.mockdata`, the DAQ's layout:
preallocated datasets with unwritten tails, optionally a zero-padded INDEX/trainId),
filled with seeded random values, and from ours (`xfconvert.testing.make_run`, format 1.3
with unit attributes).
"""
from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import xarray as xr

XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
XGM_OUT = "SA1_XTD2_XGM/DOOCS/MAIN:output"
MOTOR = "SPB_IRU_MOTORS/MOTOR/M1"
DET = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"
CAM = "SPB_CAM/CAM/1:daqOutput"
BUILTINS = (KeyError, IndexError, TypeError, FileNotFoundError, ValueError)


def _fill(path, seed: int, run_seed: int, unwritten_tail: int = 3) -> None:
    """Random values in every CONTROL/INSTRUMENT/RUN dataset, leaving the last
    ``unwritten_tail`` entries of instrument data as the generator left them. RUN values
    depend on ``run_seed`` only: every file of a run holds the same ones."""
    file_rng, run_rng = np.random.default_rng(seed), np.random.default_rng(run_seed)
    with h5py.File(path, "r+") as f:
        def visit(name, ds):
            if not isinstance(ds, h5py.Dataset) or not ds.size or name.endswith("trainId"):
                return
            if not name.startswith(("CONTROL", "INSTRUMENT", "RUN")):
                return
            rng = run_rng if name.startswith("RUN") else file_rng
            n = ds.shape[0] - (unwritten_tail if name.startswith("INSTRUMENT") else 0)
            shape = (max(n, 0),) + ds.shape[1:]
            if ds.dtype.kind == "f":
                ds[:n] = rng.normal(size=shape).astype(ds.dtype)
            elif ds.dtype.kind in "iu":
                ds[:n] = rng.integers(1, 100, size=shape).astype(ds.dtype)
            elif ds.dtype.kind == "O" and not name.endswith("classId/value"):
                ds[:n] = np.array([rng.choice([b"ON", b"OFF"]) for _ in range(n)], dtype=object)
        f.visititems(visit)


def make_extra_data_run(run_dir, n_trains: int = 32, chunksize: int = 16,
                        n_sequences: int = 2, seed: int = 0):
    """XGM + motor, an AGIPD module (3 frames a train) and a camera missing every 6th
    train, over ``n_sequences`` files each, written by EXtra-data's generator."""
    from extra_data.tests.mockdata import write_file
    from extra_data.tests.mockdata.basler_camera import BaslerCamera
    from extra_data.tests.mockdata.detectors import AGIPDModule
    from extra_data.tests.mockdata.motor import Motor
    from extra_data.tests.mockdata.xgm import XGM as EdXGM
    run_dir.mkdir(parents=True, exist_ok=True)
    for seq in range(n_sequences):
        first = 10000 + seq * n_trains
        files = {
            "DA01": [EdXGM(XGM), Motor(MOTOR)],
            "AGIPD00": [AGIPDModule(DET.rsplit(":", 1)[0], frames_per_train=3)],
            "DA02": [BaslerCamera(CAM.rsplit(":", 1)[0], nsamples=n_trains - n_trains // 6)],
        }
        for i, (agg, devices) in enumerate(files.items()):
            path = run_dir / f"RAW-R0450-{agg}-S{seq:05d}.h5"
            write_file(str(path), devices, n_trains, firsttrain=first, chunksize=chunksize,
                       format_version="1.0")
            _fill(path, seed * 100 + seq * 10 + i, run_seed=seed * 100 + i)
    return run_dir


def builtin_kind(err: BaseException) -> type:
    """The builtin exception class a user would catch."""
    return next(cls for cls in BUILTINS if isinstance(err, cls))


def outcome(func, data):
    """``('ok', result)`` or ``('raises', builtin class)``."""
    try:
        return "ok", func(data)
    except BUILTINS as err:
        return "raises", builtin_kind(err)


def assert_same(ours, theirs, where: str = "") -> None:
    """Same values, dtypes, dims, coords, index and names as EXtra-data's result."""
    if isinstance(theirs, xr.DataArray):
        assert isinstance(ours, xr.DataArray), where
        xr.testing.assert_identical(ours, theirs)
    elif isinstance(theirs, pd.Series):
        pd.testing.assert_series_equal(ours, theirs, check_index_type=True)
        assert ours.index.name == theirs.index.name, where
    elif isinstance(theirs, pd.DataFrame):
        pd.testing.assert_frame_equal(ours, theirs)
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), where
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, where
        np.testing.assert_array_equal(ours, theirs, err_msg=where)
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(theirs, (set, frozenset)):
        assert set(ours) == set(theirs), where
    elif isinstance(theirs, dict):
        assert set(ours) == set(theirs), where
        for k in theirs:
            assert_same(ours[k], theirs[k], f"{where}[{k!r}]")
    elif isinstance(theirs, np.integer) and type(ours) is int:
        assert ours == theirs, where  # train IDs: Python ints here, numpy ints there
    elif isinstance(theirs, np.generic):
        assert np.asarray(ours).dtype == theirs.dtype, where
        assert ours == theirs or (np.isnan(theirs) and np.isnan(ours)), where
    else:
        assert ours == theirs and type(ours) is type(theirs), (where, ours, theirs)
