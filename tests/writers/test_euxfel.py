"""The EuXFEL-format writers (euxfel, euxfel-run) and write_frames."""
from __future__ import annotations

import tracemalloc

import h5py
import hdf5plugin
import numpy as np
import pytest

from xfconvert import H5File, RunDirectory, by_id
from xfconvert.components import AGIPD1M
from xfconvert.exceptions import OptionError, TrainIDError
from xfconvert.readers.validation import validate
from xfconvert.testing import make_run
from xfconvert.testing.writer_tests import WriterTests
from xfconvert.writers import euxfel
from xfconvert.writers.base import convert
from xfconvert.writers.euxfel import EuXFELRunWriter, write, write_frames

AGIPD_MOD = "SPB_DET_AGIPD1M-1/DET/{}CH0:xtdf"
XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
ZSTD = hdf5plugin.Zstd().filter_id


# ---- helpers ---------------------------------------------------------------------------
def assert_same_data(expected, actual) -> None:
    """Same sources, keys, trains, entry counts, values, dtypes, units and RUN values."""
    assert actual.train_ids == expected.train_ids
    assert sorted(actual.all_sources) == sorted(expected.all_sources)
    for source in sorted(expected.all_sources):
        exp_sd, act_sd = expected[source], actual[source]
        assert act_sd.keys() == exp_sd.keys(), source
        for key in sorted(exp_sd.keys()):
            exp, act = exp_sd[key], act_sd[key]
            np.testing.assert_array_equal(act.data_counts(labelled=False),
                                          exp.data_counts(labelled=False), err_msg=key)
            assert act.dtype == exp.dtype and act.entry_shape == exp.entry_shape, key
            assert act.units == exp.units, key
            np.testing.assert_array_equal(act.ndarray(), exp.ndarray(), err_msg=key)
        if exp_sd.is_control:
            # RUN values are written for the selected keys (EXtra-data 1.25's write()
            # writes no RUN section at all); run_values() lists every RUN key, as in 1.25.
            act_run = act_sd.run_values(True)
            exp_run = {k: v for k, v in exp_sd.run_values(True).items()
                       if k in exp_sd.keys()}
            assert act_run.keys() == exp_run.keys(), source
            for name in exp_run:
                np.testing.assert_array_equal(act_run[name], exp_run[name], err_msg=name)


def recompress(run_dir, rows: int, glob: str = "*AGIPD*") -> None:
    """Rewrite the image.data datasets of a mock run with zstd and ``rows`` entries per chunk."""
    for path in sorted(run_dir.glob(glob)):
        with h5py.File(path, "r+") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and name.endswith("image/data"):
                    found.append(name)
            found: list[str] = []
            f.visititems(visit)
            for name in found:
                old = f[name]
                data, attrs = old[()], dict(old.attrs)
                del f[name]
                new = f.create_dataset(name, data=data, chunks=(rows,) + data.shape[1:],
                                       maxshape=(None,) + data.shape[1:], **hdf5plugin.Zstd())
                new.attrs.update(attrs)


def raw_chunks(path, dset_path) -> list[bytes]:
    with h5py.File(path, "r") as f:
        ds = f[dset_path]
        rows = ds.chunks[0]
        return [ds.id.read_direct_chunk((r,) + (0,) * (ds.ndim - 1))[1]
                for r in range(0, ds.shape[0] - ds.shape[0] % rows, rows)]


@pytest.fixture(scope="module")
def agipd_run(tmp_path_factory):
    """3 of 4 AGIPD modules, 2 sequences, trains missing in one module and the XGM."""
    return make_run(tmp_path_factory.mktemp("agipd") / "r0003", detector="agipd",
                    n_modules=4, module_shape=(8, 4), n_trains=10, frames_per_train=3,
                    n_sequences=2, missing_modules=[2], run_number=3, seed=11,
                    missing_trains={AGIPD_MOD.format(1): [10003, 10004],
                                    f"{XGM}:output": [10006]})


@pytest.fixture(scope="module")
def zstd_run(tmp_path_factory):
    """AGIPD image.data compressed with zstd, 4 frames per HDF5 chunk (3 per train)."""
    path = make_run(tmp_path_factory.mktemp("zstd") / "r0004", detector="agipd", n_modules=2,
                    module_shape=(8, 4), n_trains=9, frames_per_train=3, seed=4,
                    slow_data=False)
    recompress(path, rows=4)
    return path


# ---- the conformance suite ------------------------------------------------------------
class TestEuXFELWriter(WriterTests):
    writer = "euxfel"

    def make_data(self, tmp_path):
        run = make_run(tmp_path / "r0001", detector="agipd", n_modules=2, module_shape=(8, 4),
                       n_trains=6, frames_per_train=2, n_sequences=2, format_version="1.3",
                       missing_trains={XGM: [10002]}, control_every=2)
        return RunDirectory(run).select_trains(by_id[10001:10006])

    def check_output(self, data, path):
        assert validate(path) == []
        assert_same_data(data, H5File(path))

    def read_provenance(self, path):
        with h5py.File(path, "r") as f:
            return dict(f.attrs)


class TestEuXFELRunWriter(WriterTests):
    writer = EuXFELRunWriter  # registered as 'euxfel-run' once its entry point is added
    options = {"max_file_size": 300_000}  # the camera alone has 128 kB per train

    def make_data(self, tmp_path):
        return RunDirectory(make_run(tmp_path / "r0001", detector="agipd", n_modules=2,
                                     module_shape=(8, 4), n_trains=8, frames_per_train=2,
                                     n_sequences=2, run_number=1))

    def check_output(self, data, path):
        assert len(list(path.glob("RAW-R0001-XFC01-S*.h5"))) > 1
        assert validate(path) == []
        assert_same_data(data, RunDirectory(path, use_cache=False))

    def read_provenance(self, path):
        with h5py.File(sorted(path.glob("*.h5"))[0], "r") as f:
            return dict(f.attrs)


# ---- round trips --------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["0.5", "1.0", "1.3"])
def test_round_trip_format_versions(tmp_path, version):
    run = RunDirectory(make_run(tmp_path / "r0002", detector="lpd", n_modules=2,
                                module_shape=(8, 8), n_trains=8, frames_per_train=2,
                                n_sequences=3, format_version=version,
                                legacy_index=version == "0.5", control_every=2,
                                missing_modules=[0], missing_trains={"*CAM*": [10001, 10005]},
                                seed=5))
    out = write(run, tmp_path / "out.h5")
    assert validate(out) == []
    assert_same_data(run, H5File(out))
    with h5py.File(out, "r") as f:
        assert f["METADATA/dataFormatVersion"][0] == b"1.0"
        assert f["METADATA/runNumber"][0] == 1
        np.testing.assert_array_equal(f["INDEX/flag"][()], 1)
        if version != "0.5":  # older files record no timestamps
            with h5py.File(sorted((tmp_path / "r0002").glob("*DA01*"))[0], "r") as src:
                n = src["INDEX/trainId"].shape[0]
                np.testing.assert_array_equal(f["INDEX/timestamp"][:n], src["INDEX/timestamp"])


@pytest.mark.parametrize("selection", [
    ("*/DET/*", "image.data"),            # one key of a group
    ("*/DET/*", "header.*"),
    (XGM, "beamPosition.ixPos"),          # control property: value and timestamp
    ("*", "*"),
])
def test_round_trip_selections(agipd_run, tmp_path, selection):
    data = RunDirectory(agipd_run).select(*selection)
    out = write(data, tmp_path / "out.h5")
    assert validate(out) == []
    assert_same_data(data, H5File(out))


@pytest.mark.parametrize("trains", [by_id[10002:10008], np.s_[::3], by_id[[10000, 10004, 10009]]])
def test_round_trip_train_selections(agipd_run, tmp_path, trains):
    data = RunDirectory(agipd_run).select_trains(trains)
    out = write(data, tmp_path / "out.h5")
    assert validate(out) == []
    back = H5File(out)
    assert_same_data(data, back)
    with h5py.File(out, "r") as f:  # index written exactly as first = cumsum - count
        ix = f[f"INDEX/{AGIPD_MOD.format(1)}/image"]
        count = ix["count"][()]
        np.testing.assert_array_equal(ix["first"][()], np.cumsum(count) - count)
        sources = {s.decode() for s in f["METADATA/dataSources/dataSourceId"][()]}
        assert f"INSTRUMENT/{AGIPD_MOD.format(0)}/image" in sources
        assert f"CONTROL/{XGM}" in sources


def test_run_section_and_units_kept(tmp_path):
    run = RunDirectory(make_run(tmp_path / "r5", n_trains=4, format_version="1.3",
                                n_sequences=2))
    data = run.select(XGM, "*").select_trains(np.s_[2:])
    out = write(data, tmp_path / "out.h5")
    with h5py.File(out, "r") as f, h5py.File(sorted((tmp_path / "r5").glob("*DA01*"))[0]) as src:
        for name in ("beamPosition/ixPos/value", "beamPosition/ixPos/timestamp"):
            path = f"RUN/{XGM}/{name}"
            np.testing.assert_array_equal(f[path][()], src[path][()])
        ds = f[f"CONTROL/{XGM}/beamPosition/ixPos/value"]
        assert dict(ds.attrs) == dict(src[ds.name].attrs) and "unitSymbol" in ds.attrs
    assert H5File(out)[XGM].run_values() == data[XGM].run_values()


# ---- storage: raw chunk copies and recompression -------------------------------------------
def test_compressed_chunks_copied_raw(zstd_run, tmp_path):
    run = RunDirectory(zstd_run)
    src = AGIPD_MOD.format(0)
    path = f"INSTRUMENT/{src}/image/data"
    out = write(run, tmp_path / "out.h5")
    with h5py.File(out, "r") as f:
        ds = f[path]
        assert ds.chunks == (4, 2, 8, 4) and ds.id.get_create_plist().get_filter(0)[0] == ZSTD
    assert_same_data(run, H5File(out))
    module_file = next(zstd_run.glob("*AGIPD00*"))
    # Identical compressed bytes: the chunks were never decompressed and recompressed.
    assert raw_chunks(out, path) == raw_chunks(module_file, path)


@pytest.mark.parametrize("first_train", [1, 2, 4])  # entries 3 (misaligned), 6 and 12
def test_partial_and_misaligned_chunks(zstd_run, tmp_path, monkeypatch, first_train):
    calls = []
    real = euxfel._KeyCopier._copy_raw_chunk
    monkeypatch.setattr(euxfel._KeyCopier, "_copy_raw_chunk",
                        lambda self, *a: calls.append(1) or real(self, *a))
    data = RunDirectory(zstd_run).select_trains(np.s_[first_train:])
    out = write(data, tmp_path / "out.h5")
    assert_same_data(data, H5File(out))
    # 3 frames per train, 4 per HDF5 chunk: only selections starting on a chunk boundary
    # (entry 12 = train 4) can copy raw; entry 6 is aligned in neither file.
    assert bool(calls) == (first_train * 3 % 4 == 0)


@pytest.mark.parametrize("compression", ["zstd", "lz4", "bitshuffle", "gzip", "none"])
def test_recompression_round_trip(zstd_run, tmp_path, compression):
    run = RunDirectory(zstd_run)
    out = write(run, tmp_path / "out.h5", compression=compression)
    assert_same_data(run, H5File(out))
    with h5py.File(out, "r") as f:
        dcpl = f[f"INSTRUMENT/{AGIPD_MOD.format(1)}/image/data"].id.get_create_plist()
        filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
        expected = {"zstd": [ZSTD], "lz4": [hdf5plugin.LZ4().filter_id],
                    "bitshuffle": [hdf5plugin.Bitshuffle().filter_id],
                    "gzip": [h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE],
                    "none": []}[compression]
        assert filters == expected


def test_recompress_contiguous_input(agipd_run, tmp_path):
    data = RunDirectory(agipd_run).select("*/DET/*", "image.*")
    out = write(data, tmp_path / "out.h5", compression="zstd")
    assert_same_data(data, H5File(out))
    with h5py.File(out, "r") as f:
        mod = f[f"INSTRUMENT/{AGIPD_MOD.format(0)}/image"]
        dcpl = mod["data"].id.get_create_plist()
        assert mod["data"].chunks == (1, 2, 8, 4) and dcpl.get_filter(0)[0] == ZSTD
        assert mod["pulseId"].chunks is None  # 1-D per-frame metadata keeps its layout


def test_bad_compression_option(agipd_run, tmp_path):
    with pytest.raises(OptionError, match="compression"):
        convert(RunDirectory(agipd_run), tmp_path / "x.h5", to="euxfel", compression="brotli")


# ---- streaming: bounded memory ----------------------------------------------------------------
@pytest.mark.parametrize("compression", ["keep", "zstd"])
def test_peak_memory_does_not_grow_with_trains(tmp_path, monkeypatch, compression):
    monkeypatch.setattr(euxfel, "_SLAB_BYTES", 128 << 10)
    peaks = []
    for n_trains in (10, 100):  # 0.6 MB and 6.4 MB of detector data
        run = RunDirectory(make_run(tmp_path / f"r{n_trains}", detector="agipd", n_modules=1,
                                    module_shape=(64, 64), n_trains=n_trains,
                                    frames_per_train=4, slow_data=False))
        tracemalloc.start()
        try:
            write(run, tmp_path / f"out{n_trains}.h5", compression=compression)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] - peaks[0] < 512 << 10, peaks
    assert peaks[1] < 2 << 20, peaks


# ---- sequence files ----------------------------------------------------------------------------
def test_run_writer_split_sizes(agipd_run, tmp_path):
    data = RunDirectory(agipd_run)
    limit = 3_000
    out = convert(data, tmp_path / "run", to=EuXFELRunWriter, max_file_size=limit)
    files = sorted(out.glob("*.h5"))
    assert len(files) > 2
    back = RunDirectory(out, use_cache=False)
    assert_same_data(data, back)
    for seq, path in enumerate(files):
        part = H5File(path)
        with h5py.File(path, "r") as f:
            assert f["METADATA/sequenceNumber"][0] == seq
        nbytes = sum(part[s, k].nbytes for s in part.all_sources for k in part[s].keys())
        assert nbytes <= limit or len(part.train_ids) == 1


# ---- write_frames --------------------------------------------------------------------------------
def test_write_frames_values(agipd_run, tmp_path):
    det = AGIPD1M(RunDirectory(agipd_run))
    rng = np.random.default_rng(1)
    # Frames of trains 10003-10004 are missing from module 1 only: still found in others.
    all_tids = np.repeat(det.data.train_id_array, 3)
    all_pids = np.tile(np.arange(3, dtype=np.uint64) * 4, len(det.train_ids))
    pick = np.sort(rng.choice(len(all_tids), size=11, replace=False))
    trains, pulses = all_tids[pick], all_pids[pick]
    out = write_frames(det, tmp_path / "frames.h5", trains, pulses)
    assert validate(out) == []
    back = H5File(out)
    assert back.train_ids == np.unique(trains).tolist()
    wanted = set(zip(trains.tolist(), pulses.tolist()))
    for source in det.source_to_modno:
        src_kd = det.data[source, "image.pulseId"]
        frame_pairs = list(zip(src_kd.train_id_coordinates().tolist(),
                               src_kd.ndarray().ravel().tolist()))
        sel = np.array([p in wanted for p in frame_pairs], dtype=bool)
        for key in ("image.data", "image.pulseId", "image.cellId", "image.length"):
            np.testing.assert_array_equal(back[source, key].ndarray(),
                                          det.data[source, key].ndarray()[sel])
        np.testing.assert_array_equal(back[source, "image.trainId"].ndarray().ravel(),
                                      np.array([t for t, _ in frame_pairs])[sel])
        # Other groups: every entry of the trains concerned.
        expected = det.data.select_trains(by_id[back.train_id_array])
        for key in ("header.pulseCount", "trailer.checksum", "detector.data"):
            np.testing.assert_array_equal(back[source, key].ndarray(),
                                          expected[source, key].ndarray())
            np.testing.assert_array_equal(back[source, key].data_counts(labelled=False),
                                          expected[source, key].data_counts(labelled=False))


def test_write_frames_compressed_and_missing(zstd_run, tmp_path):
    det = AGIPD1M(RunDirectory(zstd_run))
    out = write_frames(det, tmp_path / "f.h5", [10001, 10001, 10005], [8, 0, 4])
    kd = H5File(out)[AGIPD_MOD.format(1), "image.data"]
    full = det.data[AGIPD_MOD.format(1), "image.data"].ndarray()
    np.testing.assert_array_equal(kd.ndarray(), full[[3, 5, 16]])
    with pytest.raises(TrainIDError, match="1 .train, pulse. pairs"):
        write_frames(det, tmp_path / "g.h5", [10001, 10002], [0, 99])
    assert not (tmp_path / "g.h5").exists()
