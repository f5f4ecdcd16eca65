"""Files laid out as the EuXFEL DAQ writes them, made by EXtra-data's own generator:
zero-padded INDEX/trainId, per-source indexes as long as the real trains or as the
padded array, preallocated datasets with chunks never written. Every call is compared
with EXtra-data 1.25 on the same files."""
import h5py
import numpy as np
import pytest

from xfconvert import H5File, RunDirectory
from xfconvert.readers.validation import validate

ed = pytest.importorskip("extra_data")
mock = pytest.importorskip("extra_data.tests.mockdata")
from extra_data.tests.mockdata.detectors import AGIPDModule  # noqa: E402
from extra_data.tests.mockdata.motor import Motor  # noqa: E402
from extra_data.tests.mockdata.xgm import XGM  # noqa: E402

XGM_NAME = "SA1_XTD2_XGM/DOOCS/MAIN"
AGIPD_NAME = "SPB_DET_AGIPD1M-1/DET/0CH0"


def fill_random(path, rng, leave_unwritten=0):
    """Random values in every numeric data dataset, leaving the last entries unwritten."""
    def visit(name, obj):
        if (not isinstance(obj, h5py.Dataset) or obj.size == 0 or obj.dtype.kind not in "iuf"
                or not name.startswith(("CONTROL", "INSTRUMENT"))
                or name.rsplit("/", 1)[-1] in ("trainId", "pulseId", "cellId", "length", "timestamp")):
            return
        stop = max(1, obj.shape[0] - leave_unwritten)
        shape = (stop,) + obj.shape[1:]
        if obj.dtype.kind == "f":
            obj[:stop] = rng.standard_normal(shape).astype(obj.dtype)
        else:
            info = np.iinfo(obj.dtype)
            obj[:stop] = rng.integers(0, min(info.max, 1000), shape, dtype=obj.dtype)

    with h5py.File(path, "r+") as f:
        f.visititems(visit)


def make_file(path, version, ntrains=5, chunksize=8, firsttrain=10000, seed=0,
              leave_unwritten=0, detector=False):
    devices = [XGM(XGM_NAME), Motor("SPB_XTD9_MOTOR/MOTOR/X")]
    if detector:
        devices.append(AGIPDModule(AGIPD_NAME, frames_per_train=2))
    mock.write_file(str(path), devices,
                    ntrains=ntrains, chunksize=chunksize, firsttrain=firsttrain,
                    format_version=version)
    fill_random(path, np.random.default_rng(seed), leave_unwritten)
    return path


def assert_same(ours, ref, every=1):
    """Same trains, sources and keys; same values and counts for every ``every``-th key
    of each source (XGM alone has ~300 keys)."""
    assert ours.train_ids == [int(t) for t in ref.train_ids]
    assert ours.control_sources == set(ref.control_sources)
    assert ours.instrument_sources == set(ref.instrument_sources)
    for src in sorted(ref.all_sources):
        assert ours.keys_for_source(src) == ref.keys_for_source(src), src
        for key in sorted(ref.keys_for_source(src))[::every]:
            np.testing.assert_array_equal(ours[src, key].ndarray(), ref[src, key].ndarray(),
                                          err_msg=f"{src} {key}")
            np.testing.assert_array_equal(ours[src, key].data_counts(labelled=False),
                                          ref[src, key].data_counts(labelled=False))


@pytest.mark.parametrize("version", ["0.5", "1.0", "1.2"])
def test_padded_trainid_short_source_index(tmp_path, version):
    path = make_file(tmp_path / "RAW-R0001-DA01-S00000.h5", version, detector=version == "1.0")
    with h5py.File(path) as f:  # the layout under test, as the generator makes it
        assert f["INDEX/trainId"].shape[0] > f[f"INDEX/{XGM_NAME}/count"].shape[0]
        assert f["INDEX/trainId"][-1] == 0
    assert_same(H5File(path), ed.H5File(str(path)), every=1 if version == "1.0" else 9)
    assert validate(path) == []


@pytest.mark.parametrize("version", ["0.5", "1.0"])
def test_source_index_as_long_as_padding(tmp_path, version):
    path = make_file(tmp_path / "RAW-R0001-DA01-S00000.h5", version, seed=1)
    with h5py.File(path, "r+") as f:
        n = f["INDEX/trainId"].shape[0]
        groups = []
        f["INDEX"].visititems(lambda name, obj: groups.append(name)
                              if isinstance(obj, h5py.Group) and "count" in obj else None)
        for g in groups:
            for name in ("first", "count"):
                ds = f[f"INDEX/{g}/{name}"]
                values = ds[()]
                ds.resize((n,))
                ds[:] = np.concatenate([values, np.zeros(n - values.size, values.dtype)])
    assert_same(H5File(path), ed.H5File(str(path)), every=7)
    assert validate(path) == []


def test_unwritten_chunks_read_as_fill_value(tmp_path):
    path = make_file(tmp_path / "RAW-R0001-DA01-S00000.h5", "1.0", chunksize=8,
                     leave_unwritten=3, seed=2, detector=True)
    key = "image.data"
    src = f"{AGIPD_NAME}:xtdf"
    with h5py.File(path) as f:
        ds = f[f"INSTRUMENT/{src}/image/data"]
        assert ds.id.get_num_chunks() < ds.shape[0]  # one frame a chunk: the tail is unwritten
        direct = ds[()]
    ours = H5File(path)
    assert_same(ours, ed.H5File(str(path)), every=5)
    np.testing.assert_array_equal(ours[src, key].ndarray(), direct[:10])
    assert (ours[src, key].ndarray()[-3:] == 0).all()


def test_preallocated_dataset_longer_than_index(tmp_path):
    path = make_file(tmp_path / "RAW-R0001-DA01-S00000.h5", "1.0", seed=3)
    with h5py.File(path, "r+") as f:
        ds = f[f"CONTROL/{XGM_NAME}/beamPosition/ixPos/value"]
        ds.resize((ds.shape[0] + 1000,))  # never written: no chunk exists there
    ours = H5File(path)
    kd = ours[XGM_NAME, "beamPosition.ixPos.value"]
    assert kd.shape == (5,)
    assert_same(ours, ed.H5File(str(path)), every=11)


def test_run_of_sequence_files(tmp_path):
    run_dir = tmp_path / "r0001"
    run_dir.mkdir()
    for seq in range(2):
        make_file(run_dir / f"RAW-R0001-DA01-S{seq:05d}.h5", "1.0", ntrains=6,
                  firsttrain=10000 + 6 * seq, seed=10 + seq)
    run = RunDirectory(run_dir)
    assert_same(run, ed.RunDirectory(str(run_dir)), every=3)
    assert len(run.train_ids) == 12
    assert validate(run_dir) == []
