"""The Zarr writer: round trips read back with zarr and xarray, options, dask."""
import json
import logging
import sys

import numpy as np
import pytest
import xarray as xr
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from xfconvert import RunDirectory
from xfconvert.components import AGIPD1M, JUNGFRAU
from xfconvert.exceptions import OptionError
from xfconvert.testing import make_run
from xfconvert.testing.writer_tests import WriterTests
from xfconvert.writers import zarr as zarr_writer
from xfconvert.writers import zarr_parallel
from xfconvert.writers.base import convert, make_options
from xfconvert.writers.zarr import ZarrWriter

DET = "SPB_DET_AGIPD1M-1"
XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
XGM_OUT = "SA1_XTD2_XGM/DOOCS/MAIN:output"


def open_ds(path, group):
    return xr.open_zarr(path, group=group, consolidated=True)


def check_plain_sources(run, path, skip=()):
    """Every key of every source (but ``skip``) against the reader, with coordinates."""
    for source in sorted(run.all_sources - set(skip)):
        ds = open_ds(path, source)
        sd = run[source]
        for key in sd.keys():
            kd = run[source, key]
            var = ds[key]
            np.testing.assert_array_equal(var.values, kd.ndarray(), err_msg=f"{source} {key}")
            tids = kd.train_id_coordinates()
            if sd.is_control:
                assert var.dims[0] == "trainId"
                np.testing.assert_array_equal(var["trainId"].values, tids)
            else:
                group = key.split(".")[0]
                assert var.dims[0] == f"entry_{group}"
                np.testing.assert_array_equal(var[f"trainId_{group}"].values, tids)
                assert ds.attrs["source"] == source


def check_detector(run, path):
    det = AGIPD1M(run)
    ds = open_ds(path, DET)
    ref = det.get_array("image.data", unstack_pulses=False, module_gaps=True)
    data = ds["image.data"]
    assert data.dims[:2] == ("entry_image", "module")
    np.testing.assert_array_equal(np.moveaxis(data.values, 1, 0), ref.values)
    np.testing.assert_array_equal(data["trainId_image"].values, ref["train"].values)
    np.testing.assert_array_equal(data["pulseId_image"].values, ref["pulse"].values)
    np.testing.assert_array_equal(ds["module"].values, np.arange(16))
    # What was recorded: NaN after reading pulse IDs as floats marks gaps.
    gaps = det.get_array("image.pulseId", unstack_pulses=False, astype=np.float64,
                         module_gaps=True)
    present = ~np.isnan(gaps.values).T
    np.testing.assert_array_equal(ds["present_image"].values, present)
    assert not present[:, 2].any() and present[:, [0, 1, 3]].any(axis=0).all()
    assert (data.values[~present] == 0).all()  # fill value of uint16 data
    header = det.get_array("header.pulseCount", module_gaps=True)
    np.testing.assert_array_equal(ds["header.pulseCount"].values, header.values.T)
    np.testing.assert_array_equal(ds["trainId_header"].values, det.train_id_array)


class TestZarrWriter(WriterTests):
    writer = ZarrWriter
    options: dict = {}

    @pytest.fixture
    def data(self, agipd_run):
        return RunDirectory(agipd_run)

    def make_data(self, tmp_path):
        return RunDirectory(make_run(tmp_path / "r", detector="agipd", n_modules=4,
                                     module_shape=(16, 8), n_trains=6, n_sequences=2,
                                     missing_modules=[2]))

    def check_output(self, data, path):
        root = zarr.open_group(path, mode="r")
        assert root.attrs["train_ids"] == data.train_ids
        check_plain_sources(data, path, skip=AGIPD1M(data).source_to_modno)
        check_detector(data, path)

    def read_provenance(self, path):
        return dict(zarr.open_group(path, mode="r").attrs)


@pytest.fixture
def run(agipd_run):
    return RunDirectory(agipd_run)


def test_many_small_blocks_split_trains(run, tmp_path, monkeypatch):
    opts = make_options(ZarrWriter, {"chunk_entries": 2})
    whole = ZarrWriter().plan(run, opts).describe()
    assert f"write {DET}/image.data[0:36] <- 3 of 16 modules" in whole
    # One write unit per block: frame blocks start and end inside trains (3 frames each).
    monkeypatch.setattr(zarr_writer, "BLOCK_BYTES", 1)
    text = ZarrWriter().plan(run, opts).describe()
    # Blocks of one module each; nothing is written for the missing module 2.
    assert f"write {DET}/image.data[2:4, 1:2] <- 1 of 1 modules" in text
    assert f"{DET}/image.data[2:4, 2:3]" not in text
    sel = run.select(f"{DET}/DET/*").union(run.select(XGM_OUT))
    out = convert(sel, tmp_path / "o.zarr", to=ZarrWriter, chunk_entries=2)
    check_detector(sel, out)
    check_plain_sources(sel, out, skip=AGIPD1M(sel).source_to_modno)


def test_unstacked_modules_have_pulse_and_cell_coords(run, tmp_path):
    out = convert(run, tmp_path / "o.zarr", to=ZarrWriter, stack_detectors=False)
    check_plain_sources(run, out)
    src = f"{DET}/DET/1CH0:xtdf"
    ds = open_ds(out, src)
    np.testing.assert_array_equal(ds["pulseId_image"].values,
                                  run[src, "image.pulseId"].ndarray()[:, 0])
    np.testing.assert_array_equal(ds["cellId_image"].values,
                                  run[src, "image.cellId"].ndarray()[:, 0])
    assert DET + "/image.data" not in zarr.open_group(out, mode="r")


@pytest.mark.parametrize("compression, codec", [("none", None), ("zstd", ZstdCodec),
                                                ("blosc", BloscCodec)])
def test_compression(run, tmp_path, compression, codec):
    sel = run.select(f"{DET}/DET/*")
    out = convert(sel, tmp_path / "o.zarr", to=ZarrWriter, compression=compression,
                  compression_level=5)
    arr = zarr.open_array(out, path=f"{DET}/image.data", mode="r")
    if codec is None:
        assert arr.compressors == ()
    else:
        assert isinstance(arr.compressors[0], codec)
    check_detector(sel, out)


def test_sharding(run, tmp_path, monkeypatch):
    monkeypatch.setattr(zarr_writer, "BLOCK_BYTES", 1)
    sel = run.select(f"{DET}/DET/*").union(run.select(XGM))
    frame = 2 * 16 * 8 * 2  # bytes of one module frame
    out = convert(sel, tmp_path / "o.zarr", to=ZarrWriter, chunk_entries=2,
                  shard_mb=6 * frame / 2**20)
    arr = zarr.open_array(out, path=f"{DET}/image.data", mode="r")
    assert arr.chunks == (2, 1, 2, 16, 8) and arr.shards == (6, 1, 2, 16, 8)
    check_detector(sel, out)
    check_plain_sources(sel, out, skip=AGIPD1M(sel).source_to_modno)


def test_chunk_options(run, tmp_path):
    sel = run.select(XGM_OUT)
    out = convert(sel, tmp_path / "a.zarr", to=ZarrWriter, chunk_mb=0.01)
    arr = zarr.open_array(out, path=f"{XGM_OUT}/data.intensityTD", mode="r")
    assert arr.chunks == (2, 1000)  # 4000-byte entries, 10 kB chunks
    with pytest.raises(OptionError, match="does not fit in shard_mb"):
        convert(sel, tmp_path / "b.zarr", to=ZarrWriter, chunk_entries=10, shard_mb=0.01)
    for bad in ({"chunk_entries": 0}, {"chunk_mb": 0}, {"shard_mb": -1}, {"workers": 0},
                {"compression_level": 30}, {"compression": "blosc", "compression_level": 10}):
        with pytest.raises(OptionError):
            convert(sel, tmp_path / "c.zarr", to=ZarrWriter, **bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr"]


def test_units_become_attributes(tmp_path):
    run = RunDirectory(make_run(tmp_path / "r", n_trains=3, format_version="1.3"))
    out = convert(run.select(XGM), tmp_path / "o.zarr", to=ZarrWriter)
    units = run[XGM, "pulseEnergy.photonFlux.value"].unit_attributes()
    assert units
    attrs = open_ds(out, XGM)["pulseEnergy.photonFlux.value"].attrs
    assert {k: attrs[k] for k in units} == units


def test_detector_component_and_jungfrau(tmp_path):
    path = make_run(tmp_path / "r", detector="jungfrau", n_modules=2, module_shape=(8, 4),
                    memory_cells=2, n_trains=4, missing_trains={"*JNGFR02*": [10001]},
                    slow_data=False)
    jf = JUNGFRAU(RunDirectory(path))
    out = convert(jf, tmp_path / "jf.zarr", to=ZarrWriter)
    root = zarr.open_group(out, mode="r")
    (name,) = list(root.group_keys())
    ds = open_ds(out, name)
    ref = jf.get_array("data.adc")
    np.testing.assert_array_equal(np.moveaxis(ds["data.adc"].values, 1, 0), ref.values)
    assert ds["present_data"].values.tolist() == [[True, True], [True, False],
                                                  [True, True], [True, True]]
    assert ds.attrs["detector_type"] == "JUNGFRAU"


def _store_files(path):
    # The root metadata holds the creation time; everything else must be identical.
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p != path / "zarr.json"}


def test_dask_local_cluster_matches_serial(run, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    # Blocks of 8 frames of 4 modules (chunks of 4), one task per block.
    monkeypatch.setattr(zarr_writer, "BLOCK_BYTES", 8 * 512 * 4)
    monkeypatch.setattr(zarr_parallel, "TASK_BYTES", 1)
    sel = run.select(f"{DET}/DET/*").union(run.select(XGM))
    serial = convert(sel, tmp_path / "serial.zarr", to=ZarrWriter, chunk_entries=4)
    calls = []
    parallel = convert(sel, tmp_path / "dask.zarr", to=ZarrWriter, chunk_entries=4,
                       workers=2, progress=lambda done, total: calls.append((done, total)))
    assert _store_files(serial) == _store_files(parallel)
    assert calls[-1][0] == calls[-1][1]
    check_detector(sel, parallel)


def test_unreachable_scheduler(run, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(zarr_parallel, "CONNECT_TIMEOUT", 2)
    with pytest.raises(OptionError, match="tcp://127.0.0.1:1"):
        convert(run.select(XGM), tmp_path / "o.zarr", to=ZarrWriter,
                scheduler="tcp://127.0.0.1:1")
    assert list(tmp_path.iterdir()) == []


def test_without_dask_writes_serially(run, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    with caplog.at_level(logging.WARNING, logger="xfconvert.writers.zarr_parallel"):
        out = convert(run.select(XGM), tmp_path / "o.zarr", to=ZarrWriter, workers=2)
    assert "writing" in caplog.text and "serially" in caplog.text
    check_plain_sources(run.select(XGM), out)


def test_root_attributes(run, tmp_path):
    out = convert(run.select(XGM), tmp_path / "o.zarr", to=ZarrWriter)
    attrs = zarr.open_group(out, mode="r").attrs
    assert attrs["xfconvert_writer"] == "zarr"
    assert json.loads(attrs["selection"])["sources"] == [XGM]
    assert attrs["train_ids"] == run.train_ids
