"""xfconvert ls / validate from the command line, and the one-line error convention."""
import subprocess
import sys

import pytest

from xfconvert.cli import main
from xfconvert.readers.file_access import FileAccess
from xfconvert.testing import damage_file, make_run


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("cli") / "raw" / "r0003", detector="agipd",
                    n_modules=2, module_shape=(8, 4), n_trains=5, run_number=3)


def test_ls_run(capsys, run_dir):
    code, out, _ = run_cli(capsys, "ls", str(run_dir))
    assert code == 0
    assert "# of trains:    5" in out and "2 XTDF detector modules" in out


def test_ls_detail_and_file(capsys, run_dir):
    code, out, _ = run_cli(capsys, "ls", str(run_dir), "--detail", "*_XGM/*")
    assert code == 0 and "beamPosition.ixPos\t[float32]" in out
    assert "data.intensityTD\t[float32, entry shape (1000,)]" in out
    one_file = sorted(run_dir.glob("*DA01*"))[0]
    code, out, _ = run_cli(capsys, "ls", str(one_file))
    assert code == 0 and "SA1_XTD2_XGM/DOOCS/MAIN" in out


def test_ls_proposal(capsys, run_dir):
    code, out, _ = run_cli(capsys, "ls", str(run_dir.parent.parent))
    assert code == 0 and "raw/r0003:" in out and "files" in out


def test_validate_good_and_bad(capsys, tmp_path):
    good = make_run(tmp_path / "r0001", n_trains=12, n_sequences=2)
    code, out, _ = run_cli(capsys, "validate", str(good))
    assert code == 0 and "No problems" in out
    target = sorted(good.glob("*DA01*"))[0]
    FileAccess(target).close()  # the validator left it open read-only; HDF5 locks it
    damage_file(target, "index_gap")
    code, out, _ = run_cli(capsys, "validate", str(good))
    assert code == 1 and "gap in index" in out and "DA01-S00000" in out


def test_errors_are_one_line(capsys, tmp_path):
    bad = tmp_path / "r0001"
    bad.mkdir()
    (bad / "RAW-R0001-DA01-S00000.h5").write_bytes(b"not hdf5 at all" * 10)
    code, out, err = run_cli(capsys, "ls", str(bad))
    assert code == 1
    assert err.count("\n") == 1 and "RAW-R0001-DA01-S00000.h5" in err
    assert "Traceback" not in err


def test_usage_errors(capsys, tmp_path):
    code, _, err = run_cli(capsys, "ls", str(tmp_path / "missing"))
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
    code, _, err = run_cli(capsys, "frobnicate")
    assert code == 2 and "No such command" in err


def test_console_script_debug_shows_traceback(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"junk")
    proc = subprocess.run([sys.executable, "-m", "xfconvert", "ls", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("xfconvert: error:") and "x.h5" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "xfconvert", "--debug", "ls", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
