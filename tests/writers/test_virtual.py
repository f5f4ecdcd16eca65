"""The virtual writer (write_virtual), get_virtual_dataset and validation of VDS files."""
from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from tests.conftest import reference_read
from xfconvert import AGIPD1M, H5File, RunDirectory, by_id
from xfconvert.exceptions import OptionError
from xfconvert.readers.validation import validate
from xfconvert.testing import XGM as XGMDevice
from xfconvert.testing import file_name, make_run, write_file
from xfconvert.testing.writer_tests import WriterTests
from xfconvert.writers.base import make_options
from xfconvert.writers.virtual import VirtualWriter, get_virtual_dataset, write_virtual

MOD = "SPB_DET_AGIPD1M-1/DET/{}CH0:xtdf"
XGM = "SA1_XTD2_XGM/DOOCS/MAIN"


def assert_same_data(expected, out_path) -> None:
    """The output read with the reader, and with plain h5py, equals ``expected``."""
    actual = H5File(out_path)
    assert actual.train_ids == expected.train_ids
    assert sorted(actual.all_sources) == sorted(expected.all_sources)
    with h5py.File(out_path, "r") as f:
        for source in sorted(expected.all_sources):
            exp_sd, act_sd = expected[source], actual[source]
            assert act_sd.keys() == exp_sd.keys(), source
            for key in sorted(exp_sd.keys()):
                exp, act = exp_sd[key], act_sd[key]
                values = exp.ndarray()
                np.testing.assert_array_equal(act.data_counts(labelled=False),
                                              exp.data_counts(labelled=False), err_msg=key)
                assert act.dtype == exp.dtype, key
                np.testing.assert_array_equal(act.ndarray(), values, err_msg=key)
                ds = f[exp.files[0].dataset_path(source, key)]
                assert ds.is_virtual, key
                np.testing.assert_array_equal(ds[()], values, err_msg=key)
            if exp_sd.is_control:
                # RUN values of the selected keys (run_values() lists every RUN key).
                act_run = act_sd.run_values(True)
                exp_run = {k: v for k, v in exp_sd.run_values(True).items()
                           if k in exp_sd.keys()}
                assert act_run.keys() == exp_run.keys()
                for name, value in exp_run.items():
                    np.testing.assert_array_equal(act_run[name], value)


def assert_matches_files(run_dir, out_path, keys) -> None:
    """Virtual datasets equal the input read the slow way, straight from INDEX and h5py."""
    with h5py.File(out_path, "r") as f:
        for source, key, dset_path in keys:
            _, data = reference_read(run_dir, source, key)
            np.testing.assert_array_equal(f[dset_path][()], data, err_msg=key)


class TestVirtualWriter(WriterTests):
    writer = "virtual"

    def make_data(self, tmp_path):
        run_dir = make_run(tmp_path / "r1", detector="agipd", n_modules=3, module_shape=(4, 2),
                           n_trains=8, frames_per_train=2, n_sequences=2,
                           missing_modules=[1], seed=2,
                           missing_trains={MOD.format(2): [10003, 10006], XGM: [10001]})
        return RunDirectory(run_dir)

    def check_output(self, data, path):
        assert_same_data(data, path)
        assert validate(path) == []

    def read_provenance(self, path):
        with h5py.File(path, "r") as f:
            return dict(f.attrs)

    def test_plan_describes_mappings(self, data):
        plan = VirtualWriter().plan(data, make_options(VirtualWriter, {}))
        text = plan.describe()
        assert (f"INSTRUMENT/{MOD.format(2)}/image/data: virtual (12, 2, 4, 2) uint16 "
                "<- 2 mapping(s) from 2 file(s)") in text
        assert "INDEX/trainId: 8 trains" in text and "METADATA: format 1.0" in text

    def test_one_mapping_per_chunk_not_per_train(self, data, tmp_path):
        out = write_virtual(data, tmp_path / "v.h5")
        for module in (0, 2):
            kd = data[MOD.format(module), "image.data"]
            with h5py.File(out, "r") as f:
                n_maps = len(f[f"INSTRUMENT/{MOD.format(module)}/image/data"]
                             .virtual_sources())
            assert n_maps == len(kd.chunk_plan()) == 2 < len(kd.train_ids)

    def test_index_and_metadata(self, data, tmp_path):
        out = write_virtual(data.select([(XGM, "*"), (MOD.format(2), "image.*")]),
                            tmp_path / "v.h5")
        with h5py.File(out, "r") as f:
            assert f["METADATA/dataFormatVersion"][0] == b"1.0"
            assert sorted(f["METADATA/dataSources/dataSourceId"][()]) == [
                f"CONTROL/{XGM}".encode(), f"INSTRUMENT/{MOD.format(2)}/image".encode()]
            count = f[f"INDEX/{MOD.format(2)}/image/count"][()]
            first = f[f"INDEX/{MOD.format(2)}/image/first"][()]
            np.testing.assert_array_equal(count, [2, 2, 2, 0, 2, 2, 0, 2])
            np.testing.assert_array_equal(first, np.cumsum(count) - count)
            np.testing.assert_array_equal(f[f"INDEX/{XGM}/count"][()],
                                          [1, 0, 1, 1, 1, 1, 1, 1])
            assert "timestamp" in f["INDEX"] and (f["INDEX/flag"][()] == 1).all()
            np.testing.assert_array_equal(f["INDEX/trainId"][()], data.train_ids)
            selection = json.loads(f.attrs["selection"])
            assert selection["sources"] == sorted([XGM, MOD.format(2)])

    def test_selections_of_keys_and_trains(self, data, tmp_path):
        sel = data.select({XGM: {"beamPosition.ixPos"}}).select_trains(by_id[10002:10006])
        out = write_virtual(sel, tmp_path / "v.h5")
        assert_same_data(sel, out)
        with h5py.File(out, "r") as f:
            assert sorted(f[f"RUN/{XGM}"].keys()) == ["beamPosition"]
            assert f[f"CONTROL/{XGM}/beamPosition/ixPos/value"].shape == (4,)

    def test_relative_paths_survive_moving_run_and_output(self, data, tmp_path):
        run_dir = tmp_path / "input" / "r1"
        out = write_virtual(data, run_dir.parent / "v.h5", relative_paths=True)
        with h5py.File(out, "r") as f:
            names = {m.file_name for m in f[f"INSTRUMENT/{MOD.format(0)}/image/data"]
                     .virtual_sources()}
        assert names == {"r1/RAW-R0001-AGIPD00-S00000.h5", "r1/RAW-R0001-AGIPD00-S00001.h5"}
        expected = {(s, k): data[s, k].ndarray() for s in data.all_sources
                    for k in data[s].keys()}
        moved = tmp_path / "elsewhere"
        shutil.move(str(run_dir.parent), str(moved))
        actual = H5File(moved / "v.h5")
        for (source, key), values in expected.items():
            np.testing.assert_array_equal(actual[source, key].ndarray(), values)

    def test_validate_reports_missing_and_short_sources(self, data, tmp_path):
        out = write_virtual(data, tmp_path / "v.h5")
        run_dir = tmp_path / "input" / "r1"
        gone = run_dir / "RAW-R0001-AGIPD02-S00001.h5"
        gone.unlink()
        da01 = run_dir / "RAW-R0001-DA01-S00000.h5"
        for fa in data.files:
            fa.close()  # the reader holds the input files open read-only
        with h5py.File(da01, "r+") as f:  # a source dataset shorter than mapped
            path = f"INSTRUMENT/{XGM}:output/data/intensityTD"
            short = f[path][:2]
            del f[path]
            f[path] = short
        problems = [str(p) for p in validate(out)]
        missing = [p for p in problems if str(gone) in p]
        assert len(missing) == 1 and "is missing" in missing[0]
        assert f"virtual dataset /INSTRUMENT/{MOD.format(2)}/" in missing[0]
        assert "more virtual datasets" in missing[0]
        too_short = [p for p in problems if "too short" in p]
        assert len(too_short) == 1 and "intensityTD" in too_short[0]
        assert str(da01) in too_short[0]


@pytest.mark.parametrize("version", ["0.5", "1.3"])
def test_formats_sequences_and_sparse_control(tmp_path, version):
    """Legacy 0.5 index (no timestamps) and 1.3, control data every other train."""
    run_dir = make_run(tmp_path / "r2", detector="lpd", n_modules=2, module_shape=(4, 4),
                       n_trains=7, frames_per_train=3, n_sequences=2, format_version=version,
                       legacy_index=version == "0.5", control_every=2, seed=9)
    run = RunDirectory(run_dir)
    out = write_virtual(run, tmp_path / "v.h5")
    assert_same_data(run, out)
    lpd = "FXE_DET_LPD1M-1/DET/1CH0:xtdf"
    assert_matches_files(run_dir, out, [
        (lpd, "image.data", f"INSTRUMENT/{lpd}/image/data"),
        (XGM, "beamPosition.ixPos.value", f"CONTROL/{XGM}/beamPosition/ixPos/value"),
        (f"{XGM}:output", "data.intensityTD",
         f"INSTRUMENT/{XGM}:output/data/intensityTD"),
    ])
    with h5py.File(out, "r") as f:
        # format 1.0 output always has INDEX/timestamp: 0 where the input had none (0.5)
        assert (f["INDEX/timestamp"][()] > 0).all() == (version != "0.5")
        assert f[f"CONTROL/{XGM}/beamPosition/ixPos/value"].shape == (4,)


def test_get_virtual_dataset(tmp_path):
    run_dir = make_run(tmp_path / "r3", n_trains=6, n_sequences=3, seed=4,
                       missing_trains={f"{XGM}:output": [10002]})
    run = RunDirectory(run_dir)
    key = (f"{XGM}:output", "data.intensityTD")
    target = tmp_path / "xgm_vds.h5"
    target.write_text("old")  # replaced, as the seeds' API does
    ds = get_virtual_dataset(run, *key, filename=target)
    try:
        assert ds.is_virtual and ds.shape == (5, 1000) and ds.file.mode == "r"
        assert ds.name == f"/INSTRUMENT/{XGM}:output/data/intensityTD"
        np.testing.assert_array_equal(ds[:, :40], run[key].ndarray()[:, :40])
        _, reference = reference_read(run_dir, *key)
        np.testing.assert_array_equal(ds[()], reference)
        assert len(ds.virtual_sources()) == 3
    finally:
        ds.file.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r3", "xgm_vds.h5"]
    tmp_ds = get_virtual_dataset(run, XGM, "beamPosition.iyPos")
    try:
        np.testing.assert_array_equal(tmp_ds[()], run[XGM, "beamPosition.iyPos"].ndarray())
    finally:
        tmp_ds.file.close()


def test_interleaved_sequence_files_stay_in_train_order(tmp_path):
    """Files whose trains interleave: each train's entries land at its own rows."""
    run_dir = tmp_path / "r4"
    run_dir.mkdir()
    for seq, tids in enumerate([[10000, 10002, 10003], [10001, 10004]]):
        write_file(run_dir / file_name("DA01", seq), [XGMDevice(XGM)], tids,
                   run_start_train=10000, sequence=seq)
    run = RunDirectory(run_dir)
    out = write_virtual(run, tmp_path / "v.h5")
    dset_path = f"INSTRUMENT/{XGM}:output/data/intensityTD"
    assert_matches_files(run_dir, out, [(f"{XGM}:output", "data.intensityTD", dset_path)])
    with h5py.File(out, "r") as f:
        # Each file's chunk is split where a train of the other file sits between.
        assert len(f[dset_path].virtual_sources()) == 4
        np.testing.assert_array_equal(f[f"INDEX/{XGM}:output/data/first"][()],
                                      [0, 1, 2, 3, 4])


def test_detector_component_and_bad_input(tmp_path):
    run = RunDirectory(make_run(tmp_path / "r5", detector="agipd", n_modules=2,
                                module_shape=(4, 2), n_trains=3, frames_per_train=2))
    det = AGIPD1M(run)
    out = write_virtual(det, tmp_path / "det.h5")
    assert sorted(H5File(out).all_sources) == sorted(det.data.all_sources)
    with pytest.raises(OptionError, match="DataCollection"):
        write_virtual(object(), tmp_path / "x.h5")
