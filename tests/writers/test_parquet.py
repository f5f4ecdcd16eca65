"""The Parquet writer: values read back with pandas, pyarrow.dataset and DuckDB."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xfconvert import RunDirectory
from xfconvert.exceptions import FileStructureError, OptionError
from xfconvert.testing import WriterTests, make_run
from xfconvert.writers import convert
from xfconvert.writers.parquet import sql_names

XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
XGM_OUT = "SA1_XTD2_XGM/DOOCS/MAIN:output"
CAMERA = "SPB_IRU_CAM/CAM/SIDEMIC:daqOutput"
AGIPD0 = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"
GAUGE = "SPB_XTD9_VAC/GAUGE/G1"


def read_meta(path) -> dict[str, str]:
    meta = pq.read_schema(path).metadata
    return {k.decode(): v.decode() for k, v in meta.items()}


def part_file(out):
    return out / "part-0.parquet"


def column_values(col: pa.ChunkedArray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(values, validity) of a column; nested fixed-size lists become an n-d array.

    Values of null rows are unspecified (compare only where valid).
    """
    arr = col.combine_chunks()
    valid = ~np.asarray(arr.is_null())
    flat = arr
    for _ in shape:
        flat = flat.values
    return np.asarray(flat.to_numpy(zero_copy_only=False)).reshape((len(arr),) + shape), valid


def compare_with_dataframe(data, df_out: pd.DataFrame, *, timestamps=False, names=None):
    """Every scalar column equals get_dataframe's (validity compared, NaN vs null aside)."""
    ref = data.get_dataframe(timestamps=timestamps)
    assert len(ref.columns) > 0
    got = df_out.set_index("trainId")
    assert got.index.tolist() == ref.index.astype(np.int64).tolist()
    for name in ref.columns:
        out_name = names[name] if names else name
        r, g = ref[name], got[out_name]
        assert (r.isna().to_numpy() == g.isna().to_numpy()).all(), name
        ok = r.notna().to_numpy()
        np.testing.assert_array_equal(g.to_numpy()[ok].astype(r.dtype), r.to_numpy()[ok],
                                      err_msg=name)


class TestParquetWriter(WriterTests):
    writer = "parquet"

    def make_data(self, tmp_path):
        return RunDirectory(make_run(tmp_path / "r1", n_trains=12, n_sequences=2,
                                     detector="agipd", n_modules=1, module_shape=(4, 2),
                                     frames_per_train=3, control_every=2, format_version="1.3",
                                     missing_trains={XGM_OUT: [10003, 10004]}, seed=7))

    def check_output(self, data, path):
        df = pd.read_parquet(path)
        assert df["trainId"].dtype == np.int64
        compare_with_dataframe(data, df)
        kd = data[XGM_OUT, "data.intensityTD"]
        t = pq.read_table(part_file(path))
        values, valid = column_values(t.column(f"{XGM_OUT}/data.intensityTD"), kd.entry_shape)
        tids = t.column("trainId").to_numpy()
        np.testing.assert_array_equal(tids[valid], kd.drop_empty_trains().train_id_array)
        np.testing.assert_array_equal(values[valid], kd.ndarray())

    def read_provenance(self, path):
        return read_meta(part_file(path))


@pytest.fixture(scope="module")
def lpd_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("lpd") / "r0003", detector="lpd", n_modules=2,
                    module_shape=(4, 4), n_trains=9, frames_per_train=2, n_sequences=3,
                    missing_trains={XGM: [10002], "FXE_DET_LPD1M-1/DET/1CH0:xtdf": [10005]},
                    run_number=3, seed=11)


@pytest.mark.parametrize("version", ["0.5", "1.3"])
@pytest.mark.parametrize("control_every", [1, 2])
def test_values_match_get_dataframe(tmp_path, version, control_every):
    run = RunDirectory(make_run(tmp_path / "r", n_trains=10, n_sequences=3,
                                format_version=version, legacy_index=version == "0.5",
                                control_every=control_every, seed=2,
                                missing_trains={GAUGE: [10003, 10006], XGM_OUT: [10001]}))
    out = convert(run, tmp_path / "o.parquet", to="parquet", timestamps=True,
                  row_group_trains=4)
    compare_with_dataframe(run, pd.read_parquet(out), timestamps=True)
    con_df = duckdb.sql(f"SELECT * FROM read_parquet('{out}/*.parquet') ORDER BY trainId").df()
    compare_with_dataframe(run, con_df, timestamps=True)
    meta = read_meta(part_file(out))
    columns = {c["column"]: c for c in json.loads(meta["xfconvert_columns"])}
    ix = columns[f"{XGM}/beamPosition.ixPos"]
    assert (ix["source"], ix["key"]) == (XGM, "beamPosition.ixPos.value")
    if version == "1.3":
        assert ix["units"] == {"unitName": "meter", "unitSymbol": "m", "metricPrefixSymbol": "m"}
        stamps = pq.read_table(part_file(out)).column("trainTimestamp")
        assert stamps.type == pa.timestamp("ns", tz="UTC") and stamps.null_count == 0
    else:
        assert ix["units"] == {}
        assert "trainTimestamp" not in pq.read_schema(part_file(out)).names
    assert json.loads(meta["xfconvert_run"]) == {"run_numbers": [1]}


def test_array_columns_and_long_table(lpd_run, tmp_path):
    run = RunDirectory(lpd_run)
    out = convert(run, tmp_path / "o.parquet", to="parquet", row_group_trains=2)
    t = pads.dataset(out, format="parquet").to_table()
    cam = run[CAMERA, "data.image.pixels"]
    values, valid = column_values(t.column(f"{CAMERA}/data.image.pixels"), cam.entry_shape)
    assert pa.types.is_fixed_size_list(t.schema.field(f"{CAMERA}/data.image.pixels").type)
    np.testing.assert_array_equal(values[valid], cam.ndarray())

    tables = json.loads(read_meta(part_file(out))["xfconvert_tables"])
    entries = {(e["source"], e["index_group"]): e["path"] for e in tables if e["kind"] == "entries"}
    assert set(entries) == {(f"FXE_DET_LPD1M-1/DET/{m}CH0:xtdf", "image") for m in (0, 1)}
    for (source, _), rel in entries.items():
        long = pd.read_parquet(out / rel)
        assert long["trainId"].dtype == np.int64
        kd = run[source, "image.data"]
        np.testing.assert_array_equal(long["trainId"], kd.train_id_coordinates())
        counts = kd.data_counts(labelled=False)
        expected_entry = np.concatenate([np.arange(c) for c in counts])
        np.testing.assert_array_equal(long["entry"], expected_entry)
        for key in ("image.data", "image.cellId", "image.pulseId"):
            kd = run[source, key]
            got, ok = column_values(pq.read_table(out / rel).column(f"{source}/{key}"),
                                    kd.entry_shape)
            assert ok.all()
            np.testing.assert_array_equal(got, kd.ndarray(), err_msg=key)
        via_duck = duckdb.sql("SELECT count(*), max(entry) "
                              f"FROM read_parquet('{out / rel}/*.parquet')").fetchall()[0]
        assert via_duck == (len(long), 1)


def test_sql_names_and_reading_with_duckdb(lpd_run, tmp_path):
    run = RunDirectory(lpd_run).select([(XGM, "*"), (XGM_OUT, "*")])
    out = convert(run, tmp_path / "o.parquet", to="parquet", column_names="sql")
    meta = json.loads(read_meta(part_file(out))["xfconvert_columns"])
    names = {f"{c['source']}/{c['key'].removesuffix('.value')}": c["column"] for c in meta}
    assert all(n.replace("_", "").isalnum() for n in names.values())
    compare_with_dataframe(run, pd.read_parquet(out), names=names)
    col = names[f"{XGM}/beamPosition.ixPos"]
    got = duckdb.sql(f"SELECT trainId, {col} FROM read_parquet('{out}/*.parquet') "
                     "WHERE trainId = 10002").fetchall()
    assert got == [(10002, None)]  # the XGM has no data in that train: null, not 0


def test_sql_name_collisions_are_deterministic():
    names = ["A/b.c", "A/b_c", "a/B.c", "trainId"]
    assert sql_names(names, ["trainId"]) == ["A_b_c", "A_b_c_2", "a_B_c_3", "trainId_2"]
    assert sql_names(names, ["trainId"]) == sql_names(list(names), ["trainId"])


@pytest.mark.parametrize("partition_by, expected", [
    ("run", ["run=3"]), ("train_block", ["train_block=10000", "train_block=10004",
                                         "train_block=10008"])])
def test_partitioning(lpd_run, tmp_path, partition_by, expected):
    run = RunDirectory(lpd_run)
    out = convert(run, tmp_path / "o.parquet", to="parquet", partition_by=partition_by,
                  train_block_size=4)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("_")) == expected
    plain = convert(run, tmp_path / "plain.parquet", to="parquet")
    ref = pd.read_parquet(plain)
    dataset = pads.dataset(out, format="parquet", partitioning="hive").to_table()
    got = dataset.to_pandas().sort_values("trainId").reset_index(drop=True)
    part_col = got.pop(partition_by)
    pd.testing.assert_frame_equal(got[ref.columns], ref)
    if partition_by == "train_block":
        np.testing.assert_array_equal(part_col, ref["trainId"] // 4 * 4)
    duck = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/*/*.parquet', "
                      "hive_partitioning=true)").fetchall()[0][0]
    assert duck == len(ref)
    entries = next((out / "_entries").iterdir())
    assert sorted(p.name for p in entries.iterdir()) == expected


def test_strings_are_utf8(tmp_path):
    run_dir = make_run(tmp_path / "r", n_trains=4, seed=1)
    da01 = next(run_dir.glob("*DA01*"))
    with h5py.File(da01, "r+") as f:
        grp = f.create_group(f"CONTROL/{GAUGE}/state")
        grp["value"] = np.array(["ON", "Ä", "OFF", "ÉRROR"], dtype=h5py.string_dtype())
        grp["timestamp"] = f[f"CONTROL/{GAUGE}/pressure/timestamp"][()]
    run = RunDirectory(run_dir, use_cache=False).select(GAUGE)
    out = convert(run, tmp_path / "o.parquet", to="parquet")
    t = pq.read_table(part_file(out))
    assert t.schema.field(f"{GAUGE}/state").type == pa.string()
    assert t.column(f"{GAUGE}/state").to_pylist() == ["ON", "Ä", "OFF", "ÉRROR"]


def test_bad_options(lpd_run, tmp_path):
    run = RunDirectory(lpd_run)
    with pytest.raises(OptionError, match="column_names"):
        convert(run, tmp_path / "a.parquet", to="parquet", column_names="dots")
    with pytest.raises(OptionError, match="row_group_trains"):
        convert(run, tmp_path / "b.parquet", to="parquet", row_group_trains=0)
    with pytest.raises(OptionError, match="partition_by"):
        convert(run, tmp_path / "c.parquet", to="parquet", partition_by="month")
    assert not any(tmp_path.glob("*.parquet*"))


def test_train_ids_beyond_int64_are_refused(tmp_path):
    run_dir = make_run(tmp_path / "r", n_trains=3, slow_data=True)
    for path in run_dir.glob("*.h5"):
        with h5py.File(path, "r+") as f:
            f["INDEX/trainId"][-1] = np.uint64(2 ** 63 + 5)
    run = RunDirectory(run_dir, use_cache=False)
    with pytest.raises(FileStructureError, match="int64"):
        convert(run, tmp_path / "o.parquet", to="parquet")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("small") / "r", n_trains=23, n_sequences=2,
                    missing_trains={XGM: [10004]}, seed=4)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_trains=st.integers(1, 23), row_group_trains=st.integers(1, 30))
def test_row_groups(small_run, tmp_path_factory, n_trains, row_group_trains):
    run = RunDirectory(small_run).select([(XGM, "*"), (GAUGE, "*")]).select_trains(
        np.s_[:n_trains])
    out = convert(run, tmp_path_factory.mktemp("rg") / "o.parquet", to="parquet",
                  row_group_trains=row_group_trains)
    meta = pq.ParquetFile(part_file(out)).metadata
    assert meta.num_rows == n_trains  # the gauge has data in every train
    assert meta.num_row_groups == -(-n_trains // row_group_trains)
    assert all(meta.row_group(i).num_rows <= row_group_trains
               for i in range(meta.num_row_groups))
    compare_with_dataframe(run, pd.read_parquet(out))


_MEMORY_SCRIPT = textwrap.dedent("""
    import sys, threading, psutil
    from xfconvert import RunDirectory
    from xfconvert.writers import convert
    run = RunDirectory(sys.argv[1])
    proc, peak, stop = psutil.Process(), [0], threading.Event()
    def sample():
        while not stop.wait(0.002):
            peak[0] = max(peak[0], proc.memory_info().rss)
    base = proc.memory_info().rss
    sampler = threading.Thread(target=sample)
    sampler.start()
    convert(run, sys.argv[2], to="parquet", row_group_trains=250)
    stop.set()
    sampler.join()
    print(max(peak[0] - base, 0))
""")


def test_peak_memory_does_not_grow_with_trains(tmp_path):
    from xfconvert.testing import make_slow_data_run
    growth = {}
    for n in (1500, 15000):
        run_dir = make_slow_data_run(tmp_path / f"r{n}", n_sources=10, keys_per_source=40,
                                     n_trains=n, n_sequences=2)
        res = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(run_dir),
                              str(tmp_path / f"o{n}.parquet")],
                             capture_output=True, text=True, check=True)
        growth[n] = int(res.stdout.split()[-1]) / 2 ** 20  # MiB
    # The whole table at 15000 trains is ~35 MiB; streaming must not hold it.
    assert growth[15000] - growth[1500] < 20, growth
