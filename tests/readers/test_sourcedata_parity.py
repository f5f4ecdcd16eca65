"""SourceData: the same call on xfconvert and EXtra-data 1.25 gives the same answer."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import extra_data
import xfconvert
from xfconvert.exceptions import OptionError, PropertyNameError
from xfconvert.testing import make_run

from .parity_runs import CAM, DET, MOTOR, XGM, XGM_OUT, assert_same, make_extra_data_run, \
    outcome


@pytest.fixture(scope="module", params=["extra_data_gen", "padded_index", "xfconvert_gen"])
def run_dir(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(request.param)
    if request.param == "extra_data_gen":
        return make_extra_data_run(base / "r0450", seed=1)
    if request.param == "padded_index":  # INDEX/trainId zero-padded to 32 for 20 trains
        return make_extra_data_run(base / "r0450", n_trains=20, n_sequences=1, seed=2)
    return make_run(base / "r0001", n_trains=12, n_sequences=2, format_version="1.3",
                    detector="agipd", n_modules=1, missing_trains={"*AGIPD00*": [10003]})


@pytest.fixture(scope="module")
def runs(run_dir):
    return xfconvert.RunDirectory(run_dir), extra_data.RunDirectory(run_dir)


def _first_det(run):
    return next(s for s in sorted(run.instrument_sources) if "/DET/" in s)


def _slow(run):
    return XGM


CALLS = {
    "keys": lambda r: r[_slow(r)].keys(),
    "keys_no_timestamps": lambda r: r[_slow(r)].keys(inc_timestamps=False),
    "instrument_keys": lambda r: r[XGM_OUT].keys(inc_timestamps=False),
    "getitem_without_value": lambda r: r[_slow(r)]["beamPosition.ixPos"].key,
    "getitem_timestamp": lambda r: r[_slow(r)]["beamPosition.ixPos.timestamp"].ndarray(),
    "getitem_missing": lambda r: r[_slow(r)]["nothing.here"],
    "contains": lambda r: ("beamPosition.ixPos" in r[XGM], "nothing" in r[XGM]),
    "run_keys": lambda r: r[XGM].run_keys(),
    "run_keys_no_timestamps": lambda r: r[XGM].run_keys(inc_timestamps=False),
    "run_values": lambda r: r[XGM].run_values(),
    "run_values_no_timestamps": lambda r: r[XGM].run_values(inc_timestamps=False),
    "run_value": lambda r: r[XGM].run_value("beamPosition.ixPos"),
    "run_value_suffix": lambda r: r[XGM].run_value("beamPosition.ixPos.value"),
    "run_value_timestamp": lambda r: r[XGM].run_value("beamPosition.ixPos.timestamp"),
    "run_value_missing": lambda r: r[XGM].run_value("nothing"),
    "run_value_instrument": lambda r: r[XGM_OUT].run_value("data.intensityTD"),
    "device_class": lambda r: (r[XGM].device_class, r[XGM_OUT].device_class),
    "run_metadata": lambda r: {k: v for k, v in r[XGM].run_metadata().items()
                               if k not in ("creationDate", "updateDate", "sequenceNumber")},
    "kinds": lambda r: [(sd.is_control, sd.is_instrument, sd.section, sd.is_legacy)
                        for sd in (r[XGM], r[XGM_OUT])],
    "file_facts": lambda r: [(sd.storage_class, sd.data_category, sd.aggregator)
                             for sd in (r[XGM], r[_first_det(r)])],
    "index_groups": lambda r: (r[XGM].index_groups, r[_first_det(r)].index_groups),
    "data_counts": lambda r: r[_first_det(r)].data_counts(),
    "data_counts_array": lambda r: r[_first_det(r)].data_counts(labelled=False),
    "data_counts_group": lambda r: r[_first_det(r)].data_counts(index_group="header"),
    "data_counts_slow": lambda r: r[XGM].data_counts(),
    "data_counts_selected_trains": lambda r: r[_first_det(r)].select_trains(np.s_[2:7])
    .data_counts(),
    "one_key_group": lambda r: r[_first_det(r)].one_key("header").partition(".")[0],
    "one_key_missing_group": lambda r: r[_first_det(r)].one_key("nothing"),
    "select_keys_glob": lambda r: r[XGM].select_keys("beamPosition.*").keys(),
    "select_keys_exact": lambda r: r[XGM].select_keys("beamPosition.ixPos").keys(),
    "select_keys_set": lambda r: r[XGM].select_keys({"beamPosition.ixPos",
                                                     "beamPosition.iyPos.value"}).keys(),
    "select_keys_nested": lambda r: r[XGM].select_keys("beamPosition.*")
    .select_keys("*.ixPos*").keys(),
    "select_keys_none": lambda r: r[XGM].select_keys(None).keys() == r[XGM].keys(),
    "select_keys_no_match": lambda r: r[XGM].select_keys("nothing*"),
    "select_keys_unknown": lambda r: r[XGM].select_keys({"nothing"}),
    "select_trains": lambda r: r[XGM].select_trains(np.s_[3:9]).train_ids,
    "getitem_trains": lambda r: r[XGM][2:5].train_ids,
    "train_id_coordinates": lambda r: r[XGM].train_id_coordinates(),
    "train_id_coordinates_group": lambda r: r[_first_det(r)].train_id_coordinates("image"),
    "drop_empty_trains": lambda r: r[_first_det(r)].drop_empty_trains().train_ids,
    "drop_empty_trains_group": lambda r: r[_first_det(r)]
    .drop_empty_trains(index_group="image").train_ids,
    "split_parts": lambda r: [p.train_ids for p in r[XGM].split_trains(3)],
    "split_per_part": lambda r: [p.train_ids for p in r[XGM].split_trains(trains_per_part=5)],
    "split_both": lambda r: [p.train_ids for p in r[XGM].split_trains(2, 4)],
    "union": lambda r: r[XGM].select_keys("beamPosition.*")[:3]
    .union(r[XGM].select_keys("*.iyPos")[7:9]).train_ids,
    "union_keys": lambda r: (r[XGM].select_keys("beamPosition.ixPos")[:3]
                             | r[XGM].select_keys("beamPosition.iyPos")).keys(),
    "union_other_source": lambda r: r[XGM].union(r[XGM_OUT]),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_same_as_extra_data(runs, call):
    ours, theirs = (outcome(CALLS[call], run) for run in runs)
    assert ours[0] == theirs[0], (ours, theirs)
    if theirs[0] == "raises":
        assert ours[1] is theirs[1]
    else:
        assert_same(ours[1], theirs[1], call)


def test_run_only_key_and_classid(runs, run_dir):
    ours, theirs = runs
    if "classId.value" not in theirs[XGM].run_keys():
        pytest.skip("this generator writes no classId")
    assert "classId" not in ours[XGM]  # a RUN-only key, not recorded per train
    assert ours[XGM].run_value("classId") == theirs[XGM].run_value("classId") == "DoocsXGM"
    assert ours[XGM].device_class == "DoocsXGM"


def test_data_counts_of_detector_count_frames(runs):
    ours, theirs = runs
    det = _first_det(ours)
    frames = ours[det, "image.data"].data_counts(labelled=False)
    np.testing.assert_array_equal(ours[det].data_counts(labelled=False), frames)
    assert_same(ours[det].data_counts(), theirs[det].data_counts())


def test_union_across_runs_refuses_run_values(tmp_path):
    a = xfconvert.RunDirectory(make_extra_data_run(tmp_path / "r0450", n_sequences=1))
    other = make_extra_data_run(tmp_path / "r0451", n_sequences=1, seed=3)
    for path in other.iterdir():
        import h5py
        with h5py.File(path, "r+") as f:
            f["METADATA/runNumber"][0] = 451
    b = xfconvert.RunDirectory(other)
    both = a[XGM].union(b[XGM])
    assert both.train_ids == a[XGM].train_ids  # the same train IDs in both mock runs
    with pytest.raises(ValueError):
        both.run_values()
    assert both.run_value("beamPosition.ixPos", allow_multi_run=True) == \
        a[XGM].run_value("beamPosition.ixPos")
    with pytest.raises(OptionError):
        both.run_metadata()


def test_train_id_coordinates_refuses_groups_with_different_counts(runs):
    ours, theirs = runs
    det = _first_det(ours)
    with pytest.raises(ValueError):
        theirs[det].train_id_coordinates()
    with pytest.raises(OptionError):
        ours[det].train_id_coordinates()


def test_missing_key_error_names_source(runs):
    ours, _ = runs
    with pytest.raises(PropertyNameError, match="nothing"):
        ours[MOTOR if MOTOR in ours.all_sources else XGM].select_keys({"nothing"})


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 24), parts=st.one_of(st.none(), st.integers(1, 30)),
       per_part=st.one_of(st.none(), st.integers(1, 30)))
def test_split_trains_boundaries(tmp_path_factory, n, parts, per_part):
    runs = _split_runs(tmp_path_factory)
    if parts is None and per_part is None:
        with pytest.raises(ValueError):
            list(runs[0][CAM].split_trains())
        return
    got = [[p.train_ids for p in run[CAM].select_trains(np.s_[:n]).split_trains(
        parts, per_part)] for run in runs]
    assert_same(got[0], got[1])
    got = [[p.train_ids for p in run.select_trains(np.s_[:n]).split_trains(parts, per_part)]
           for run in runs]
    assert_same(got[0], got[1])


_SPLIT_RUNS = {}


def _split_runs(tmp_path_factory):
    if not _SPLIT_RUNS:
        path = make_extra_data_run(tmp_path_factory.mktemp("split") / "r0450", n_trains=16,
                                   n_sequences=2)
        _SPLIT_RUNS["runs"] = (xfconvert.RunDirectory(path), extra_data.RunDirectory(path))
    return _SPLIT_RUNS["runs"]
