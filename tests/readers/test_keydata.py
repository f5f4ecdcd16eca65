"""KeyData and chunk plans give back exactly what the generator wrote."""
import numpy as np
import pytest

from xfconvert import RunDirectory, by_id
from xfconvert.exceptions import OptionError, PropertyNameError

from ..conftest import AGIPD_MOD, XGM, XGM_OUT, reference_read


def test_detector_module_values_and_chunks(agipd_run):
    run = RunDirectory(agipd_run)
    src = AGIPD_MOD.format(1)
    kd = run[src, "image.data"]
    ref_tids, ref = reference_read(agipd_run, src, "image.data")
    assert kd.shape == ref.shape
    np.testing.assert_array_equal(kd.ndarray(), ref)
    np.testing.assert_array_equal(kd.train_id_coordinates(), ref_tids)
    plan = kd.chunk_plan()
    assert len(plan) == 2  # one contiguous chunk per sequence file
    assert sum(c.n_entries for c in plan) == ref.shape[0]
    for chunk in plan:
        np.testing.assert_array_equal(chunk.dataset[chunk.slice],
                                      ref[np.isin(ref_tids, chunk.train_ids)])
    counts = kd.data_counts(labelled=False)
    assert counts.tolist() == [3, 3, 3, 0, 0, 3, 3, 3, 3, 3, 3, 3]
    assert kd.data_counts().index.name is None  # as EXtra-data


def test_chunk_plan_respects_train_selection(agipd_run):
    run = RunDirectory(agipd_run)
    src = AGIPD_MOD.format(0)
    ref_tids, ref = reference_read(agipd_run, src, "image.cellId")
    kd = run[src, "image.cellId"].select_trains(by_id[10004:10009])
    wanted = (ref_tids >= 10004) & (ref_tids < 10009)
    np.testing.assert_array_equal(kd.ndarray(), ref[wanted])
    assert kd.train_ids == list(range(10004, 10009))


def test_every_format_version(format_run):
    run = RunDirectory(format_run)
    for source, key in [(XGM, "beamPosition.ixPos.value"), (XGM_OUT, "data.intensityTD"),
                        ("FXE_DET_LPD1M-1/DET/1CH0:xtdf", "image.data"),
                        ("FXE_DET_LPD1M-1/DET/0CH0:xtdf", "image.pulseId")]:
        tids, ref = reference_read(format_run, source, key)
        kd = run[source, key]
        np.testing.assert_array_equal(kd.ndarray(), ref)
        np.testing.assert_array_equal(kd.train_id_coordinates(), tids)


def test_control_recorded_every_other_train(format_run):
    run = RunDirectory(format_run)
    kd = run[XGM, "beamPosition.ixPos"]
    assert kd.key == "beamPosition.ixPos.value"
    counts = kd.data_counts(labelled=False)
    assert counts.tolist() == [1, 0] * 4
    series = kd.series()
    assert series.index.tolist() == run.train_ids[::2]


def test_roi_and_out_buffer(agipd_run):
    run = RunDirectory(agipd_run)
    kd = run[AGIPD_MOD.format(3), "image.data"]
    full = kd.ndarray()
    np.testing.assert_array_equal(kd.ndarray(roi=np.s_[0, 2:5, :4]), full[:, 0, 2:5, :4])
    out = np.zeros(kd.shape, dtype=kd.dtype)
    assert kd.ndarray(out=out) is out
    np.testing.assert_array_equal(out, full)
    with pytest.raises(OptionError):
        kd.ndarray(out=np.zeros((1,), dtype=kd.dtype))


def test_xarray_labels(agipd_run):
    run = RunDirectory(agipd_run)
    kd = run[XGM_OUT, "data.intensityTD"]
    arr = kd.xarray(extra_dims=["sample"])
    assert arr.dims == ("trainId", "sample")
    assert arr.coords["trainId"].values.tolist() == run.train_ids
    assert arr.name == f"{XGM_OUT}.data.intensityTD"
    with pytest.raises(OptionError):
        kd.xarray(extra_dims=["a", "b"])


def test_shape_dtype_metadata_without_reading(agipd_run):
    run = RunDirectory(agipd_run)
    kd = run[AGIPD_MOD.format(0), "image.data"]
    assert kd.entry_shape == (2, 16, 8)
    assert kd.ndim == 4
    assert kd.dtype == np.uint16
    assert kd.shape == (36, 2, 16, 8)
    assert {fa.filename for fa in kd.files} == {str(p) for p in agipd_run.glob("*AGIPD00*")}


def test_unknown_key(agipd_run):
    run = RunDirectory(agipd_run)
    with pytest.raises(PropertyNameError, match="image.nothing") as info:
        run[AGIPD_MOD.format(0), "image.nothing"]
    assert isinstance(info.value, KeyError)
    assert AGIPD_MOD.format(0) in str(info.value)


def test_drop_empty_trains_and_split(agipd_run):
    run = RunDirectory(agipd_run)
    kd = run[AGIPD_MOD.format(1), "image.data"]
    assert 10003 not in kd.drop_empty_trains().train_ids
    parts = list(kd.split_trains(trains_per_part=5))
    assert [len(p.train_ids) for p in parts] == [4, 4, 4]
    np.testing.assert_array_equal(np.concatenate([p.ndarray() for p in parts]), kd.ndarray())


def test_files_with_alternating_trains(tmp_path):
    """Entries come back in train order even when two files interleave their trains."""
    from xfconvert.testing import write_file
    from xfconvert.testing.devices import XGM
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    dev = [XGM("SA1_XTD2_XGM/DOOCS/MAIN")]
    write_file(run_dir / "RAW-R0001-DA01-S00000.h5", dev, [10000, 10002, 10003])
    write_file(run_dir / "RAW-R0001-DA01-S00001.h5", dev, [10001, 10004])
    run = RunDirectory(run_dir)
    kd = run[XGM_OUT, "data.xTD"]
    tids, ref = reference_read(run_dir, XGM_OUT, "data.xTD")
    assert tids.tolist() == list(range(10000, 10005))
    np.testing.assert_array_equal(kd.train_id_coordinates(), tids)
    np.testing.assert_array_equal(kd.ndarray(), ref)
    assert len(kd.chunk_plan()) == 4
