"""DataCollection: sources, keys, selections, unions, info()."""
import numpy as np
import pytest

from xfconvert import RunDirectory, by_id, by_index
from xfconvert.exceptions import NoDataError, PropertyNameError, SourceNameError, TrainIDError

from ..conftest import AGIPD_MOD, XGM, XGM_OUT


@pytest.fixture(scope="module")
def run(agipd_run):
    return RunDirectory(agipd_run)


def test_sources(run):
    assert XGM in run.control_sources
    assert XGM_OUT in run.instrument_sources
    assert run.all_sources == run.control_sources | run.instrument_sources
    assert AGIPD_MOD.format(2) not in run.all_sources  # missing module
    assert run.train_ids == list(range(10000, 10012))


def test_keys_for_source(run):
    keys = run.keys_for_source(XGM)
    assert {"beamPosition.ixPos.value", "beamPosition.ixPos.timestamp"} <= keys
    assert "data.intensityTD" in run.keys_for_source(XGM_OUT)
    assert "image.data" in run[AGIPD_MOD.format(0)].keys()


def test_select_two_globs(run):
    sel = run.select("*_XGM/*", "*.ixPos")
    assert sel.all_sources == {XGM}
    assert sel.keys_for_source(XGM) == {"beamPosition.ixPos.value"}
    assert run.select("*_XGM/*", "*.ixPos*").keys_for_source(XGM) == {
        "beamPosition.ixPos.value", "beamPosition.ixPos.timestamp"}
    assert run.select("*/DET/*").all_sources == {AGIPD_MOD.format(m) for m in (0, 1, 3)}
    # run itself is unchanged: selections are immutable
    assert XGM_OUT in run.all_sources


def test_select_pairs_and_dict(run):
    sel = run.select([("*/DET/*", "image.data"), (XGM_OUT, "data.xTD")])
    assert sel.keys_for_source(AGIPD_MOD.format(0)) == {"image.data"}
    assert sel.keys_for_source(XGM_OUT) == {"data.xTD"}
    sel = run.select({XGM: {"beamPosition.iyPos"}, XGM_OUT: set()})
    assert sel.keys_for_source(XGM) == {"beamPosition.iyPos.value"}
    assert sel.keys_for_source(XGM_OUT) == run.keys_for_source(XGM_OUT)
    with pytest.raises(SourceNameError):
        run.select({"NO/SUCH/DEVICE": set()})
    with pytest.raises(PropertyNameError):
        run.select({XGM: {"no.such.key"}})


def test_select_matching_nothing_is_an_error(run):
    with pytest.raises(NoDataError, match="NO/SUCH"):
        run.select("NO/SUCH/SOURCE")
    with pytest.raises(ValueError, match=r"No matches for pattern \('NO/SUCH/\*', '\*'\)"):
        run.select("NO/SUCH/*")
    with pytest.raises(ValueError, match="nokey"):  # one pair of several matching nothing
        run.select([("*_XGM/*", "*"), ("*_XGM/*", "nokey")])


def test_deselect(run):
    sel = run.deselect("*/DET/*")
    assert not any("/DET/" in s for s in sel.all_sources)
    sel = run.deselect(XGM_OUT, "data.xTD")
    assert "data.xTD" not in sel.keys_for_source(XGM_OUT)
    assert "data.yTD" in sel.keys_for_source(XGM_OUT)


def test_select_trains_forms(run):
    assert run.select_trains(by_id[10002:10005]).train_ids == [10002, 10003, 10004]
    assert run.select_trains(by_id[[10001, 10007]]).train_ids == [10001, 10007]
    assert run.select_trains(by_index[-2:]).train_ids == [10010, 10011]
    assert run.select_trains(np.s_[:3]).train_ids == [10000, 10001, 10002]
    assert run.select_trains([0, 5]).train_ids == [10000, 10005]
    assert run.select_trains(np.array([1])).train_ids == [10001]
    assert run.select_trains(by_id[20000:20005]).train_ids == []
    assert run.select_trains(by_id[[10001, 99]]).train_ids == [10001]
    with pytest.warns(UserWarning, match="None of the 1 given train IDs"):
        assert run.select_trains(by_id[[99]]).train_ids == []
    with pytest.raises(TrainIDError):
        run.select_trains(by_index[[100]])
    mask = np.arange(12) % 5 == 0
    assert run.select_trains(mask).train_ids == [10000, 10005, 10010]
    with pytest.raises(ValueError, match="one value per train"):
        run.select_trains(mask[:3])
    assert run[by_id[10003:10005]].train_ids == [10003, 10004]


def test_selected_trains_propagate_to_keys(run):
    sel = run.select_trains(by_id[10003:10006])
    kd = sel[AGIPD_MOD.format(1), "image.data"]
    assert kd.data_counts(labelled=False).tolist() == [0, 0, 3]
    assert kd.shape[0] == 3


def test_split_trains(run):
    parts = list(run.split_trains(parts=3))
    assert [p.train_ids for p in parts] == [run.train_ids[i:i + 4] for i in (0, 4, 8)]
    assert sum(len(p.train_ids) for p in run.split_trains(trains_per_part=5)) == 12


def test_union(run):
    a = run.select("*_XGM/*").select_trains(by_index[:4])
    b = run.select("*/DET/0*").select_trains(by_index[6:])
    u = a.union(b)
    assert u.all_sources == a.all_sources | b.all_sources
    assert u.train_ids == run.train_ids[:4] + run.train_ids[6:]
    assert u.files[0] is run.files[0] or set(u.files) <= set(run.files)


def test_getitem_and_contains(run):
    assert (XGM, "beamPosition.ixPos") in run
    assert (XGM, "nope") not in run
    with pytest.raises(SourceNameError) as info:
        run["nope"]
    assert isinstance(info.value, KeyError)


def test_info_text(run, capsys):
    text = run.info_text(["*_XGM/*"])
    assert "# of trains:    12" in text
    assert "beamPosition.ixPos\t[float32]" in text
    text = run.info_text()
    assert "3 XTDF detector modules of SPB_DET_AGIPD1M-1/DET/*" in text
    assert "16 x 8 pixels" in text
    run.info()
    assert "control sources" in capsys.readouterr().out


def test_get_data_counts(run):
    counts = run.get_data_counts(AGIPD_MOD.format(1), "image.data")
    assert counts.loc[10003] == 0 and counts.loc[10000] == 3
    assert counts.dtype == np.int64 and counts.index.name is None


def test_files_are_shared(run, agipd_run):
    again = RunDirectory(agipd_run)
    assert all(a is b for a, b in zip(run.files, again.files))
    assert run.select("*XGM*").files is run.files
