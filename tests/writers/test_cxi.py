"""The cxi writer: virtual (frames, modules, ...) detector stacks in CXI 1.5 files."""
from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import reference_read
from xfconvert import RunDirectory
from xfconvert.components import AGIPD1M, DSSC1M, JUNGFRAU, LPD1M
from xfconvert.exceptions import FileStructureError, NoDataError, OptionError
from xfconvert.testing import make_run
from xfconvert.testing.writer_tests import WriterTests
from xfconvert.writers.base import convert, make_options
from xfconvert.writers.cxi import CXIWriter, write_virtual_cxi

AGIPD = "SPB_DET_AGIPD1M-1/DET/{}CH0:xtdf"
LPD = "FXE_DET_LPD1M-1/DET/{}CH0:xtdf"
DSSC = "SCS_DET_DSSC1M-1/DET/{}CH0:xtdf"
JF = "SPB_IRDA_JF4M/DET/JNGFR{:02}:daqOutput"
DET = "entry_1/instrument_1/detector_1"
MISSING = [10002, 10003]


def agipd_run(path, **kw):
    """4 AGIPD modules, module 2 missing, module 1 missing two trains, 2 sequences."""
    args = dict(detector="agipd", n_modules=4, module_shape=(16, 8), n_trains=12,
                frames_per_train=3, n_sequences=2, missing_modules=[2],
                missing_trains={AGIPD.format(1): MISSING}, slow_data=False, seed=3)
    args.update(kw)
    return make_run(path, **args)


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    return agipd_run(tmp_path_factory.mktemp("raw") / "r0001")


@pytest.fixture(scope="module")
def proc_dir(tmp_path_factory):
    return agipd_run(tmp_path_factory.mktemp("proc") / "r0001", corrected=True, seed=4)


def is_fill(values: np.ndarray, fill) -> bool:
    return bool(np.isnan(values).all() if np.isnan(fill) else (values == fill).all())


def check_against_files(run_dir, path, source_fmt, module_axis, keys, fills,
                        cells: int | None = None) -> np.ndarray:
    """Every frame of every module file is at its (trainId, pulseId) row and module
    position; everything else is the fill value. Independent of the reader: module
    files are read with h5py straight from INDEX (``reference_read``).

    ``cells``: JUNGFRAU, each train entry holds this many frames (pulseId = cell position).
    Returns a boolean (frames, modules) array of the positions holding data.
    """
    with h5py.File(path, "r") as f:
        tids, pids = f["entry_1/trainId"][()], f["entry_1/pulseId"][()]
        row_of = {(int(t), int(p)): i for i, (t, p) in enumerate(zip(tids, pids))}
        assert len(row_of) == len(tids), "frames are not unique"
        stacks = {name: f[f"{DET}/{name}"][()] for name in keys}
    covered = np.zeros((len(tids), len(module_axis)), dtype=bool)
    run_dir = Path(run_dir)
    present = {p.name for p in run_dir.iterdir()}
    for pos, modno in enumerate(module_axis):
        source = source_fmt.format(modno)
        if not any(f"{modno:02}-S" in name for name in present):
            continue
        if cells is None:
            etids, epids = reference_read(run_dir, source, "image.pulseId")
            epids = epids.reshape(-1)
        else:
            etids = np.repeat(reference_read(run_dir, source, "data.trainId")[0], cells)
            epids = np.tile(np.arange(cells), len(etids) // cells)
        rows = np.array([row_of.get((int(t), int(p)), -1) for t, p in zip(etids, epids)])
        for name, key in keys.items():
            _, values = reference_read(run_dir, source, key)
            if cells is not None:
                values = values.reshape((-1,) + values.shape[2:])
            values = values.reshape((len(rows),) + stacks[name].shape[2:])
            np.testing.assert_array_equal(stacks[name][rows[rows >= 0], pos],
                                          values[rows >= 0], err_msg=f"{name} {modno}")
        covered[rows[rows >= 0], pos] = True
    for name, stack in stacks.items():
        assert is_fill(stack[~covered], fills[name]), name
    return covered


def check_component(det, path, key="image.data", name="data", fill=None) -> None:
    """The data stack equals the component's own aligned read, frame by frame."""
    arr = det.get_array(key, unstack_pulses=False, fill_value=fill, module_gaps=True)
    with h5py.File(path, "r") as f:
        stack = f[f"{DET}/{name}"][()]
        np.testing.assert_array_equal(f["entry_1/trainId"][()],
                                      arr.coords["train"].values)
        np.testing.assert_array_equal(f["entry_1/pulseId"][()],
                                      arr.coords["pulse"].values)
    expected = np.moveaxis(arr.values, 0, 1).reshape(stack.shape)
    np.testing.assert_array_equal(stack, expected)


def check_structure(path, module_axis, axes) -> None:
    with h5py.File(path, "r") as f:
        assert f["cxi_version"][()] == 150
        tids = f["entry_1/trainId"][()]
        pids = f["entry_1/pulseId"][()]
        ident = [s.decode() for s in f["entry_1/experiment_identifier"][()]]
        assert ident == [f"{t}:{p}" for t, p in zip(tids, pids)]
        assert f["entry_1/cellId"].shape == tids.shape
        assert f[f"{DET}/module_identifier"][()].tolist() == list(module_axis)
        assert isinstance(f.get("entry_1/data_1", getlink=True), h5py.SoftLink)
        assert f["entry_1/data_1/data"].shape == f[f"{DET}/data"].shape
        for name in ("data", "gain", "mask"):
            if name in f[DET]:
                ds = f[f"{DET}/{name}"]
                assert ds.is_virtual and ds.attrs["axes"] == axes, name
                assert ds.shape[:2] == (len(tids), len(module_axis))


class TestCXIWriter(WriterTests):
    writer = CXIWriter

    def make_data(self, tmp_path):
        return AGIPD1M(RunDirectory(agipd_run(tmp_path / "r0001")))

    def empty_data(self, data):
        return data.data.select("NO_SUCH_SOURCE_*")

    def check_output(self, data, path):
        run_dir = data.data.run_path
        check_structure(path, range(16), "experiment_identifier:module_identifier:"
                                         "data_gain:y:x")
        covered = check_against_files(run_dir, path, AGIPD, range(16),
                                      {"data": "image.data"}, {"data": 0})
        # Module 2 and 4-15 have no files; module 1 lacks two trains, filled not shifted.
        assert covered[:, [0, 3]].all() and not covered[:, [2] + list(range(4, 16))].any()
        with h5py.File(path, "r") as f:
            tids = f["entry_1/trainId"][()]
            assert f[f"{DET}/data"].shape == (36, 16, 2, 16, 8)
            assert f.attrs["proposal"] == 700000 and f.attrs["run"] == 1
        np.testing.assert_array_equal(covered[:, 1], ~np.isin(tids, MISSING))
        check_component(data, path, fill=0)

    def read_provenance(self, path):
        with h5py.File(path, "r") as f:
            return dict(f.attrs)


def test_corrected_data_gain_mask(proc_dir, tmp_path):
    det = AGIPD1M(RunDirectory(proc_dir))
    out = write_virtual_cxi(det, tmp_path / "proc.cxi")
    check_structure(out, range(16), "experiment_identifier:module_identifier:y:x")
    keys = {"data": "image.data", "gain": "image.gain", "mask": "image.mask"}
    fills = {"data": np.nan, "gain": 0, "mask": 0xffffffff}
    check_against_files(proc_dir, out, AGIPD, range(16), keys, fills)
    for name, key in keys.items():
        check_component(det, out, key, name, fill=fills[name])
    with h5py.File(out, "r") as f:
        assert f[f"{DET}/data"].dtype == np.float32 and f[f"{DET}/mask"].dtype == np.uint32
        assert f[f"{DET}/data"].shape == (36, 16, 16, 8)
        # cellId: straight from the module files
        _, cells = reference_read(proc_dir, AGIPD.format(0), "image.cellId")
        np.testing.assert_array_equal(f["entry_1/cellId"][()], cells.reshape(-1))


def test_fill_values_and_modules(proc_dir, tmp_path):
    det = AGIPD1M(RunDirectory(proc_dir), modules=[0, 1, 2])
    fills = {"data": -1.0, "gain": 7, "mask": 0b101}
    out = write_virtual_cxi(det, tmp_path / "f.cxi", fills, min_modules=1)
    check_structure(out, [0, 1, 2], "experiment_identifier:module_identifier:y:x")
    check_against_files(proc_dir, out, AGIPD, [0, 1, 2],
                        {"data": "image.data", "gain": "image.gain", "mask": "image.mask"},
                        fills)
    with pytest.raises(OptionError, match="given twice"):
        write_virtual_cxi(det, tmp_path / "g.cxi", {"data": 0}, fill_data=1)
    with pytest.raises(OptionError, match="'data', 'gain' or 'mask'"):
        write_virtual_cxi(det, tmp_path / "g.cxi", {"image": 0})


@pytest.mark.parametrize("fills, message", [
    ({"data": np.nan}, "does not fit its dtype uint16"),
    ({"data": 1.5}, "does not fit"),
    ({"data": 70000}, "does not fit"),
])
def test_bad_fill_values_for_raw(raw_dir, tmp_path, fills, message):
    with pytest.raises(OptionError, match=message):
        write_virtual_cxi(AGIPD1M(RunDirectory(raw_dir)), tmp_path / "x.cxi", fills)
    assert not (tmp_path / "x.cxi").exists()


def test_collection_input_and_min_modules(raw_dir, tmp_path):
    run = RunDirectory(raw_dir)
    # 3 modules with data: by default trains need 2; module 1's gaps leave 2 -> all kept.
    out = convert(run, tmp_path / "all.cxi", to=CXIWriter)
    with h5py.File(out, "r") as f:
        assert len(np.unique(f["entry_1/trainId"][()])) == 12
    out = convert(run, tmp_path / "three.cxi", to=CXIWriter, min_modules=3)
    with h5py.File(out, "r") as f:
        tids = np.unique(f["entry_1/trainId"][()])
    assert tids.tolist() == [t for t in range(10000, 10012) if t not in MISSING]
    check_against_files(raw_dir, out, AGIPD, range(16), {"data": "image.data"}, {"data": 0})
    with pytest.raises(NoDataError):
        convert(run, tmp_path / "none.cxi", to=CXIWriter, min_modules=4)
    assert not (tmp_path / "none.cxi").exists()


def test_module_without_data_in_kept_trains(tmp_path):
    # Module 2 has data only in the two trains that min_modules=2 drops.
    run_dir = agipd_run(tmp_path / "r0001", n_modules=3, missing_modules=[], n_trains=6,
                        missing_trains={AGIPD.format(0): [10000, 10001],
                                        AGIPD.format(1): [10000, 10001],
                                        AGIPD.format(2): [10002, 10003, 10004, 10005]})
    det = AGIPD1M(RunDirectory(run_dir), modules=[0, 1, 2])
    out = write_virtual_cxi(det, tmp_path / "x.cxi", min_modules=2)
    covered = check_against_files(run_dir, out, AGIPD, [0, 1, 2], {"data": "image.data"},
                                  {"data": 0})
    assert covered[:, :2].all() and not covered[:, 2].any()
    with h5py.File(out, "r") as f:
        assert np.unique(f["entry_1/trainId"][()]).tolist() == [10002, 10003, 10004, 10005]


def test_few_mappings_per_module(raw_dir):
    det = AGIPD1M(RunDirectory(raw_dir))
    plan = CXIWriter().plan(det, make_options(CXIWriter, {}))
    stack = plan.items[1]
    per_module = {}
    for m in stack.mappings:
        per_module[m.module] = per_module.get(m.module, 0) + 1
    # One mapping per sequence file; module 1's gap inside its first file adds one.
    assert per_module == {0: 2, 1: 3, 3: 2}
    assert "4 mapping(s)" not in str(stack) and "7 mapping(s) from 6 file(s)" in str(stack)
    assert "36 frames in 12 trains" in plan.describe()


def test_mappings_stored_in_file(raw_dir, tmp_path):
    out = write_virtual_cxi(AGIPD1M(RunDirectory(raw_dir)), tmp_path / "m.cxi")
    with h5py.File(out, "r") as f:
        sources = f[f"{DET}/data"].virtual_sources()
    assert len(sources) == 7
    modules = sorted(vs.vspace.get_select_bounds()[0][1] for vs in sources)
    assert modules == [0, 0, 1, 1, 1, 3, 3]


def test_readable_by_hdf5_1_10(raw_dir, tmp_path):
    out = write_virtual_cxi(AGIPD1M(RunDirectory(raw_dir)), tmp_path / "v.cxi")
    with h5py.File(out, "r") as f:
        superblock = f.id.get_create_plist().get_version()[0]
        assert superblock <= 3  # 3 is what HDF5 1.10 writes; newer versions need newer HDF5
        assert f[f"{DET}/data"].is_virtual
    with h5py.File(out, "r", libver=("earliest", "v110")) as f:
        assert f["entry_1/data_1/data"][0].shape == (16, 2, 16, 8)


def test_relative_paths_move_with_run(raw_dir, tmp_path):
    base = tmp_path / "a"
    shutil.copytree(raw_dir, base / "r0001")
    out = write_virtual_cxi(RunDirectory(base / "r0001"), base / "x.cxi", relative_paths=True)
    with h5py.File(out, "r") as f:
        assert not f[f"{DET}/data"].virtual_sources()[0].file_name.startswith("/")
    shutil.move(base, tmp_path / "b")
    check_against_files(raw_dir, tmp_path / "b" / "x.cxi", AGIPD, range(16),
                        {"data": "image.data"}, {"data": 0})


def test_inconsistent_pulse_ids(tmp_path):
    run_dir = agipd_run(tmp_path / "r0001", n_sequences=1)
    path = next(run_dir.glob("*AGIPD03*.h5"))
    src = AGIPD.format(3)
    with h5py.File(path, "r+") as f:
        tids = f["INDEX/trainId"][()]
        first = int(f[f"INDEX/{src}/image/first"][list(tids).index(10005)])
        f[f"INSTRUMENT/{src}/image/pulseId"][first:first + 3] = [[100], [101], [102]]
    with pytest.raises(FileStructureError) as info:
        write_virtual_cxi(AGIPD1M(RunDirectory(run_dir)), tmp_path / "x.cxi")
    message = str(info.value)
    assert "train 10005" in message and "module(s) [3]" in message
    assert "module(s) [0, 1]" in message and path.name in message
    assert not (tmp_path / "x.cxi").exists()


@pytest.mark.parametrize("detector, cls, fmt, corrected, names", [
    ("lpd", LPD1M, LPD, False, ["data"]),
    ("lpd", LPD1M, LPD, True, ["data", "gain", "mask"]),
    ("dssc", DSSC1M, DSSC, True, ["data", "mask"]),
])
def test_lpd_dssc(tmp_path, detector, cls, fmt, corrected, names):
    run_dir = make_run(tmp_path / "r0001", detector=detector, n_modules=3, module_shape=(4, 6),
                       n_trains=6, frames_per_train=2, n_sequences=2, corrected=corrected,
                       missing_trains={fmt.format(2): [10002]}, slow_data=False, seed=9)
    det = cls(RunDirectory(run_dir))
    out = write_virtual_cxi(det, tmp_path / "x.cxi")
    check_structure(out, range(16), "experiment_identifier:module_identifier:y:x")
    with h5py.File(out, "r") as f:
        assert sorted(k for k in f[DET] if k != "module_identifier") == sorted(names)
        assert f[f"{DET}/data"].shape == (12, 16, 4, 6)  # raw (1, ss, fs) frames squeezed
    fills = {"data": np.nan if corrected else 0, "gain": 0, "mask": 0xffffffff}
    keys = {name: "image." + name for name in names}
    check_against_files(run_dir, out, fmt, range(16), keys, fills)


@pytest.mark.parametrize("corrected", [False, True])
def test_jungfrau_cells_are_frames(tmp_path, corrected):
    run_dir = make_run(tmp_path / "r0001", detector="jungfrau", n_modules=3,
                       module_shape=(4, 6), n_trains=6, memory_cells=3, n_sequences=2,
                       corrected=corrected, missing_trains={JF.format(2): [10001, 10004]},
                       slow_data=False, seed=11)
    det = JUNGFRAU(RunDirectory(run_dir))
    out = write_virtual_cxi(det, tmp_path / "jf.cxi", min_modules=3 if corrected else None)
    n_trains = 4 if corrected else 6
    check_structure(out, [1, 2, 3], "experiment_identifier:module_identifier:y:x")
    keys = {"data": "data.adc", "gain": "data.gain"}
    if corrected:
        keys["mask"] = "data.mask"
    fills = {"data": np.nan if corrected else 0, "gain": 0, "mask": 0xffffffff}
    covered = check_against_files(run_dir, out, JF, [1, 2, 3], keys, fills, cells=3)
    with h5py.File(out, "r") as f:
        assert f[f"{DET}/data"].shape == (n_trains * 3, 3, 4, 6)
        assert f["entry_1/pulseId"][()].tolist() == [0, 1, 2] * n_trains
        _, cells = reference_read(run_dir, JF.format(1), "data.memoryCell")
        tids = f["entry_1/trainId"][()]
        kept = np.isin(np.arange(10000, 10006), np.unique(tids))
        np.testing.assert_array_equal(f["entry_1/cellId"][()], cells[kept].reshape(-1))
        n_mappings = len(f[f"{DET}/data"].virtual_sources())
    assert covered.sum() == covered.size - (0 if corrected else 2 * 3)
    # Raw: one mapping per file, plus one for module 2's gap inside its second file.
    # Corrected: dropping trains 10001 and 10004 cuts modules 1 and 3's second file into
    # two chunks each (module 2 lacks those trains, so its entries stay contiguous).
    assert n_mappings == (8 if corrected else 7)


def test_not_a_detector(tmp_path):
    run = RunDirectory(make_run(tmp_path / "r1", n_trains=3))
    with pytest.raises(NoDataError, match="No multi-module detector"):
        convert(run, tmp_path / "x.cxi", to=CXIWriter)
    with pytest.raises(OptionError, match="detector component"):
        CXIWriter().plan(object(), make_options(CXIWriter, {}))
