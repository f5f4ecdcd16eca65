"""Train selections, checked against a plain-Python model with hypothesis."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from xfconvert.exceptions import TrainIDError
from xfconvert.readers.selection import by_id, by_index, select_train_ids

sorted_tids = st.lists(st.integers(1, 2**40), min_size=1, max_size=40, unique=True).map(
    lambda xs: np.array(sorted(xs), dtype=np.uint64))


@given(sorted_tids, st.integers(-50, 50) | st.none(), st.integers(-50, 50) | st.none(),
       st.integers(1, 5) | st.none())
def test_index_slices_match_python(tids, start, stop, step):
    sel = select_train_ids(tids, by_index[start:stop:step])
    assert sel.tolist() == tids.tolist()[start:stop:step]
    assert select_train_ids(tids, slice(start, stop, step)).tolist() == sel.tolist()


@given(sorted_tids, st.data())
def test_id_slices_match_python(tids, data):
    lo = data.draw(st.integers(0, 2**40 + 10))
    hi = data.draw(st.integers(0, 2**40 + 10))
    step = data.draw(st.integers(1, 4) | st.none())
    expected = [t for t in tids.tolist() if lo <= t < hi][::step]  # step counts trains
    assert select_train_ids(tids, by_id[lo:hi:step]).tolist() == expected


@given(sorted_tids, st.data())
def test_id_lists(tids, data):
    chosen = data.draw(st.lists(st.sampled_from(tids.tolist()), max_size=10))
    assert select_train_ids(tids, by_id[chosen]).tolist() == sorted(set(chosen))
    extra = data.draw(st.lists(st.integers(2**40 + 1, 2**41), min_size=1, max_size=3))
    if chosen:  # IDs not in the data are dropped: the intersection is kept
        assert select_train_ids(tids, by_id[chosen + extra]).tolist() == sorted(set(chosen))
    else:
        with pytest.warns(UserWarning, match="None of the"):
            assert select_train_ids(tids, by_id[extra]).tolist() == []


@given(sorted_tids, st.data())
def test_boolean_masks(tids, data):
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(tids),
                                       max_size=len(tids))), dtype=bool)
    expected = [t for t, keep in zip(tids.tolist(), mask) if keep]
    assert select_train_ids(tids, mask).tolist() == expected
    assert select_train_ids(tids, by_index[mask]).tolist() == expected
    with pytest.raises(TrainIDError):
        select_train_ids(tids, np.ones(len(tids) + 1, dtype=bool))


@given(sorted_tids, st.data())
def test_index_lists(tids, data):
    n = len(tids)
    positions = data.draw(st.lists(st.integers(-n, n - 1), max_size=10))
    got = select_train_ids(tids, by_index[positions]).tolist()
    assert got == sorted({tids.tolist()[p] for p in positions})
