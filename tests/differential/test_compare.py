"""The comparison helper must see every kind of difference it claims to."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .compare import Mismatch, Outcome, assert_same, builtin_base


def same(a, b) -> bool:
    try:
        assert_same(Outcome(value=a), Outcome(value=b))
    except Mismatch:
        return False
    return True


def da(values, dims=("trainId",), name="x", **coords):
    return xr.DataArray(values, dims=dims, name=name, coords=coords)


RNG = np.random.default_rng(0)
A = RNG.normal(size=5).astype(np.float32)
TIDS = np.arange(10, 15, dtype=np.uint64)


@pytest.mark.parametrize("ours, theirs", [
    (A.astype(np.float64), A),
    (A[:4], A),
    (A + 1, A),
    (da(A, trainId=TIDS), da(A, dims=("train",), train=TIDS)),
    (da(A, trainId=TIDS + 1), da(A, trainId=TIDS)),
    (da(A, name="y", trainId=TIDS), da(A, trainId=TIDS)),
    (da(A, trainId=TIDS), da(A, trainId=TIDS, pulseId=("trainId", TIDS))),
    (pd.Series(A, index=pd.Index(TIDS, name="train")), pd.Series(A, index=pd.Index(TIDS, name="trainId"))),
    (pd.Series(A.astype(np.float64)), pd.Series(A)),
    (pd.DataFrame({"a": A}), pd.DataFrame({"b": A})),
    ({"a": 1}, {"a": 1, "b": 2}),
    ({"a": A}, {"a": A * 2}),
    ([1, 2], [1, 2, 3]),
    (1, np.uint64(1)),
    (b"OFF", "OFF"),
    (np.float32(1.5), np.float64(1.5)),
    (frozenset({"a"}), frozenset({"a", "b"})),
    ("ab", "ba"),
])
def test_differences_are_seen(ours, theirs):
    assert not same(ours, theirs)


@given(hnp.arrays(hnp.floating_dtypes() | hnp.integer_dtypes(), hnp.array_shapes(max_dims=3)))
def test_equal_values_agree(arr):
    coords = {"trainId": np.arange(arr.shape[0])}
    dims = ("trainId",) + tuple(f"dim_{i}" for i in range(arr.ndim - 1))
    for value in (arr, da(arr, dims=dims, **coords), {"k": [arr, 3, "s"]}):
        assert same(value, value.copy() if hasattr(value, "copy") else value)


@given(st.integers(0, 4))
def test_one_changed_element_is_seen(i):
    b = A.copy()
    b[i] += 1
    assert not same(b, A)


def test_exceptions_compared_by_builtin_class():
    class TheirSourceNameError(KeyError):
        pass

    class OurSourceNameError(LookupError):
        pass

    theirs = Outcome(error=TheirSourceNameError("x"))
    assert builtin_base(theirs.error) is KeyError
    assert_same(Outcome(error=KeyError("y")), theirs)
    with pytest.raises(Mismatch, match="KeyError"):
        assert_same(Outcome(error=OurSourceNameError("y")), theirs)
    with pytest.raises(Mismatch, match="raised"):
        assert_same(Outcome(value=1), theirs)
    with pytest.raises(Mismatch, match="returned 1"):
        assert_same(theirs, Outcome(value=1))


def test_outcome_materialises_generators_and_dask():
    dask_array = pytest.importorskip("dask.array")
    out = Outcome.of(lambda: (x for x in [dask_array.ones(3)]))
    assert isinstance(out.value[0], np.ndarray) and out.value[0].tolist() == [1, 1, 1]
    assert isinstance(Outcome.of(lambda: 1 / 0).error, ZeroDivisionError)
