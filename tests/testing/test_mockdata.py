"""Tests of the mock EuXFEL data generator, checked with h5py only."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xfconvert.exceptions import OptionError
from xfconvert.testing import (
    CHUNKINGS,
    DAMAGE_KINDS,
    DETECTORS,
    XGM,
    AGIPDModule,
    Camera,
    JUNGFRAUModule,
    Motor,
    damage_file,
    describe_damage,
    make_damaged_file,
    make_run,
    make_slow_data_run,
    sequence_bounds,
    write_file,
)
from xfconvert.testing import files as files_module
from xfconvert.testing.__main__ import main as cli_main

SHAPE = (8, 4)
XGM_NAME = "SA1_XTD2_XGM/DOOCS/MAIN"
MOTOR_NAME = "SPB_XTD9_MOTORS/MOTOR/STAGE_X"
AGIPD0 = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"


def small_devices(corrected: bool = False) -> list:
    return [XGM(XGM_NAME), Motor(MOTOR_NAME),
            AGIPDModule(AGIPD0.split(":")[0], frames_per_train=3, corrected=corrected,
                        module_shape=SHAPE)]


def index_groups(f: h5py.File) -> list[str]:
    """Paths (relative to INDEX) of all source index groups."""
    found: list[str] = []
    f["INDEX"].visit(lambda n: found.append(n.rsplit("/", 1)[0]) if n.endswith("/first") else None)
    return found


def data_group(index_path: str) -> str:
    return f"INSTRUMENT/{index_path}" if ":" in index_path else f"CONTROL/{index_path}"


def datasets(group: h5py.Group) -> dict[str, h5py.Dataset]:
    out: dict[str, h5py.Dataset] = {}
    group.visititems(lambda n, o: out.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
    return out


def first_count(grp: h5py.Group) -> tuple[np.ndarray, np.ndarray]:
    first = grp["first"][:].astype(np.int64)
    if "count" in grp:
        return first, grp["count"][:].astype(np.int64)
    return first, np.where(grp["status"][:] > 0, grp["last"][:].astype(np.int64) - first + 1, 0)


def find_problems(path: Path) -> set[str]:
    """A minimal independent validator: names of the problems it finds in ``path``."""
    try:
        f = h5py.File(path, "r")
    except OSError:
        return {"unreadable"}
    problems = set()
    with f:
        if "METADATA" not in f:
            problems.add("missing_metadata")
        if "INDEX" not in f:
            return problems | {"missing_index"}
        tids = f["INDEX/trainId"][:]
        real = tids[:len(tids) - int(np.argmax(tids[::-1] != 0))] if tids.any() else tids
        if (real == 0).any():
            problems.add("zero_train_id")
        if (real[1:] <= real[:-1]).any():
            problems.add("unsorted_train_ids")
        if (real > 2 ** 40).any():
            problems.add("huge_train_id")
        for src in index_groups(f):
            first, count = first_count(f["INDEX"][src])
            # A per-source index may stop at the last real train (zero padding after it).
            if len(first) != len(count) or len(first) not in (len(tids), len(real)):
                problems.add("index_length_mismatch")
                continue
            ends = first + count
            if (first[1:] > ends[:-1]).any():
                problems.add("index_gap")
            if (first[1:] < ends[:-1]).any():
                problems.add("index_overlap")
            lengths = {d.shape[0] for d in datasets(f[data_group(src)]).values()}
            if len(ends) and ends.max() > min(lengths):
                problems.add("index_past_end")
    return problems


def read_source(files: list[Path], group: str) -> dict[str, np.ndarray]:
    """Every dataset under ``group`` concatenated over ``files`` (e.g. sequence files)."""
    parts: dict[str, list[np.ndarray]] = {}
    for path in files:
        with h5py.File(path) as f:
            for name, ds in datasets(f[group]).items():
                parts.setdefault(name, []).append(ds[:])
    return {name: np.concatenate(arrs) for name, arrs in parts.items()}


# --- structure per format version -------------------------------------------------------

@pytest.mark.parametrize("version", ["0.5", "1.0", "1.2", "1.3"])
def test_structure_per_format_version(tmp_path, version):
    path = write_file(tmp_path / "RAW-R0001-DA01-S00000.h5", small_devices(), range(100, 105),
                      format_version=version)
    with h5py.File(path) as f:
        meta = f["METADATA"]
        if version == "0.5":
            assert "dataFormatVersion" not in meta and "dataSources" not in meta
            src_grp = meta
            assert set(f["INDEX"]) >= {"trainId"} and "timestamp" not in f["INDEX"]
        else:
            assert meta["dataFormatVersion"][:].tolist() == [version.encode()]
            src_grp = meta["dataSources"]
            for name in ("creationDate", "daqLibrary", "karaboFramework"):
                assert meta[name].dtype.kind == "S" and meta[name].shape == (1,)
            for name in ("proposalNumber", "runNumber", "sequenceNumber"):
                assert meta[name].dtype == np.uint32 and meta[name].shape == (1,)
            assert meta["proposalNumber"][0] == 700000
            assert ("runType" in meta) == ("sample" in meta) == (version in ("1.2", "1.3"))
            n = len(f["INDEX/trainId"])
            ts = f["INDEX/timestamp"][:]
            assert ts.dtype == np.uint64 and (np.diff(ts) == 100_000_000).all()
            assert f["INDEX/flag"][:].tolist() == [1] * n
            assert f["INDEX/origin"][:].tolist() == [-1] * n

        ids = src_grp["dataSourceId"][:]
        assert ids.dtype.kind == "S" and ids[-1] == b""
        ids = [s.decode() for s in ids if s]
        assert f"CONTROL/{XGM_NAME}" in ids and f"CONTROL/{MOTOR_NAME}" in ids
        assert f"INSTRUMENT/{XGM_NAME}:output/data" in ids
        groups = ("image", "header", "detector", "trailer")
        assert {f"INSTRUMENT/{AGIPD0}/{g}" for g in groups} <= set(ids)
        roots = [s.decode() for s in src_grp["root"][:] if s]
        devs = [s.decode() for s in src_grp["deviceId"][:] if s]
        assert [f"{r}/{d}" for r, d in zip(roots, devs)] == ids
        for sid in ids:
            assert sid in f

        ix = f[f"CONTROL/{XGM_NAME}/beamPosition/ixPos/value"]
        image = f[f"INSTRUMENT/{AGIPD0}/image/data"]
        if version == "1.3":
            assert dict(ix.attrs) == {"unitName": "meter", "unitSymbol": "m",
                                      "metricPrefixSymbol": "m"}
        else:
            assert "unitName" not in ix.attrs
        assert "unitName" not in image.attrs  # detector ADC counts have no unit


def test_control_and_run_sections(tmp_path):
    path = write_file(tmp_path / "f.h5", [XGM(XGM_NAME)], range(100, 105),
                      run_start_train=99)
    with h5py.File(path) as f:
        ctrl = f[f"CONTROL/{XGM_NAME}/pulseEnergy/photonFlux"]
        run = f[f"RUN/{XGM_NAME}/pulseEnergy/photonFlux"]
        assert ctrl["value"].shape == (5,) and ctrl["value"].dtype == np.float32
        assert ctrl["timestamp"].dtype == np.uint64
        assert (ctrl["timestamp"][:] == f["INDEX/timestamp"][:]).all()
        assert run["value"].shape == (1,) and run["timestamp"].shape == (1,)
        assert run["timestamp"][0] == f["INDEX/timestamp"][0] - 100_000_000
        assert set(f["CONTROL"][XGM_NAME]) == set(f["RUN"][XGM_NAME])
        assert f[f"CONTROL/{XGM_NAME}/current/bottom/output/value"].shape == (5,)
        assert f[f"INSTRUMENT/{XGM_NAME}:output/data/intensityTD"].shape == (5, 1000)


def test_run_section_matches_control_value_at_run_start(tmp_path):
    run = make_run(tmp_path / "r", n_trains=6, n_sequences=2)
    key = f"{MOTOR_NAME}/actualPosition/value"
    with h5py.File(run / "RAW-R0001-DA01-S00000.h5") as f0, \
            h5py.File(run / "RAW-R0001-DA01-S00001.h5") as f1:
        assert f0[f"RUN/{key}"][0] == f0[f"CONTROL/{key}"][0] == f1[f"RUN/{key}"][0]


def test_pad_trains(tmp_path):
    path = write_file(tmp_path / "f.h5", small_devices(), range(100, 104), pad_trains=2)
    with h5py.File(path) as f:
        assert f["INDEX/trainId"][:].tolist() == [100, 101, 102, 103, 0, 0]
        assert f["INDEX/flag"][:].tolist() == [1, 1, 1, 1, 0, 0]
        for src in index_groups(f):
            first, count = first_count(f["INDEX"][src])
            assert count[-2:].tolist() == [0, 0]
            assert first[-1] == first[-2] == count[:-2].sum()
    assert find_problems(path) == set()


def test_legacy_index(tmp_path):
    path = write_file(tmp_path / "f.h5", small_devices(), range(100, 105), legacy_index=True,
                      missing_trains={AGIPD0: [102]})
    with h5py.File(path) as f:
        grp = f[f"INDEX/{AGIPD0}/image"]
        assert set(grp) == {"first", "last", "status"}
        assert grp["first"][:].tolist() == [0, 3, 6, 6, 9]
        assert grp["last"][:].tolist() == [2, 5, 6, 8, 11]
        assert grp["status"][:].tolist() == [1, 1, 0, 1, 1]
        assert set(f[f"INDEX/{MOTOR_NAME}"]) == {"first", "last", "status"}
    assert find_problems(path) == set()


# --- index consistency and values ----------------------------------------------------------

@pytest.mark.parametrize("legacy", [False, True])
def test_index_consistent_with_data(tmp_path, legacy):
    path = write_file(tmp_path / "f.h5", small_devices() + [Camera("CAM/X", shape=SHAPE)],
                      range(100, 110), legacy_index=legacy, pad_trains=1, control_every=3,
                      missing_trains={"SA1_*": [101, 104], AGIPD0: [100, 109]})
    assert find_problems(path) == set()
    with h5py.File(path) as f:
        tids = f["INDEX/trainId"][:]
        for src in index_groups(f):
            first, count = first_count(f["INDEX"][src])
            assert first.dtype == np.int64 and len(first) == len(tids)
            assert first[0] == 0 and (first[1:] == (first + count)[:-1]).all()
            for name, ds in datasets(f[data_group(src)]).items():
                assert ds.shape[0] == count.sum(), (src, name)
                if name.endswith("trainId"):
                    expect = np.repeat(tids, count)
                    assert (ds[:].reshape(len(ds), -1) == expect[:, None]).all()
                if ":" not in src and name.endswith("timestamp"):
                    assert (ds[:] == np.repeat(f["INDEX/timestamp"][:], count)).all()


def test_missing_trains_and_control_every(tmp_path):
    path = write_file(tmp_path / "f.h5", small_devices(), range(100, 106), control_every=2,
                      missing_trains={"SA1_*": [101, 102], "*AGIPD*": [105]})
    with h5py.File(path) as f:
        # Glob matches both the XGM control source and its ':output' channel.
        assert f[f"INDEX/{XGM_NAME}/count"][:].tolist() == [1, 0, 0, 0, 1, 0]
        assert f[f"INDEX/{XGM_NAME}:output/data/count"][:].tolist() == [1, 0, 0, 1, 1, 1]
        assert f[f"INDEX/{MOTOR_NAME}/count"][:].tolist() == [1, 0, 1, 0, 1, 0]
        assert f[f"INDEX/{AGIPD0}/image/count"][:].tolist() == [3, 3, 3, 3, 3, 0]
        assert f[f"INDEX/{AGIPD0}/header/count"][:].tolist() == [1, 1, 1, 1, 1, 0]
        assert f[f"CONTROL/{MOTOR_NAME}/status/timestamp"].shape == (3,)


def test_detector_meaningful_values(tmp_path):
    run = make_run(tmp_path / "r", detector="agipd", n_modules=3, module_shape=SHAPE,
                   n_trains=4, frames_per_train=5, slow_data=False)
    cell_ids = []
    for m in range(3):
        src = f"INSTRUMENT/SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf"
        with h5py.File(run / f"RAW-R0001-AGIPD{m:02}-S00000.h5") as f:
            img = f[f"{src}/image"]
            assert img["data"].shape == (20, 2, *SHAPE) and img["data"].dtype == np.uint16
            assert img["cellId"].shape == img["pulseId"].shape == img["trainId"].shape == (20, 1)
            assert img["status"].shape == (20,) and img["length"].shape == (20, 1)
            cell = img["cellId"][:, 0]
            assert cell.tolist() == list(range(5)) * 4
            assert (img["pulseId"][:, 0] == cell * 4).all()
            assert f[f"{src}/header/pulseCount"][:].tolist() == [5] * 4
            assert f[f"{src}/header/pulseCount"].dtype == np.uint64
            assert f[f"{src}/detector/data"].shape[0] == f[f"{src}/trailer/status"].shape[0] == 4
            cell_ids.append(cell)
            data = img["data"][:]
            # Values must change from frame to frame and never be all zeros.
            assert data.any() and not (data[0] == data[1]).all()
    assert all((c == cell_ids[0]).all() for c in cell_ids)


@pytest.mark.parametrize("detector,frame_shape,has_gain", [
    ("agipd", SHAPE, True), ("lpd", SHAPE, True), ("dssc", SHAPE, False)])
def test_corrected_xtdf(tmp_path, detector, frame_shape, has_gain):
    spec = DETECTORS[detector]
    run = make_run(tmp_path / "r", detector=detector, n_modules=1, module_shape=SHAPE,
                   n_trains=2, frames_per_train=2, corrected=True)
    assert {p.name[:5] for p in run.iterdir()} == {"CORR-"}
    with h5py.File(run / f"CORR-R0001-{spec.file_tag(0)}-S00000.h5") as f:
        img = f[f"INSTRUMENT/{spec.device_name(0)}:xtdf/image"]
        assert img["data"].dtype == np.float32 and img["data"].shape == (4, *frame_shape)
        assert img["mask"].dtype == np.uint32 and img["mask"].shape == (4, *frame_shape)
        assert ("gain" in img) == has_gain
        for name, dtype in [("cellId", np.uint16), ("pulseId", np.uint64), ("trainId", np.uint64)]:
            assert img[name].shape == (4,) and img[name].dtype == dtype
        assert img["trainId"][:].tolist() == [10000, 10000, 10001, 10001]


def test_real_module_shapes():
    expected = {"agipd": (2, 512, 128), "agipd500k": (2, 512, 128), "lpd": (1, 256, 256),
                "dssc": (1, 128, 512), "jungfrau": (16, 512, 1024)}
    for name, shape in expected.items():
        spec = DETECTORS[name]
        dev = spec.module_class(spec.device_name(spec.first_module))
        (channel,) = dev.channels().values()
        first_group = next(iter(channel.values()))
        assert first_group[0].shape == shape, name
    assert DETECTORS["agipd500k"].device_name(7) == "HED_DET_AGIPD500K2G/DET/7CH0"
    assert DETECTORS["lpd"].file_tag(15) == "LPD15"
    assert DETECTORS["dssc"].device_name(2) == "SCS_DET_DSSC1M-1/DET/2CH0"


@pytest.mark.parametrize("corrected", [False, True])
def test_jungfrau(tmp_path, corrected):
    run = make_run(tmp_path / "r", detector="jungfrau", n_trains=3, module_shape=SHAPE,
                   corrected=corrected, n_modules=2, missing_modules=[2], slow_data=False)
    prefix = "CORR" if corrected else "RAW"
    assert sorted(p.name for p in run.iterdir()) == [f"{prefix}-R0001-JNGFR01-S00000.h5"]
    with h5py.File(run / f"{prefix}-R0001-JNGFR01-S00000.h5") as f:
        grp = f["INSTRUMENT/SPB_IRDA_JF4M/DET/JNGFR01:daqOutput/data"]
        assert grp["adc"].shape == (3, 16, *SHAPE)
        assert grp["adc"].dtype == (np.float32 if corrected else np.uint16)
        assert grp["gain"].dtype == np.uint8 and grp["gain"][:].max() <= 2
        assert ("mask" in grp) == corrected
        assert (grp["memoryCell"][:] == np.arange(16)).all() and grp["memoryCell"].dtype == np.uint8
        assert grp["trainId"][:].tolist() == [10000, 10001, 10002]
        frame_numbers = grp["frameNumber"][:].ravel()
        assert (np.diff(frame_numbers) == 1).all()
        assert grp["timestamp"].shape == (3, 16)


def test_memory_cells_option():
    dev = JUNGFRAUModule("JF/DET/JNGFR01", memory_cells=4, module_shape=SHAPE)
    assert dev.channels()["daqOutput"]["data"][0].shape == (4, *SHAPE)


def test_chunked_and_contiguous_layouts(tmp_path):
    path = write_file(tmp_path / "f.h5", small_devices() + [Camera("CAM/X", shape=SHAPE)],
                      range(1, 4))
    with h5py.File(path) as f:
        assert f[f"INSTRUMENT/{AGIPD0}/image/data"].chunks == (1, 2, *SHAPE)
        assert f["INSTRUMENT/CAM/X:daqOutput/data/image/pixels"].chunks == (1, *SHAPE)
        assert f["INSTRUMENT/CAM/X:daqOutput/data/image/dims"][:].tolist() == [list(SHAPE)] * 3
        assert f[f"INSTRUMENT/{AGIPD0}/image/cellId"].chunks is None
        assert f[f"CONTROL/{MOTOR_NAME}/actualPosition/value"].chunks is None


# --- runs -------------------------------------------------------------------------------------

def test_run_files_and_missing_modules(tmp_path):
    run = make_run(tmp_path / "r0007", detector="lpd", n_modules=4, missing_modules=(1, 3),
                   module_shape=SHAPE, n_trains=6, n_sequences=2, run_number=7)
    names = sorted(p.name for p in run.iterdir())
    expected = sorted(f"RAW-R0007-{tag}-S0000{s}.h5" for tag in ("DA01", "DA02", "LPD00", "LPD02")
                      for s in (0, 1))
    assert names == expected
    with h5py.File(run / "RAW-R0007-DA02-S00001.h5") as f:
        assert f["METADATA/runNumber"][0] == 7 and f["METADATA/sequenceNumber"][0] == 1


def test_sequences_split_at_different_points(tmp_path):
    run = make_run(tmp_path / "r", detector="agipd", n_modules=1, module_shape=SHAPE,
                   n_trains=12, n_sequences=3)
    firsts = {}
    for tag in ("DA01", "DA02", "AGIPD00"):
        tids = []
        for seq in range(3):
            with h5py.File(run / f"RAW-R0001-{tag}-S0000{seq}.h5") as f:
                tids.append(f["INDEX/trainId"][:])
        assert np.concatenate(tids).tolist() == list(range(10000, 10012))
        firsts[tag] = [int(t[0]) for t in tids]
    assert len({tuple(v) for v in firsts.values()}) == 3
    assert sequence_bounds(2, 2, shift=1) == [(0, 1), (1, 2)]
    with pytest.raises(OptionError):
        sequence_bounds(2, 3)


@pytest.mark.parametrize("legacy", [False, True])
def test_sequence_split_keeps_values(tmp_path, legacy):
    opts = dict(detector="agipd", n_modules=1, module_shape=SHAPE, n_trains=9, seed=3,
                legacy_index=legacy, control_every=2,
                missing_trains={"SA1_*": [10003], "*AGIPD*": [10004, 10005]})
    whole = make_run(tmp_path / "whole", n_sequences=1, **opts)
    split = make_run(tmp_path / "split", n_sequences=3, **opts)
    for tag, group in [("DA01", "CONTROL"), ("DA01", "INSTRUMENT"), ("DA02", "INSTRUMENT"),
                       ("AGIPD00", "INSTRUMENT")]:
        a = read_source(sorted(whole.glob(f"*-{tag}-*.h5")), group)
        b = read_source(sorted(split.glob(f"*-{tag}-*.h5")), group)
        assert a.keys() == b.keys() and a
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{tag} {name}")
    for path in split.iterdir():
        assert find_problems(path) == set()


def test_missing_trains_accepts_iterators(tmp_path):
    run = make_run(tmp_path / "r", n_trains=4, n_sequences=2,
                   missing_trains={"SPB_XTD9_*": iter([10000, 10003])})
    for seq, expected in [(0, [0, 1]), (1, [1, 0])]:
        with h5py.File(run / f"RAW-R0001-DA01-S0000{seq}.h5") as f:
            assert f[f"INDEX/{MOTOR_NAME}/count"][:].tolist() == expected
            assert f["INDEX/SPB_XTD9_VAC/GAUGE/G1/count"][:].tolist() == expected


def test_block_writes_give_same_values(tmp_path, monkeypatch):
    devices = small_devices() + [JUNGFRAUModule("JF/DET/JNGFR01", module_shape=SHAPE)]
    whole = write_file(tmp_path / "whole.h5", devices, range(100, 107))
    monkeypatch.setattr(files_module, "_BLOCK_ELEMENTS", 50)
    blocks = write_file(tmp_path / "blocks.h5", devices, range(100, 107))
    for group in ("CONTROL", "INSTRUMENT"):
        a, b = read_source([whole], group), read_source([blocks], group)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_reproducible_and_seed_dependent(tmp_path):
    def image(seed, name):
        path = write_file(tmp_path / name, small_devices(), range(100, 103), seed=seed)
        with h5py.File(path) as f:
            return (f[f"INSTRUMENT/{AGIPD0}/image/data"][:],
                    f[f"CONTROL/{MOTOR_NAME}/actualPosition/value"][:])

    a, b, c = image(1, "a.h5"), image(1, "b.h5"), image(2, "c.h5")
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
        assert not np.array_equal(x, z)
    motor = a[1]
    assert len(np.unique(motor)) == len(motor)


def test_values_differ_between_keys_sources_and_entries(tmp_path):
    run = make_run(tmp_path / "r", detector="agipd", n_modules=2, module_shape=SHAPE,
                   n_trains=3, slow_data=False)
    with h5py.File(run / "RAW-R0001-AGIPD00-S00000.h5") as f0, \
            h5py.File(run / "RAW-R0001-AGIPD01-S00000.h5") as f1:
        d0 = f0[f"INSTRUMENT/{AGIPD0}/image/data"][:]
        d1 = f1["INSTRUMENT/SPB_DET_AGIPD1M-1/DET/1CH0:xtdf/image/data"][:]
    assert not np.array_equal(d0, d1)
    assert len({d0[i].tobytes() for i in range(len(d0))}) == len(d0)
    assert d0.max() < 2 ** 14


def test_option_errors(tmp_path):
    with pytest.raises(OptionError):
        write_file(tmp_path / "f.h5", small_devices(), [3, 2])
    with pytest.raises(OptionError):
        write_file(tmp_path / "f.h5", small_devices(), [1], format_version="2.0")
    with pytest.raises(OptionError):
        write_file(tmp_path / "f.h5", [Motor("A"), Motor("A")], [1])
    with pytest.raises(OptionError):
        make_run(tmp_path / "r", detector="pnccd")


def test_slow_data_run(tmp_path):
    run = make_slow_data_run(tmp_path / "slow", n_sources=5, keys_per_source=7, n_trains=30,
                             n_sequences=2)
    names = sorted(p.name for p in run.iterdir())
    assert names == [f"RAW-R0001-DA0{a}-S0000{s}.h5" for a in (1, 2) for s in (0, 1)]
    with h5py.File(run / "RAW-R0001-DA01-S00000.h5") as f:
        ids = [s for s in f["METADATA/dataSources/dataSourceId"][:] if s]
        assert ids == [f"CONTROL/BENCH_SLOW/MDL/DEVICE_{i:03d}".encode() for i in (0, 2, 4)]
        dev = f["CONTROL/BENCH_SLOW/MDL/DEVICE_000"]
        assert len(dev) == 7 and dev["key0000/value"].dtype == np.float64
        assert dev["key0001/value"].dtype == np.int32 and dev["key0001/value"].shape == (15,)


# --- damaged files ----------------------------------------------------------------------------

EXPECTED_PROBLEMS = {
    "not_hdf5": {"unreadable"},
    "truncated": {"unreadable"},
    "missing_metadata": {"missing_metadata"},
    "missing_index": {"missing_index"},
    "zero_train_id": {"zero_train_id", "unsorted_train_ids"},
    "unsorted_train_ids": {"unsorted_train_ids"},
    "huge_train_id": {"huge_train_id", "unsorted_train_ids"},
    "index_past_end": {"index_past_end"},
    "index_gap": {"index_gap"},
    "index_overlap": {"index_overlap"},
    "index_length_mismatch": {"index_length_mismatch"},
}


def test_every_damage_kind_is_tested_and_described():
    assert set(DAMAGE_KINDS) == set(EXPECTED_PROBLEMS)
    for kind in DAMAGE_KINDS:
        assert "report" in describe_damage(kind)
    with pytest.raises(OptionError):
        describe_damage("on_fire")


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_make_damaged_file(tmp_path, kind):
    path = make_damaged_file(tmp_path / "RAW-R0001-DA01-S00000.h5", kind)
    assert find_problems(path) == EXPECTED_PROBLEMS[kind]
    if kind == "not_hdf5":
        assert not h5py.is_hdf5(path)


def test_undamaged_file_has_no_problems(tmp_path):
    path = write_file(tmp_path / "f.h5", [XGM(XGM_NAME), Motor(MOTOR_NAME)], range(10000, 10010))
    size = path.stat().st_size
    assert find_problems(path) == set()
    damage_file(path, "truncated")
    assert path.stat().st_size == size // 2


@pytest.mark.parametrize("kind", [k for k in DAMAGE_KINDS if k.startswith("index_")])
@pytest.mark.parametrize("legacy", [False, True])
def test_index_damage_on_chosen_source(tmp_path, kind, legacy):
    source = f"{AGIPD0}/image"
    path = write_file(tmp_path / "f.h5", small_devices(), range(1, 8), legacy_index=legacy,
                      pad_trains=2, missing_trains={AGIPD0: [7]})
    with h5py.File(path) as f:
        before = {s: first_count(f["INDEX"][s]) for s in index_groups(f)}
    damage_file(path, kind, source=source)
    assert find_problems(path) == EXPECTED_PROBLEMS[kind]
    with h5py.File(path) as f:
        for src, (first, count) in before.items():
            after = first_count(f["INDEX"][src])
            if src != source:
                assert all(np.array_equal(x, y) for x, y in zip(after, (first, count)))
        assert ("last" in f[f"INDEX/{source}"]) == legacy


def test_damage_rejects_unknown_source(tmp_path):
    path = write_file(tmp_path / "f.h5", [Motor(MOTOR_NAME)], range(1, 5))
    with pytest.raises(OptionError):
        damage_file(path, "index_gap")  # no instrument source to pick
    with pytest.raises(OptionError):
        damage_file(path, "index_gap", source="NOPE")
    damage_file(path, "index_gap", source=MOTOR_NAME)
    assert find_problems(path) == {"index_gap"}


# --- command line -----------------------------------------------------------------------------

def test_cli_writes_run(tmp_path):
    out = tmp_path / "r0001"
    result = CliRunner().invoke(cli_main, [
        str(out), "--detector", "agipd500k", "--trains", "4", "--frames", "2",
        "--sequences", "2", "--format-version", "1.3", "--legacy-index", "--corrected",
        "--missing-modules", "3,5", "--module-shape", "8x4", "--seed", "5"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2 * (2 + 6)
    assert "CORR-R0001-AGIPD03-S00000.h5" not in names
    assert all(name in result.output for name in names)
    assert "Total:" in result.output
    with h5py.File(out / "CORR-R0001-AGIPD07-S00001.h5") as f:
        assert f["METADATA/dataFormatVersion"][0] == b"1.3"
        src = "HED_DET_AGIPD500K2G/DET/7CH0:xtdf/image"
        assert f[f"INSTRUMENT/{src}/data"].shape[1:] == SHAPE
        assert "count" not in f[f"INDEX/{src}"]


def test_cli_jungfrau_frames_are_memory_cells(tmp_path):
    result = CliRunner().invoke(cli_main, [str(tmp_path / "r"), "--detector", "jungfrau",
                                           "--trains", "2", "--frames", "3",
                                           "--module-shape", "4x4"])
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "r" / "RAW-R0001-JNGFR08-S00000.h5") as f:
        assert f["INSTRUMENT/SPB_IRDA_JF4M/DET/JNGFR08:daqOutput/data/adc"].shape == (2, 3, 4, 4)


def test_cli_slow_data_and_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli_main, [str(tmp_path / "s"), "--slow-data-keys", "10",
                                      "--trains", "6", "--sequences", "2"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "s").glob("*.h5"))) == 4
    bad = runner.invoke(cli_main, [str(tmp_path / "x"), "--module-shape", "64by32"])
    assert bad.exit_code != 0 and "64x32" in bad.output
    bad = runner.invoke(cli_main, [str(tmp_path / "x"), "--missing-modules", "a,b"])
    assert bad.exit_code != 0


def all_data(path: Path) -> dict[str, np.ndarray]:
    """Every CONTROL/INSTRUMENT dataset's indexed entries, keyed by path (DAQ layouts)."""
    out = {}
    with h5py.File(path) as f:
        for src in index_groups(f):
            first, count = first_count(f["INDEX"][src])
            n = int(count.sum())
            for name, ds in datasets(f[data_group(src)]).items():
                out[f"{src}/{name}"] = ds[:n]
    return out


def unallocated(ds: h5py.Dataset, entry: int) -> bool:
    coord = (entry // ds.chunks[0] * ds.chunks[0],) + (0,) * (ds.ndim - 1)
    return ds.id.get_chunk_info_by_coord(coord).byte_offset is None


@pytest.mark.parametrize("legacy", [False, True])
def test_index_length_real(tmp_path, legacy):
    path = write_file(tmp_path / "f.h5", small_devices(), range(100, 105), pad_trains=11,
                      index_length="real", legacy_index=legacy,
                      missing_trains={AGIPD0: [104]})
    with h5py.File(path) as f:
        assert f["INDEX/trainId"][:].tolist() == [100, 101, 102, 103, 104] + [0] * 11
        assert f["INDEX/flag"][:].tolist() == [1] * 5 + [0] * 11
        for src in index_groups(f):
            first, count = first_count(f["INDEX"][src])
            assert len(first) == len(count) == 5, src
        assert first_count(f[f"INDEX/{AGIPD0}/image"])[1].tolist() == [3, 3, 3, 3, 0]
    assert find_problems(path) == set()


def test_find_problems_still_sees_short_index(tmp_path):
    path = write_file(tmp_path / "f.h5", small_devices(), range(100, 105), pad_trains=2,
                      index_length="real")
    with h5py.File(path, "r+") as f:
        grp = f[f"INDEX/{MOTOR_NAME}"]
        first, count = grp["first"][:3], grp["count"][:3]
        del grp["first"], grp["count"]
        grp["first"], grp["count"] = first, count
    assert find_problems(path) == {"index_length_mismatch"}


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_pad_entries_leaves_chunks_unwritten(tmp_path, chunking):
    devices = small_devices() + [Camera("CAM/X", shape=SHAPE)]
    plain = write_file(tmp_path / "plain.h5", devices, range(100, 106), seed=4)
    padded = write_file(tmp_path / "padded.h5", devices, range(100, 106), seed=4,
                        pad_entries=9, chunking=chunking)
    expect, got = all_data(plain), all_data(padded)
    assert expect.keys() == got.keys()
    for name in expect:
        np.testing.assert_array_equal(got[name], expect[name], err_msg=name)
    n_checked = 0
    with h5py.File(padded) as f:
        for src in index_groups(f):
            n = int(first_count(f["INDEX"][src])[1].sum())
            for name, ds in datasets(f[data_group(src)]).items():
                assert ds.shape[0] == n + 9, (src, name)
                assert ds.chunks is not None and ds.compression is None
                assert chunking != "frame" or ds.chunks == (1, *ds.shape[1:]), name
                # The chunk holding the last entry is wholly past the data.
                assert unallocated(ds, n + 8), (src, name)
                assert not unallocated(ds, n - 1), (src, name)
                n_checked += 1
    assert n_checked > 20
    assert find_problems(padded) == set()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pad_trains=st.integers(0, 6), pad_entries=st.integers(0, 7),
       index_length=st.sampled_from(["padded", "real"]), chunking=st.sampled_from(CHUNKINGS),
       legacy=st.booleans(), n_trains=st.integers(1, 6))
def test_layouts_never_change_values(tmp_path_factory, pad_trains, pad_entries, index_length,
                                     chunking, legacy, n_trains):
    d = tmp_path_factory.mktemp("layout")
    tids = range(200, 200 + n_trains)
    plain = write_file(d / "plain.h5", small_devices(), tids, legacy_index=legacy, seed=2)
    other = write_file(d / "other.h5", small_devices(), tids, legacy_index=legacy, seed=2,
                       pad_trains=pad_trains, pad_entries=pad_entries,
                       index_length=index_length, chunking=chunking)
    expect, got = all_data(plain), all_data(other)
    assert expect.keys() == got.keys()
    for name in expect:
        np.testing.assert_array_equal(got[name], expect[name], err_msg=name)
    assert find_problems(other) == set()


def sources_in(path: Path) -> list[str]:
    with h5py.File(path) as f:
        return [s.decode() for s in f["METADATA/dataSources/dataSourceId"][:] if s]


@pytest.mark.parametrize("detector, corr_source", [
    ("agipd", "SPB_DET_AGIPD1M-1/CORR/1CH0:output"),
    ("lpd", "FXE_DET_LPD1M-1/CORR/1CH0:output"),
    ("dssc", "SCS_DET_DSSC1M-1/CORR/1CH0:output"),
    ("jungfrau", "SPB_IRDA_JF4M/CORR/JNGFR02:output"),
])
def test_corrected_2026_naming(tmp_path, detector, corr_source):
    run = make_run(tmp_path / "r", detector=detector, n_modules=2, module_shape=SHAPE,
                   n_trains=3, frames_per_train=2, memory_cells=2, slow_data=False,
                   corrected=True, corrected_naming="2026")
    files = sorted(run.glob("CORR-*.h5"))
    assert len(files) == 2 and not list(run.glob("RAW-*"))
    sources = sources_in(files[1])
    assert all(s.startswith(f"INSTRUMENT/{corr_source}/") for s in sources), sources
    key = "data/adc" if detector == "jungfrau" else "image/data"
    with h5py.File(files[1]) as f:
        assert f[f"INSTRUMENT/{corr_source}/{key}"].dtype == np.float32


@pytest.mark.parametrize("label, expect", [
    ("JNGFR", "SPB_IRDA_JF4M/{}/JNGFR02"),
    ("MODULE_", "SPB_IRDA_JF4M/{}/MODULE_2"),
    ("RECEIVER-", "SPB_IRDA_JF4M/{}/RECEIVER-2"),
])
def test_jungfrau_labels(tmp_path, label, expect):
    run = make_run(tmp_path / "r", detector="jungfrau", n_modules=2, module_shape=SHAPE,
                   n_trains=2, memory_cells=2, slow_data=False, corrected="both",
                   corrected_naming="2026", jungfrau_label=label)
    raw = sources_in(run / "RAW-R0001-JNGFR02-S00000.h5")
    corr = sources_in(run / "CORR-R0001-JNGFR02-S00000.h5")
    assert raw == [f"INSTRUMENT/{expect.format('DET')}:daqOutput/data"]
    assert corr == [f"INSTRUMENT/{expect.format('CORR')}:output/data"]


def test_raw_and_corrected_side_by_side(tmp_path):
    run = make_run(tmp_path / "r", detector="agipd", n_modules=2, module_shape=SHAPE,
                   n_trains=4, frames_per_train=2, corrected="both", corrected_naming="2026",
                   n_sequences=2)
    names = sorted(p.name for p in run.iterdir())
    assert [n for n in names if n.startswith("CORR")] == [
        "CORR-R0001-AGIPD00-S00000.h5", "CORR-R0001-AGIPD00-S00001.h5",
        "CORR-R0001-AGIPD01-S00000.h5", "CORR-R0001-AGIPD01-S00001.h5"]
    assert "RAW-R0001-DA01-S00000.h5" in names and "RAW-R0001-AGIPD01-S00001.h5" in names
    raw = read_source(sorted(run.glob("RAW-*AGIPD00*")), f"INSTRUMENT/{AGIPD0}/image")
    corr = read_source(sorted(run.glob("CORR-*AGIPD00*")),
                       "INSTRUMENT/SPB_DET_AGIPD1M-1/CORR/0CH0:output/image")
    assert raw["data"].dtype == np.uint16 and raw["data"].shape[1:] == (2, *SHAPE)
    assert corr["data"].dtype == np.float32 and corr["data"].shape[1:] == SHAPE
    np.testing.assert_array_equal(raw["trainId"][:, 0], corr["trainId"])


def test_corrected_naming_errors(tmp_path):
    for bad, match in ((lambda: make_run(tmp_path / "r", detector="agipd", corrected="both"),
                        "2026"),
                       (lambda: make_run(tmp_path / "r", corrected="maybe"), "maybe"),
                       (lambda: DETECTORS["agipd"].device_name(0, "2025"), "2025"),
                       (lambda: DETECTORS["jungfrau"].with_label("JF"), "JF")):
        with pytest.raises(OptionError, match=match):
            bad()


@pytest.mark.parametrize("duplicates", ["identical", "conflicting"])
def test_duplicate_trains(tmp_path, duplicates):
    run = make_run(tmp_path / "r", n_trains=8, n_sequences=2, duplicate_trains=2,
                   duplicates=duplicates, seed=6)
    plain = make_run(tmp_path / "plain", n_trains=8, n_sequences=2, seed=6)
    with h5py.File(run / "RAW-R0001-DA01-S00000.h5") as f0, \
            h5py.File(run / "RAW-R0001-DA01-S00001.h5") as f1, \
            h5py.File(plain / "RAW-R0001-DA01-S00001.h5") as fp:
        t0, t1 = f0["INDEX/trainId"][:], f1["INDEX/trainId"][:]
        assert t0.tolist() == list(range(10000, 10004))
        assert t1.tolist() == list(range(10002, 10008))
        for path in (f"CONTROL/{XGM_NAME}/beamPosition/ixPos/value",
                     f"INSTRUMENT/{XGM_NAME}:output/data/intensityTD",
                     f"CONTROL/{MOTOR_NAME}/actualPosition/value",
                     f"INSTRUMENT/{XGM_NAME}:output/data/trainId"):
            same = np.array_equal(f0[path][2:4], f1[path][0:2])
            assert same == (duplicates == "identical" or path.endswith("trainId")), path
            # Only the repeated trains differ.
            np.testing.assert_array_equal(f1[path][2:], fp[path][:])
    with pytest.raises(OptionError):
        make_run(tmp_path / "bad", duplicates="similar")


def test_suspect_trains(tmp_path):
    run = make_run(tmp_path / "r", detector="agipd", n_modules=1, module_shape=SHAPE,
                   n_trains=6, flag_zero_trains=[10002],
                   out_of_order_trains={10004: 9990}, seed=8)
    with h5py.File(run / "RAW-R0001-DA01-S00000.h5") as f:
        assert f["INDEX/trainId"][:].tolist() == [10000, 10001, 10002, 10003, 9990, 10005]
        assert f["INDEX/flag"][:].tolist() == [1, 1, 0, 1, 1, 1]
        tids = f[f"INSTRUMENT/{XGM_NAME}:output/data/trainId"][:]
        assert tids.tolist() == f["INDEX/trainId"][:].tolist()
    for other in ("RAW-R0001-DA02-S00000.h5", "RAW-R0001-AGIPD00-S00000.h5"):
        with h5py.File(run / other) as f:
            assert [f["INDEX/trainId"][:].tolist(), f["INDEX/flag"][:].tolist()] == [
                list(range(10000, 10006)), [1] * 6]


def test_out_of_order_values_follow_train_id(tmp_path):
    ordered = write_file(tmp_path / "a.h5", small_devices(), [100, 101, 102, 103], seed=1)
    shuffled = write_file(tmp_path / "b.h5", small_devices(), [100, 103, 101, 102], seed=1,
                          out_of_order=True)
    a, b = all_data(ordered), all_data(shuffled)
    key = f"{AGIPD0}/image/data"
    np.testing.assert_array_equal(b[key][3:6], a[key][9:12])
    np.testing.assert_array_equal(b[f"{MOTOR_NAME}/actualPosition/value"],
                                  a[f"{MOTOR_NAME}/actualPosition/value"][[0, 3, 1, 2]])
    for ids, kwargs, match in (([100, 103, 101], {}, "increasing"),
                               ([100, 101, 100], {"out_of_order": True}, "unique"),
                               ([100], {"chunking": "gzip"}, "chunking"),
                               ([100], {"index_length": "short"}, "index_length")):
        with pytest.raises(OptionError, match=match):
            write_file(tmp_path / "c.h5", small_devices(), ids, **kwargs)


def test_cli_daq_layout(tmp_path):
    result = CliRunner().invoke(cli_main, [
        str(tmp_path / "r"), "--detector", "lpd", "--trains", "4", "--module-shape", "8x8",
        "--raw-and-corrected", "--corrected-naming", "2026", "--pad-trains", "3",
        "--index-length", "real", "--pad-entries", "2", "--chunking", "frame",
        "--sequences", "2", "--duplicate-trains", "1", "--duplicates", "conflicting",
        "--flag-zero-trains", "10001"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "r"
    assert (run / "CORR-R0001-LPD15-S00001.h5").exists()
    with h5py.File(run / "RAW-R0001-DA01-S00001.h5") as f:
        assert f["INDEX/trainId"][:].tolist() == [10001, 10002, 10003, 0, 0, 0]
        assert len(f[f"INDEX/{MOTOR_NAME}/count"]) == 3
        assert f["INDEX/flag"][:].tolist() == [0, 1, 1, 0, 0, 0]
        ds = f[f"CONTROL/{MOTOR_NAME}/actualPosition/value"]
        assert ds.shape == (5,) and ds.chunks == (1,) and unallocated(ds, 4)
    assert CliRunner().invoke(cli_main, [str(tmp_path / "bad"), "--detector", "lpd",
                                         "--raw-and-corrected"]).exit_code != 0
