"""DataCollection against EXtra-data 1.25: the same call on the same runs, same answer.

Runs come from EXtra-data's own mock generator (its device classes, filled with seeded
random values) and from ours. Each test runs one call on both libraries and compares
values, dtypes, index/coordinates and exception types.
"""
from __future__ import annotations

import contextlib
import io
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest

import xfconvert as xf

ed = pytest.importorskip("extra_data")
pytest.importorskip("extra_data.tests.mockdata")

XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
MOTOR = "SPB_IRU_MOTORS/MOTOR/STAGE_X"
GAPPY = "SPB_IRU_MOTORS/MOTOR/STAGE_Y"
AGIPD = "SPB_DET_AGIPD1M-1/DET/{}CH0:xtdf"


def fill_random(path, seed: int) -> None:
    """Replace the generator's zeros/aranges with seeded random values (not indexes)."""
    rng = np.random.default_rng(seed)

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset) or obj.size == 0:
            return
        if not name.startswith(("CONTROL", "INSTRUMENT")) or obj.dtype.kind not in "fiu":
            return
        if name.endswith(("timestamp", "trainId", "pulseId", "cellId", "length", "status")):
            return
        if obj.dtype.kind == "f":
            obj[...] = rng.standard_normal(obj.shape).astype(obj.dtype)
        else:
            obj[...] = rng.integers(0, 100, obj.shape).astype(obj.dtype)

    with h5py.File(path, "r+") as f:
        f.visititems(visit)


def make_ed_run(run_dir) -> None:
    """XGM + motor over 2 sequence files, a motor with data in 6 of 20 trains (DA02),
    2 AGIPD modules."""
    from extra_data.tests.mockdata import write_file
    from extra_data.tests.mockdata.detectors import AGIPDModule
    from extra_data.tests.mockdata.motor import Motor
    from extra_data.tests.mockdata.xgm import XGM as EdXGM
    run_dir.mkdir(parents=True)
    for seq, first in enumerate([10000, 10010]):
        path = run_dir / f"RAW-R0450-DA01-S{seq:05d}.h5"
        write_file(str(path), [EdXGM(XGM), Motor(MOTOR)], ntrains=10, firsttrain=first,
                   chunksize=10, format_version="1.3")
        fill_random(path, seq)
    path = run_dir / "RAW-R0450-DA02-S00000.h5"
    write_file(str(path), [Motor(GAPPY)], ntrains=6, firsttrain=10004, chunksize=6,
               format_version="1.3")
    fill_random(path, 7)
    for mod in (0, 3):
        path = run_dir / f"RAW-R0450-AGIPD{mod:02d}-S00000.h5"
        write_file(str(path), [AGIPDModule(AGIPD.format(mod)[:-5], frames_per_train=2)],
                   ntrains=20, chunksize=10, format_version="1.3")
        fill_random(path, 10 + mod)


@pytest.fixture(scope="module")
def ed_run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("edmock") / "r0450"
    make_ed_run(path)
    return path


@pytest.fixture(scope="module", params=["ed-mock", "xf-mock"])
def runs(request, ed_run_dir, agipd_run):
    path = ed_run_dir if request.param == "ed-mock" else agipd_run
    return ed.RunDirectory(str(path)), xf.RunDirectory(path, use_cache=False)


def outcome(fn, dc, lib):
    """The result of fn, or the builtin exception classes it raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(dc, lib)
    except Exception as err:  # the comparison is about which builtins are raised
        return ("raised", {c for c in (KeyError, ValueError, IndexError, TypeError)
                           if isinstance(err, c)})


def both(runs, fn):
    ed_dc, xf_dc = runs
    return outcome(fn, ed_dc, ed), outcome(fn, xf_dc, xf)


def norm_selection(sel: dict) -> dict:
    return {s: None if k is None else frozenset(k) for s, k in sel.items()}


SELECTIONS = [
    lambda d, m: d.select("*_XGM/*", "*.i[xy]Pos"),
    lambda d, m: d.select("*_XGM/DOOCS/MAIN", "beamPosition.*"),
    lambda d, m: d.select("*_XGM/DOOCS/MAIN", "beamPosition.ixPos"),
    lambda d, m: d.select("*_XGM/DOOCS/MAIN", "*.value"),
    lambda d, m: d.select({XGM: {"beamPosition.ixPos"}}),
    lambda d, m: d.select({XGM: set(), XGM + ":output": None}),
    lambda d, m: d.select([("*/DET/*", "image.data"), "*XGM*"]),
    lambda d, m: d.select("*XGM*").select("*", "beam*"),
    lambda d, m: d.select("*XGM*").deselect("*", "beamPosition.ixPos"),
    lambda d, m: d.select(d.select("*/DET/*", "image.*")),
    lambda d, m: d.select(d[XGM]),
    lambda d, m: d.select(d[XGM, "beamPosition.iyPos"]),
    lambda d, m: d.select("NOPE*"),
    lambda d, m: d.select("NO/SUCH/SOURCE"),
    lambda d, m: d.select([("*XGM*", "*"), ("*XGM*", "nokey")]),
    lambda d, m: d.select({"NO/SUCH/SOURCE": set()}),
    lambda d, m: d.select({XGM: {"no.such.key"}}),
]


@pytest.mark.parametrize("call", SELECTIONS)
def test_select_matches(runs, call):
    a, b = both(runs, lambda d, m: call(d, m).selection)
    if isinstance(a, dict):
        a = norm_selection(a)
    assert a == (norm_selection(b) if isinstance(b, dict) else b)


TRAIN_SELECTIONS = [
    lambda d, m: d.select_trains(m.by_id[[10001, 10007, 99999]]),
    lambda d, m: d.select_trains(m.by_id[[99999]]),
    lambda d, m: d.select_trains(m.by_id[50000:60000]),
    lambda d, m: d.select_trains(m.by_id[10003:10009:2]),
    lambda d, m: d.select_trains(m.by_id[:10004]),
    lambda d, m: d.select_trains(m.by_index[-3:]),
    lambda d, m: d.select_trains(m.by_index[[0, 5, 3]]),
    lambda d, m: d.select_trains(np.arange(len(d.train_ids)) % 3 == 0),
    lambda d, m: d.select_trains(m.by_index[np.arange(len(d.train_ids)) % 4 == 1]),
    lambda d, m: d.select_trains(np.ones(3, dtype=bool)),
    lambda d, m: d.select_trains(7),
    lambda d, m: d[2:5],
    lambda d, m: d[m.by_id[[10002]]],
    lambda d, m: d.select("*/DET/*", require_all=True),
    lambda d, m: d.select("*/MOTOR/*", require_all=True),
    lambda d, m: d.select("*/MOTOR/*", require_any=True),
    lambda d, m: d.select_trains(m.by_index[:3]).union(d.select_trains(m.by_index[-2:])),
    lambda d, m: d.select("*XGM*").union(d.select("*/DET/*").select_trains(m.by_index[5:])),
]


@pytest.mark.parametrize("call", TRAIN_SELECTIONS)
def test_train_selection_matches(runs, call):
    a, b = both(runs, lambda d, m: [int(t) for t in call(d, m).train_ids])
    assert a == b


def test_require_any_stays_within_the_selected_trains(runs):
    """Kept difference: 1.25 adds back trains outside an earlier select_trains."""
    xf_dc = runs[1]
    first = xf_dc.select_trains(xf.by_index[:6])
    sel = first.select("*/MOTOR/*", require_any=True)
    assert set(sel.train_ids) <= set(first.train_ids)
    counts = [first[s].data_counts(labelled=False) > 0 for s in sorted(sel.all_sources)]
    assert sel.train_ids == first.train_id_array[np.any(counts, axis=0)].tolist()


def test_union_covers_the_same_sources_and_trains(runs):
    a, b = both(runs, lambda d, m: (sorted((d.select("*XGM*") | d.select("*/DET/*"))
                                           .all_sources)))
    assert a == b


@pytest.mark.parametrize("source, key", [
    (XGM, "beamPosition.ixPos"), (XGM + ":output", "data.intensityTD"),
    (AGIPD.format(0), "image.data"), (AGIPD.format(3), "image.pulseId"),
    (XGM, "no.such.key"), ("NO/SUCH/SOURCE", "x")])
def test_dtype_shape_counts_match(runs, source, key):
    a, b = both(runs, lambda d, m: d.get_dtype(source, key))
    assert a == b
    a, b = both(runs, lambda d, m: d.get_entry_shape(source, key))
    assert a == b
    a, b = both(runs, lambda d, m: d.get_data_counts(source, key))
    if isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b)
    else:
        assert a == b


def test_detector_sources_and_info_match(runs):
    a, b = both(runs, lambda d, m: (d.detector_sources,
                                    [d.detector_info(s) for s in sorted(d.detector_sources)]))
    assert a == b


def test_get_array_roi_by_index_matches(runs):
    src = AGIPD.format(0)
    a, b = both(runs, lambda d, m: d.get_array(src, "image.data", roi=m.by_index[..., :3, 2:5]))
    assert a.dims == b.dims
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.coords["trainId"].values, b.coords["trainId"].values)
    assert a.values.std() > 0  # random data, not a run of zeros


@pytest.mark.parametrize("fields, timestamps", [
    ([(XGM, "*Pos")], True), ([(XGM, "beamPosition.*")], True),
    ([(XGM, "beamPosition.*")], False), ({XGM: {"beamPosition.ixPos"}}, True),
    ([("*/MOTOR/*", "*Position")], False)])
def test_get_dataframe_matches(runs, fields, timestamps):
    a, b = both(runs, lambda d, m: d.get_dataframe(fields=fields, timestamps=timestamps))
    assert sorted(a.columns) == sorted(b.columns)
    a = a.sort_index()  # 1.25 concatenates per-file pieces out of train order
    b = b[a.columns]
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_index_type=False)
    assert (a.dtypes[a.notna().all()] == b.dtypes[a.notna().all()]).all()


@pytest.mark.parametrize("options", [
    {}, {"details_for_sources": ["*XGM*", "*/DET/0*"]}, {"counts": True},
    {"with_aggregators": True}, {"group_sources": False}])
def test_info_text_matches(runs, options):
    ed_dc, xf_dc = runs
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ed_dc.info(**options)
    assert xf_dc.info_text(**options) + "\n" == buf.getvalue()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        xf_dc.info(**options)
    assert xf_dc.info_text(**options) + "\n" == buf.getvalue()


def test_train_info_matches(runs, capsys):
    ed_dc, xf_dc = runs
    tid = ed_dc.train_ids[4]
    ed_dc.train_info(tid)
    expected = capsys.readouterr().out
    xf_dc.train_info(tid)
    assert capsys.readouterr().out == expected
    with pytest.raises(ValueError):
        xf_dc.train_info(1)


def test_train_timestamps_match(runs):
    sel = lambda d, m: d.select("*_XGM/*")  # noqa: E731 (one file per train)
    for kwargs in [{}, {"labelled": True}, {"pydatetime": True},
                   {"labelled": True, "euxfel_local_time": True},
                   {"pydatetime": True, "euxfel_local_time": True}]:
        a, b = both(runs, lambda d, m: sel(d, m).train_timestamps(**kwargs))
        if isinstance(a, pd.Series):
            pd.testing.assert_series_equal(a, b, check_index_type=False)
        elif isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b
    assert both(runs, lambda d, m: d.train_timestamps(euxfel_local_time=True)) == \
        (("raised", {ValueError}),) * 2


def test_run_metadata_matches(runs):
    a, b = both(runs, lambda d, m: d.run_metadata())
    assert a.keys() == b.keys()
    for key in ("dataFormatVersion", "proposalNumber", "runNumber", "daqLibrary"):
        if key in a:
            assert a[key] == b[key] and type(a[key]) is type(b[key])


def test_run_values_match(runs):
    a, b = both(runs, lambda d, m: d.get_run_values(XGM))
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    for key in ("beamPosition.ixPos", "beamPosition.ixPos.value", "no.such"):
        a, b = both(runs, lambda d, m: d.get_run_value(XGM, key))
        assert a == b


def test_from_path_and_from_paths(ed_run_dir):
    paths = sorted(ed_run_dir.glob("*DA01*"))
    one = xf.DataCollection.from_path(paths[0])
    assert one.train_ids == ed.DataCollection.from_path(str(paths[0])).train_ids
    many = xf.DataCollection.from_paths(paths)
    assert many.train_ids == [int(t) for t in ed.DataCollection.from_paths(
        [str(p) for p in paths]).train_ids]
    assert many.all_sources == {XGM, XGM + ":output", MOTOR}


def test_plot_missing_data_matches(runs):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ed_dc, xf_dc = runs
    for kwargs in [{}, {"min_saved_pct": 100}, {"expand_instrument": True,
                                                  "min_saved_pct": 100}]:
        ax_ed, ax_xf = ed_dc.plot_missing_data(**kwargs), xf_dc.plot_missing_data(**kwargs)
        labels = [t.get_text() for t in ax_xf.get_yticklabels()]
        assert labels == [t.get_text() for t in ax_ed.get_yticklabels()]
        assert ax_xf.get_title() == ax_ed.get_title()
        # each bar: the same blocks of present/missing trains
        bars = [(c.get_paths()[0].vertices.min(0).round(3).tolist(), len(c.get_paths()))
                for c in ax_xf.collections]
        assert bars == [(c.get_paths()[0].vertices.min(0).round(3).tolist(),
                         len(c.get_paths())) for c in ax_ed.collections]
        plt.close("all")


def test_plot_missing_data_content(ed_run_dir):
    """The gappy motor has data in 6 of 20 trains (30%), in one block from 10004."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    run = xf.RunDirectory(ed_run_dir, use_cache=False)
    ax = run.plot_missing_data()
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{GAPPY} (30.00%)"]
    (bar,) = ax.collections
    colours = [tuple(np.round(c, 3)) for c in bar.get_facecolors()]
    assert colours == [tuple(np.round(matplotlib.colors.to_rgba(c), 3))
                       for c in ("k", "deeppink", "k")]
    starts = sorted(p.vertices[:, 0].min() for p in bar.get_paths())
    assert starts == [0, 4, 10]
    plt.close("all")


def test_plot_missing_data_without_matplotlib(runs, monkeypatch):
    import sys
    from xfconvert.exceptions import MissingDependencyError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(MissingDependencyError, match=r"xfconvert\[plot\]") as info:
        runs[1].plot_missing_data()
    assert isinstance(info.value, ImportError)
