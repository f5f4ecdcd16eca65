"""One error boundary: every failure below the CLI is one line naming what failed."""
from __future__ import annotations

import errno

import pytest

from xfconvert import RunDirectory
from xfconvert.exceptions import InternalError, OutputError, XfconvertError
from xfconvert.testing import make_run
from xfconvert.writers.base import convert
from xfconvert.writers.boundary import error_boundary, storage_errno
from xfconvert.writers.registry import get_writer, list_writers

WRITERS = sorted(set(list_writers()) - {"cxi"})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("bnd") / "r0001", n_trains=6, seed=21)


def _leftovers(directory):
    return [p.name for p in directory.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("exc", [IndexError("tuple index out of range"),
                                 TypeError("Operation not defined for data type class"),
                                 MemoryError("Unable to allocate 7.11 PiB")])
def test_bugs_become_one_internal_error_line(writer, exc, run_dir, tmp_path, monkeypatch,
                                             run_cli):
    cls = get_writer(writer)
    real = cls.write_plan

    def broken(self, plan, path, progress):
        real(self, plan, path, lambda done, total: (_ for _ in ()).throw(exc))

    monkeypatch.setattr(cls, "write_plan", broken)
    target = tmp_path / f"out{cls.suffix}"
    with pytest.raises(InternalError) as info:
        convert(RunDirectory(run_dir), target, to=writer)
    assert info.value.__cause__ is exc and isinstance(info.value, RuntimeError)
    code, _, err = run_cli("convert", run_dir, "--to", writer, "-o", target)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"xfconvert: error: internal error in writer {writer} while "
                          f"writing {target}: {type(exc).__name__}: ")
    assert err.rstrip().endswith("; rerun with --debug")
    assert not target.exists() and _leftovers(tmp_path) == []
    with pytest.raises(InternalError):
        run_cli("--debug", "convert", run_dir, "--to", writer, "-o", target)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO])
@pytest.mark.parametrize("style", ["oserror", "hdf5", "chained"])
def test_storage_errors_name_target_and_cause(code, style):
    if style == "oserror":
        err = OSError(code, "boom")
    elif style == "hdf5":
        err = RuntimeError(f"Can't decrement id ref count (unable to extend file properly, "
                           f"errno = {code}, error message = 'x')")
    else:
        try:
            try:
                raise OSError(code, "inner")
            except OSError as inner:
                raise ValueError("outer") from inner
        except ValueError as outer:
            err = outer
    assert storage_errno(err) == code
    with pytest.raises(OutputError) as info:
        with error_boundary("parquet", "/data/out.parquet"):
            raise err
    assert str(info.value).startswith("Writing /data/out.parquet failed: ")
    assert errno.errorcode[code] in str(info.value)


def test_our_errors_pass_unchanged():
    from xfconvert.exceptions import FileStructureError
    err = FileStructureError("/r/f.h5", "bad", source="S", key="k")
    with pytest.raises(FileStructureError) as info:
        with error_boundary("zarr", "o.zarr"):
            raise err
    assert info.value is err and isinstance(info.value, XfconvertError)


@pytest.mark.parametrize("trains, code, message", [
    ("0:10:0", 2, "the step must be at least 1"),
    ("10:5", 1, "selects none of the 6 trains"),
    ("id:20000:20005", 1, "selects none of the 6 trains"),
])
def test_bad_train_selections(trains, code, message, run_dir, tmp_path, run_cli):
    target = tmp_path / "o.h5"
    got, _, err = run_cli("convert", run_dir, "--to", "euxfel", "-o", target,
                          "--trains", trains)
    assert got == code and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_internal_error_outside_writers(monkeypatch, run_dir, run_cli):
    from xfconvert.cli import inspect as cli_inspect

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli_inspect, "RunDirectory", broken)
    code, _, err = run_cli("ls", run_dir)
    assert code == 1 and err == ("xfconvert: error: internal error in xfconvert ls: "
                                 "ZeroDivisionError: division by zero; rerun with --debug\n")


@pytest.mark.parametrize("writer", WRITERS)
def test_hostile_source_names_refused_by_every_writer(writer, tmp_path, run_cli):
    from xfconvert.exceptions import FileStructureError
    from xfconvert.testing.damage import HOSTILE_SOURCE, rename_source
    run = make_run(tmp_path / "r0001", n_trains=4, seed=22)
    path = rename_source(run / "RAW-R0001-DA01-S00000.h5")
    data = RunDirectory(run)
    assert HOSTILE_SOURCE in data.all_sources
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / f"o{get_writer(writer).suffix}"
    with pytest.raises(FileStructureError) as info:
        convert(data, target, to=writer)
    assert info.value.filename == str(path) and info.value.source == HOSTILE_SOURCE
    code, _, err = run_cli("convert", run, "--to", writer, "-o", target)
    assert code == 1 and err.count("\n") == 1 and str(path) in err and HOSTILE_SOURCE in err
    assert list(out_dir.iterdir()) == [] and not (tmp_path / "evil").exists()
