"""xfconvert convert / writers: options generated from writers, selections, errors."""
import numpy as np
import pytest

from xfconvert import H5File, RunDirectory
from xfconvert.cli import main
from xfconvert.cli.convert import parse_trains
from xfconvert.readers.selection import ById
from xfconvert.testing import make_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("conv") / "r0001", n_trains=10, n_sequences=2)


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_writers_listed(capsys):
    code, out, _ = run_cli(capsys, "writers")
    assert code == 0
    assert "euxfel:" in out and "parquet:" in out and "--compression" in out


def test_convert_with_selection_and_trains(capsys, run_dir, tmp_path):
    out_file = tmp_path / "xgm.h5"
    code, _, err = run_cli(capsys, "convert", str(run_dir), "--to", "euxfel", "-o",
                           str(out_file), "--select", "*_XGM/*", "*", "--trains", "2:6")
    assert code == 0, err
    result = H5File(out_file)
    src = RunDirectory(run_dir)
    assert result.all_sources == {"SA1_XTD2_XGM/DOOCS/MAIN", "SA1_XTD2_XGM/DOOCS/MAIN:output"}
    assert result.train_ids == src.train_ids[2:6]
    key = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")
    np.testing.assert_array_equal(result[key].ndarray(),
                                  src.select_trains(np.s_[2:6])[key].ndarray())


def test_convert_refuses_overwrite(capsys, run_dir, tmp_path):
    out_file = tmp_path / "a.h5"
    args = ["convert", str(run_dir), "--to", "euxfel", "-o", str(out_file)]
    assert run_cli(capsys, *args)[0] == 0
    code, _, err = run_cli(capsys, *args)
    assert code == 1 and "exists" in err and err.count("\n") == 1
    assert run_cli(capsys, *args, "--overwrite")[0] == 0


def test_option_for_another_writer_is_rejected(capsys, run_dir, tmp_path):
    code, _, err = run_cli(capsys, "convert", str(run_dir), "--to", "parquet", "-o",
                           str(tmp_path / "x.parquet"), "--compression", "zstd")
    assert code == 2 and "does not apply to writer 'parquet'" in err
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("args, message", [
    (["--to", "nosuch"], "nosuch"),
    (["--to", "euxfel"], "Missing option"),
    (["--to", "euxfel", "-o", "OUT", "--trains", "abc"], "--trains"),
    (["--to", "euxfel", "-o", "OUT", "--select", "NOSUCH/SOURCE", "*"], "NOSUCH/SOURCE"),
    (["--to", "euxfel", "-o", "/nonexistent-dir/out.h5"], "does not exist"),
])
def test_bad_arguments_one_line(capsys, run_dir, tmp_path, args, message):
    args = [a.replace("OUT", str(tmp_path / "o.h5")) for a in args]
    code, _, err = run_cli(capsys, "convert", str(run_dir), *args)
    assert code != 0 and message in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_parse_trains():
    assert parse_trains("2:6") == slice(2, 6, None)
    assert parse_trains(":-1:2") == slice(None, -1, 2)
    sel = parse_trains("id:10002:10005")
    assert isinstance(sel, ById) and sel.value == slice(10002, 10005, None)


@pytest.mark.parametrize("damage", ["zero_train_id", "unsorted_train_ids"])
def test_skip_suspect_trains_flag(capsys, tmp_path, damage):
    """Suspect trains are read by default (as EXtra-data's inc_suspect_trains=True);
    --skip-suspect-trains maps to inc_suspect_trains=False."""
    from xfconvert.testing import make_damaged_file
    (tmp_path / "r1").mkdir()
    make_damaged_file(tmp_path / "r1" / "RAW-R0001-DA01-S00000.h5", damage)
    for flags, inc in [((), True), (("--skip-suspect-trains",), False)]:
        out = tmp_path / f"out-{inc}.h5"
        code, _, err = run_cli(capsys, "convert", str(tmp_path / "r1"), "--to", "euxfel",
                               "-o", str(out), *flags)
        assert code == 0, err
        expected = RunDirectory(tmp_path / "r1", inc_suspect_trains=inc).train_ids
        assert H5File(out).train_ids == expected and 0 not in expected
