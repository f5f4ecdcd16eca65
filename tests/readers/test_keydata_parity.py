"""KeyData: the same call on xfconvert and EXtra-data 1.25 gives the same answer."""
import numpy as np
import pytest

import extra_data
import xfconvert
from xfconvert.exceptions import NoDataError, OptionError
from xfconvert.testing import make_run

from .parity_runs import CAM, XGM, XGM_OUT, assert_same, make_extra_data_run, outcome


@pytest.fixture(scope="module", params=["extra_data_gen", "padded_index", "xfconvert_gen"])
def runs(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(request.param)
    if request.param == "extra_data_gen":
        path = make_extra_data_run(base / "r0450", seed=4)
    elif request.param == "padded_index":
        path = make_extra_data_run(base / "r0450", n_trains=20, n_sequences=1, seed=5)
    else:
        path = make_run(base / "r0001", n_trains=12, n_sequences=2, format_version="1.3",
                        detector="agipd", n_modules=1, missing_trains={"*AGIPD00*": [10003]})
    return xfconvert.RunDirectory(path), extra_data.RunDirectory(path)


def _det(run):
    return next(s for s in sorted(run.instrument_sources) if "/DET/" in s)


def _sparse(run):
    """A key with empty trains: the camera (ours: a detector module missing a train)."""
    if CAM in run.all_sources:
        return run[CAM, "data.image.pixels"]
    return run[_det(run), "image.cellId"]


IXPOS = (XGM, "beamPosition.ixPos")
FLUX = (XGM, "pulseEnergy.photonFlux")
CALLS = {
    "key_name": lambda r: r[IXPOS].key,
    "units": lambda r: (r[IXPOS].units, r[IXPOS].units_name, r[FLUX].units,
                        r[FLUX].units_name, r[XGM_OUT, "data.intensityTD"].units),
    "attributes": lambda r: r[FLUX].attributes(),
    "sizes": lambda r: [(kd.size_mb, kd.size_gb, kd.shape) for kd in
                        (r[_det(r), "image.data"], r[IXPOS])],
    "paths": lambda r: (r[IXPOS].hdf5_data_path, r[_det(r), "image.data"].hdf5_data_path,
                        r[_det(r), "image.data"].index_group, r[IXPOS].index_group),
    "source_file_paths": lambda r: [str(p) for p in r[_det(r), "image.data"].source_file_paths],
    "source_file_paths_part": lambda r: [str(p) for p in
                                         r[_det(r), "image.data"][-2:].source_file_paths],
    "kinds": lambda r: [(kd.is_control, kd.is_instrument) for kd in
                        (r[IXPOS], r[XGM_OUT, "data.intensityTD"])],
    "run_value": lambda r: r[IXPOS].run_value(),
    "run_value_instrument": lambda r: r[XGM_OUT, "data.intensityTD"].run_value(),
    "data_counts": lambda r: _sparse(r).data_counts(),
    "data_counts_array": lambda r: _sparse(r).data_counts(labelled=False),
    "data_counts_slow": lambda r: r[IXPOS].data_counts(),
    "train_index_bounds": lambda r: _sparse(r).train_index_bounds(),
    "train_index_bounds_labelled": lambda r: _sparse(r).train_index_bounds(labelled=True),
    "train_id_coordinates": lambda r: _sparse(r).train_id_coordinates(),
    "ndarray": lambda r: r[_det(r), "image.data"].ndarray(),
    "ndarray_roi": lambda r: r[_det(r), "image.data"].ndarray(roi=np.s_[0, 2:9]),
    "series": lambda r: r[IXPOS].series(),
    "xarray": lambda r: r[XGM_OUT, "data.intensityTD"].xarray(),
    "xarray_units": lambda r: r[FLUX].xarray(),
    "xarray_named": lambda r: r[XGM_OUT, "data.intensityTD"].xarray(name="x"),
    "xarray_extra_dims": lambda r: r[XGM_OUT, "data.intensityTD"].xarray(extra_dims=["s"]),
    "xarray_extra_coords": lambda r: r[XGM_OUT, "data.intensityTD"].xarray(
        extra_coords=True, roi=np.s_[5:20:3]),
    "xarray_coords_dict": lambda r: r[XGM_OUT, "data.intensityTD"].xarray(
        extra_coords={"dim_0": np.arange(1000) * 0.5}),
    "xarray_dims_and_dict": lambda r: r[XGM_OUT, "data.intensityTD"].xarray(
        extra_dims=["t"], extra_coords={"t": np.arange(1000) * 2}),
    "xarray_int_roi": lambda r: r[_det(r), "image.data"].xarray(
        extra_dims=["gain", "ss", "fs"], roi=np.s_[1, :4, -3:]),
    "xarray_sparse": lambda r: _sparse(r).xarray(roi=np.s_[:1]),
    "dask_labelled_coords": lambda r: (r[_det(r), "image.data"].dask_array(labelled=True)
                                       .coords["trainId"].values),
    "dask_values": lambda r: r[_det(r), "image.data"].dask_array().compute(),
    "trains_slow": lambda r: list(r[IXPOS].trains()),
    "trains_keep_dims": lambda r: list(r[IXPOS].trains(keep_dims=True)),
    "trains_frames": lambda r: list(r[_det(r), "image.cellId"].trains()),
    "trains_include_empty": lambda r: [(t, v) for t, v in _sparse(r)[:8].trains(
        include_empty=True)],
    "trains_include_empty_keep_dims": lambda r: list(_sparse(r)[:8].trains(
        keep_dims=True, include_empty=True)),
    "train_from_id": lambda r: r[IXPOS].train_from_id(10004),
    "train_from_id_keep_dims": lambda r: r[IXPOS].train_from_id(10004, keep_dims=True),
    "train_from_id_frames": lambda r: r[_det(r), "image.data"].train_from_id(10001),
    "train_from_id_missing": lambda r: r[IXPOS].train_from_id(5),
    "train_from_index": lambda r: r[IXPOS].train_from_index(-1),
    "select_trains": lambda r: r[IXPOS].select_trains(np.s_[2:6]).ndarray(),
    "getitem_trains": lambda r: r[IXPOS][[1, 3]].series(),
    "drop_empty_trains": lambda r: _sparse(r).drop_empty_trains().train_ids,
    "split_trains": lambda r: [p.train_ids for p in _sparse(r).split_trains(3)],
    "split_trains_per_part": lambda r: [p.ndarray().shape for p in
                                        _sparse(r).split_trains(trains_per_part=5)],
    "as_single_value": lambda r: r[IXPOS].as_single_value(rtol=100, atol=10),
    "as_single_value_mean": lambda r: r[IXPOS].as_single_value(rtol=100, atol=10,
                                                               reduce_by="mean"),
    "as_single_value_first": lambda r: r[IXPOS].as_single_value(rtol=100, atol=10,
                                                                reduce_by="first"),
    "as_single_value_callable": lambda r: r[IXPOS].as_single_value(
        rtol=100, atol=10, reduce_by=lambda a: a.max()),
    "as_single_value_differs": lambda r: r[IXPOS].as_single_value(),
    "as_single_value_bad_reduce": lambda r: r[IXPOS].as_single_value(reduce_by="nope"),
    "as_single_value_no_data": lambda r: r[IXPOS][:0].as_single_value(),
}
STRING_CALLS = {
    "str_ndarray": lambda r: r[XGM, "state"].ndarray(),
    "str_series": lambda r: r[XGM, "state"].series(),
    "str_xarray": lambda r: r[XGM, "state"].xarray(),
    "str_single_value": lambda r: r[XGM, "state"].as_single_value(),
    "str_run_value": lambda r: r[XGM, "state"].run_value(),
}


def _compare(runs, func, call):
    ours, theirs = (outcome(func, run) for run in runs)
    assert ours[0] == theirs[0], (ours, theirs)
    if theirs[0] == "raises":
        assert ours[1] is theirs[1]
    else:
        assert_same(ours[1], theirs[1], call)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_same_as_extra_data(runs, call):
    _compare(runs, CALLS[call], call)


@pytest.mark.parametrize("call", sorted(STRING_CALLS))
def test_strings_same_as_extra_data(runs, call):
    if (XGM, "state") not in runs[0]:
        pytest.skip("no string key in this run")
    _compare(runs, STRING_CALLS[call], call)


def test_strings_decode_to_str(runs):
    ours, _ = runs
    if (XGM, "state") not in ours:
        pytest.skip("no string key in this run")
    values = ours[XGM, "state"].ndarray()
    assert values.dtype == object and {type(v) for v in values} == {str}
    assert set(values) <= {"ON", "OFF"}


def test_strings_by_train_are_str(runs):
    """Kept difference: 1.25 decodes strings in ndarray()/series() but gives bytes from
    trains()/train_from_*(); here every way of reading gives str."""
    ours, theirs = runs
    if (XGM, "state") not in ours:
        pytest.skip("no string key in this run")
    expected = ours[XGM, "state"].ndarray()
    got = list(ours[XGM, "state"].trains())
    assert [v for _, v in got] == list(expected)
    assert [t for t, _ in got] == ours[XGM, "state"].train_ids
    tid, value = ours[XGM, "state"].train_from_index(2)
    assert value == expected[2] and isinstance(value, str)
    assert isinstance(theirs[XGM, "state"].train_from_index(2)[1], bytes)


def test_roi_errors(runs):
    """An roi with more dimensions than the entries: OptionError (1.25: IndexError)."""
    ours, _ = runs
    with pytest.raises(OptionError, match="dimensions"):
        ours[IXPOS].ndarray(roi=np.s_[:2])


def test_as_single_value_kept_differences(runs):
    """Where 1.25 raises TypeError we raise OptionError (a ValueError)."""
    ours, theirs = runs
    if (XGM, "state") not in ours:
        pytest.skip("no string key in this run")
    with pytest.raises(TypeError):
        theirs[XGM, "state"].as_single_value(reduce_by="first")
    with pytest.raises(OptionError):
        ours[XGM, "state"].as_single_value(reduce_by="first")
    with pytest.raises(NoDataError):
        ours[IXPOS][:0].as_single_value()


def test_as_single_value_is_the_median():
    """A key that is constant but for one outlier: the median, not the first value."""
    from xfconvert.readers.reductions import single_value
    rng = np.random.default_rng(7)
    base = rng.normal()
    data = np.full(9, base) + rng.normal(scale=1e-9, size=9)
    data[0] = base + 1
    with pytest.raises(OptionError, match="tolerance"):
        single_value(data, "src", "key")
    assert single_value(data, "src", "key", atol=2) == np.median(data)
