"""xfconvert cxi: fill value parsing, options, one-line errors."""
import math

import h5py
import numpy as np
import pytest

from xfconvert.cli import cli, main
from xfconvert.cli.cxi import cxi, parse_fill_value
from xfconvert.testing import make_run

DET = "entry_1/instrument_1/detector_1"
MOD = "SPB_DET_AGIPD1M-1/DET/{}CH0:xtdf"


@pytest.fixture(autouse=True)
def cxi_registered(monkeypatch):
    """The command, whether or not the group registers it already."""
    monkeypatch.setitem(cli.commands, "cxi", cxi)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cxi_cli")
    common = dict(detector="agipd", n_modules=3, module_shape=(8, 4), n_trains=6,
                  frames_per_train=2, n_sequences=2, slow_data=False,
                  missing_trains={MOD.format(1): [10002]})
    return {"raw": make_run(base / "raw" / "r0001", **common),
            "proc": make_run(base / "proc" / "r0001", corrected=True, **common)}


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("text, value", [
    ("0xffffffff", 0xffffffff), ("0o17", 15), ("0b101", 5), ("12", 12), ("-3", -3),
    ("1.5", 1.5), ("1e3", 1000.0), (" 7 ", 7),
])
def test_parse_fill_value(text, value):
    parsed = parse_fill_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_parse_nan_and_bad_values():
    assert math.isnan(parse_fill_value("nan")) and math.isnan(parse_fill_value("NaN"))
    for bad in ("abc", "0xzz", "", "inf"):
        with pytest.raises(ValueError):
            parse_fill_value(bad)


def test_proc_run_with_fill_values(capsys, runs, tmp_path):
    out = tmp_path / "p.cxi"
    code, _, err = run_cli(capsys, "-q", "cxi", runs["proc"], "-o", out, "--fill-value", "data",
                           "nan", "--fill-value", "mask", "0b111", "--fill-value", "gain",
                           "0x2", "--min-modules", "3")
    assert code == 0, err
    with h5py.File(out, "r") as f:
        tids = f["entry_1/trainId"][()]
        assert 10002 not in tids and len(np.unique(tids)) == 5  # --min-modules 3
        data, mask, gain = (f[f"{DET}/{n}"] for n in ("data", "mask", "gain"))
        assert data.shape == (10, 16, 8, 4)
        assert np.isnan(data[:, 3:]).all() and (mask[:, 3:] == 7).all()
        assert (gain[:, 3:] == 2).all()
        assert not np.isnan(data[:, :3]).any()


def test_raw_run_defaults_and_overwrite(capsys, runs, tmp_path):
    out = tmp_path / "r.cxi"
    args = ["cxi", runs["raw"], "-o", out, "--relative-paths"]
    assert run_cli(capsys, *args)[0] == 0
    with h5py.File(out, "r") as f:
        data = f[f"{DET}/data"]
        assert data.shape == (12, 16, 2, 8, 4) and (data[:, 3:] == 0).all()
        assert (data[4:6, 1] == 0).all()  # train 10002 of module 1 is filled
        assert not data.virtual_sources()[0].file_name.startswith("/")
    code, _, err = run_cli(capsys, *args)
    assert code == 1 and "exists" in err and err.count("\n") == 1
    assert run_cli(capsys, *args, "--overwrite")[0] == 0


@pytest.mark.parametrize("extra, message, exit_code", [
    (["--fill-value", "image", "0"], "'image' is not one of 'data', 'gain', 'mask'", 2),
    (["--fill-value", "data", "lots"], "'lots' is not a number", 2),
    (["--fill-value", "data", "nan"], "does not fit its dtype uint16", 1),
    (["--fill-value", "mask", "1", "--fill-value", "mask", "2"], "given twice", 2),
    (["--min-modules", "0"], "--min-modules", 2),
    (["--min-modules", "4"], "Nothing to write", 1),
])
def test_errors_are_one_line(capsys, runs, tmp_path, extra, message, exit_code):
    out = tmp_path / "bad.cxi"
    code, _, err = run_cli(capsys, "cxi", runs["raw"], "-o", out, *extra)
    assert code == exit_code, err
    assert message in err and err.startswith("xfconvert: error:") and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_run_without_detector(capsys, tmp_path):
    run_dir = make_run(tmp_path / "r0002", n_trains=3)
    code, _, err = run_cli(capsys, "cxi", run_dir, "-o", tmp_path / "x.cxi")
    assert code == 1 and "No multi-module detector" in err and err.count("\n") == 1


def test_missing_output_option(capsys, runs):
    code, _, err = run_cli(capsys, "cxi", runs["raw"])
    assert code == 2 and "--output" in err
