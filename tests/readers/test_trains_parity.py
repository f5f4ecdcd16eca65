"""trains(), train_from_id(), train_from_index() against EXtra-data 1.25."""
from __future__ import annotations

import numpy as np
import pytest

import xfconvert as xf

from .test_collection_parity import AGIPD, XGM, both, ed_run_dir, runs  # noqa: F401 (fixtures)


def assert_same_train(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        va, vb = a[name], b[name]
        if isinstance(va, dict) and not (isinstance(name, tuple) and name[1] == "metadata"):
            assert_same_train(va, vb)
            continue
        if isinstance(va, dict):
            assert va == vb
            continue
        assert type(va) is type(vb), name
        assert np.shape(va) == np.shape(vb), name
        assert np.asarray(va).dtype == np.asarray(vb).dtype, name
        np.testing.assert_array_equal(va, vb)


SELECTIONS = [
    lambda d, m: d.select([(XGM, "beamPosition.*"), (XGM + ":output", "data.xTD")]),
    lambda d, m: d.select([("*/MOTOR/*", "*Position*"), (AGIPD.format(0), "image.*")]),
    lambda d, m: d.select([("*/MOTOR/*", "actualPosition")]),
]


@pytest.mark.parametrize("select", SELECTIONS)
@pytest.mark.parametrize("options", [{}, {"flat_keys": True}, {"keep_dims": True},
                                     {"require_all": True},
                                     {"flat_keys": True, "keep_dims": True}])
def test_trains_match(runs, select, options):
    a, b = both(runs, lambda d, m: list(select(d, m).trains(**options)))
    assert [t for t, _ in a] == [t for t, _ in b]
    for (_, da), (_, db) in zip(a, b):
        assert_same_train(da, db)
    assert all(type(t) is int for t, _ in b)


@pytest.mark.parametrize("options", [{}, {"flat_keys": True}, {"keep_dims": True}])
def test_train_from_id_and_index_match(runs, options):
    sel = lambda d, m: d.select([("*/MOTOR/*", "*"), (AGIPD.format(3), "image.data")])  # noqa
    tids = [int(t) for t in runs[0].train_ids]
    for tid in (tids[0], tids[5], tids[-1]):
        (ta, da), (tb, db) = both(runs, lambda d, m: sel(d, m).train_from_id(tid, **options))
        assert ta == tb
        assert_same_train(da, db)
    for index in (0, 3, -1):
        (ta, da), (tb, db) = both(runs, lambda d, m: sel(d, m).train_from_index(index,
                                                                                 **options))
        assert ta == tb
        assert_same_train(da, db)


def test_train_from_id_errors_match(runs):
    (_, ed_raised), (_, xf_raised) = both(runs, lambda d, m: d.train_from_id(1))
    assert ed_raised == {KeyError} and KeyError in xf_raised  # ours: also a ValueError


def test_train_from_id_with_devices_keeps_options(runs):
    """1.25 drops flat_keys/keep_dims when devices= is given; we apply them."""
    xf_dc = runs[1]
    tid = xf_dc.train_ids[1]
    _, data = xf_dc.train_from_id(tid, devices=[(XGM, "beamPosition.ixPos")], flat_keys=True)
    assert set(data) == {(XGM, "metadata"), (XGM, "beamPosition.ixPos.value")}
    assert data[XGM, "metadata"] == {"source": XGM, "timestamp.tid": tid}


def test_source_without_data_in_a_train_has_metadata_only(runs):
    xf_dc = runs[1]
    sel = xf_dc.select("*/MOTOR/*", "actualPosition")
    for tid, data in sel.trains():
        assert set(data) == set(sel.all_sources)
        for src, values in data.items():
            has = sel[src, "actualPosition"].select_trains(xf.by_id[[tid]]) \
                .data_counts(labelled=False)[0] > 0
            assert set(values) == ({"metadata", "actualPosition.value"} if has
                                   else {"metadata"})
            if has:
                assert np.ndim(values["actualPosition.value"]) == 0
