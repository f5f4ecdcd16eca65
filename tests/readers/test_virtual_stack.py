"""read_stack_frames: frame ranges of virtual (frames, modules, ...) stacks."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xfconvert import RunDirectory, read_stack_frames
from xfconvert.components import AGIPD1M, JUNGFRAU
from xfconvert.exceptions import OptionError
from xfconvert.readers.virtual_stack import _entry_prefix, _pieces
from xfconvert.testing import make_run
from xfconvert.writers.cxi import write_virtual_cxi

DET = "entry_1/instrument_1/detector_1"
AGIPD = "SPB_DET_AGIPD1M-1/DET/{}CH0:xtdf"
JF = "SPB_IRDA_JF4M/DET/JNGFR{:02}:daqOutput"


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict[str, str]:
    """CXI stacks with missing modules and trains over two sequence files:
    AGIPD raw (data/gain axis), AGIPD corrected, JUNGFRAU with 3 and with 1 memory cell;
    and write_virtual's output of the raw AGIPD run."""
    root = tmp_path_factory.mktemp("stacks")
    made = {}
    for corrected in (False, True):
        run_dir = make_run(root / f"agipd{int(corrected)}", detector="agipd", n_modules=4,
                           module_shape=(6, 4), n_trains=9, frames_per_train=3,
                           n_sequences=2, missing_modules=[2], corrected=corrected,
                           missing_trains={AGIPD.format(1): [10002, 10005]},
                           slow_data=False, seed=21 + corrected)
        run = RunDirectory(run_dir)
        made[f"agipd-{'proc' if corrected else 'raw'}"] = write_virtual_cxi(
            AGIPD1M(run), root / f"agipd{int(corrected)}.cxi")
        if not corrected:  # not a stack: one virtual dataset per key, sources' rank
            made["virtual"] = run.write_virtual(root / "virtual.h5")
    for cells in (3, 1):
        run_dir = make_run(root / f"jf{cells}", detector="jungfrau", n_modules=3,
                           module_shape=(4, 5), n_trains=8, memory_cells=cells,
                           n_sequences=2, missing_trains={JF.format(2): [10001, 10006]},
                           slow_data=False, seed=30 + cells)
        made[f"jungfrau-{cells}"] = write_virtual_cxi(JUNGFRAU(RunDirectory(run_dir)),
                                                       root / f"jf{cells}.cxi")
    return {name: str(path) for name, path in made.items()}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["agipd-raw", "agipd-proc", "jungfrau-3", "jungfrau-1"]),
       name=st.sampled_from(["data", "gain", "mask"]),
       start=st.none() | st.integers(-40, 40), stop=st.none() | st.integers(-40, 40))
def test_same_values_as_slicing(stacks, which, name, start, stop):
    with h5py.File(stacks[which], "r") as f:
        if f"{DET}/{name}" not in f:
            return
        ds = f[f"{DET}/{name}"]
        got = read_stack_frames(ds, start, stop)
        expected = ds[start:stop]
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)  # NaN fill values compare equal


def test_fill_values_of_missing_modules(stacks):
    with h5py.File(stacks["agipd-proc"], "r") as f:
        data = read_stack_frames(f[f"{DET}/data"])
        mask = read_stack_frames(f[f"{DET}/mask"])
    assert np.isnan(data[:, 2]).all() and (mask[:, 2] == 0xffffffff).all()
    assert not np.isnan(data[:, [0, 1, 3]]).all()


def test_entry_prefix(stacks):
    expected = {"agipd-raw": (), "agipd-proc": (), "jungfrau-3": (3,), "jungfrau-1": (1,)}
    for which, prefix in expected.items():
        with h5py.File(stacks[which], "r") as f:
            assert _entry_prefix(f[f"{DET}/data"]) == prefix, which


@pytest.mark.parametrize("path", [f"INSTRUMENT/{AGIPD.format(0)}/image/data",
                                  f"INSTRUMENT/{AGIPD.format(1)}/image/trainId"])
def test_virtual_datasets_that_are_not_stacks(stacks, path):
    """write_virtual's datasets have their sources' rank: read as they are."""
    with h5py.File(stacks["virtual"], "r") as f:
        ds = f[path]
        assert ds.is_virtual and _entry_prefix(ds) is None
        np.testing.assert_array_equal(read_stack_frames(ds, 3, -2), ds[3:-2])


@settings(max_examples=200, deadline=None)
@given(first=st.integers(0, 60), n=st.integers(1, 60), per_entry=st.integers(1, 7))
def test_pieces_cover_range_with_whole_entries_aligned(first, n, per_entry):
    pieces = _pieces(first, first + n, per_entry)
    assert pieces[0][0] == first and pieces[-1][1] == first + n
    assert all(a < b for a, b, _ in pieces)
    assert all(p[1] == q[0] for p, q in zip(pieces, pieces[1:]))
    for a, b, whole in pieces:
        if whole:
            assert a % per_entry == 0 and b % per_entry == 0
        else:  # a part of one entry
            assert a // per_entry == (b - 1) // per_entry and (b - a) < per_entry


def test_out_array_and_conversion(stacks):
    with h5py.File(stacks["agipd-raw"], "r") as f:
        ds = f[f"{DET}/data"]
        out = np.full((5,) + ds.shape[1:], -1, np.float64)
        assert read_stack_frames(ds, 4, 9, out=out) is out
        np.testing.assert_array_equal(out, ds[4:9].astype(np.float64))
        with pytest.raises(OptionError, match="shape"):
            read_stack_frames(ds, 0, 4, out=out)
        with pytest.raises(OptionError, match="C-contiguous"):
            read_stack_frames(ds, 0, 5, out=np.empty((5,) + ds.shape[1:] + (2,))[..., 0])


def test_plain_datasets(tmp_path):
    values = np.random.default_rng(5).random((7, 3, 4))
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["stack"] = values
        f["frames"] = values[:, 0]
        np.testing.assert_array_equal(read_stack_frames(f["stack"], 1, 6), values[1:6])
        np.testing.assert_array_equal(read_stack_frames(f["frames"], -3), values[-3:, 0])
        assert _entry_prefix(f["stack"]) is None
