"""An output may never be, contain, or lie inside an input, whatever --overwrite says."""
from __future__ import annotations

import os
import shutil

import pytest

from xfconvert import H5File, RunDirectory
from xfconvert.components import AGIPD1M
from xfconvert.exceptions import OutputError, OutputOverlapsInputError
from xfconvert.testing import make_run
from xfconvert.writers.base import atomic_output, convert
from xfconvert.writers.euxfel import write_frames
from xfconvert.writers.registry import list_writers
from xfconvert.writers.virtual import get_virtual_dataset

from .conftest import snapshot

XGM_OUT = "SA1_XTD2_XGM/DOOCS/MAIN:output"


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path / "r0001", n_trains=5, seed=11)


@pytest.fixture
def det_run(tmp_path):
    return make_run(tmp_path / "r0002", detector="agipd", n_modules=2, module_shape=(8, 4),
                    n_trains=4, frames_per_train=2, run_number=2, seed=12)


def _data_for(writer, run_dir, det_run):
    return AGIPD1M(RunDirectory(det_run)) if writer == "cxi" else RunDirectory(run_dir)


def _input_of(writer, run_dir, det_run):
    return det_run if writer == "cxi" else run_dir


# ---- the two reported commands -------------------------------------------------------------
def test_cli_run_over_itself(run_cli, run_dir):
    before = snapshot(run_dir)
    code, _, err = run_cli("convert", run_dir, "--to", "euxfel-run", "-o", run_dir,
                           "--overwrite")
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("xfconvert: error: Refusing to write")
    assert str(run_dir) in err and " is the input " in err
    assert snapshot(run_dir) == before


def test_cli_file_over_itself(run_cli, run_dir):
    path = run_dir / "RAW-R0001-DA01-S00000.h5"
    before = snapshot(run_dir)
    code, _, err = run_cli("convert", path, "--to", "euxfel", "-o", path, "--overwrite")
    assert code == 1 and err.count("\n") == 1
    assert f"Refusing to write {path}: it is the input {path}" in err
    assert snapshot(run_dir) == before


# ---- every relation, every writer, through the library -----------------------------------
def _target(relation, writer, tmp_path, src):
    suffix = list_writers()[writer].suffix
    if relation == "is-file":
        return next(src.glob("*DA01*.h5")) if writer != "cxi" else next(src.glob("*AGIPD00*"))
    if relation == "is-dir":
        return src
    if relation == "contains":
        return tmp_path
    if relation == "inside":
        return src / f"out{suffix}"
    if relation == "symlink-to-file":
        link = tmp_path / f"link{suffix}"
        link.symlink_to(next(src.glob("*.h5")))
        return link
    if relation == "symlink-to-dir":
        link = tmp_path / f"link{suffix}"
        link.symlink_to(src, target_is_directory=True)
        return link
    if relation == "through-symlinked-parent":
        link = tmp_path / "alias"
        link.symlink_to(src, target_is_directory=True)
        return link / f"out{suffix}"
    if relation == "hard-link":
        link = tmp_path / f"hard{suffix}"
        os.link(next(src.glob("*.h5")), link)
        return link
    raise AssertionError(relation)


RELATIONS = ["is-file", "is-dir", "contains", "inside", "symlink-to-file", "symlink-to-dir",
             "through-symlinked-parent", "hard-link"]


@pytest.mark.parametrize("writer", sorted(list_writers()))
@pytest.mark.parametrize("relation", RELATIONS)
def test_library_refuses_for_every_writer(writer, relation, tmp_path, run_dir, det_run):
    data = _data_for(writer, run_dir, det_run)
    src = _input_of(writer, run_dir, det_run)
    target = _target(relation, writer, tmp_path, src)
    before = snapshot(tmp_path)
    with pytest.raises(OutputOverlapsInputError) as info:
        convert(data, target, to=writer, overwrite=True)
    assert isinstance(info.value, OutputError)
    assert str(target) in str(info.value) and info.value.input_path in str(info.value)
    assert snapshot(tmp_path) == before
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]


def test_input_opened_through_a_symlink(tmp_path, run_dir):
    alias = tmp_path / "alias"
    alias.symlink_to(run_dir, target_is_directory=True)
    data = RunDirectory(alias)
    with pytest.raises(OutputOverlapsInputError):
        convert(data, run_dir, to="euxfel-run", overwrite=True)
    with pytest.raises(OutputOverlapsInputError):
        convert(data, run_dir / "x.h5", to="euxfel")


def test_single_file_protects_its_run_directory(run_cli, run_dir):
    path = run_dir / "RAW-R0001-DA02-S00000.h5"
    code, _, err = run_cli("convert", path, "--to", "euxfel", "-o", run_dir / "copy.h5")
    assert code == 1 and "lies inside the input" in err
    assert not (run_dir / "copy.h5").exists()


def test_a_plain_file_may_be_written_beside(tmp_path, run_dir):
    # A file not named like a run file is not a run: its directory is not protected.
    plain = tmp_path / "plain.h5"
    shutil.copy(run_dir / "RAW-R0001-DA01-S00000.h5", plain)
    out = convert(H5File(plain), tmp_path / "copy.h5", to="euxfel")
    assert H5File(out).all_sources == H5File(plain).all_sources
    with pytest.raises(OutputOverlapsInputError):
        convert(H5File(plain), plain, to="euxfel", overwrite=True)


def test_sibling_outputs_still_work(run_cli, tmp_path, run_dir):
    code, _, err = run_cli("convert", run_dir, "--to", "euxfel-run", "-o",
                           tmp_path / "r0001-copy")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "r0001-copy").iterdir())


def test_other_entry_points(tmp_path, det_run):
    run = RunDirectory(det_run)
    det = AGIPD1M(run)
    target = det_run / "RAW-R0002-AGIPD00-S00000.h5"
    before = snapshot(det_run)
    with pytest.raises(OutputOverlapsInputError):
        write_frames(det, target, [10000], [0], overwrite=True)
    with pytest.raises(OutputOverlapsInputError):
        get_virtual_dataset(run, XGM_OUT, "data.intensityTD", target)
    with pytest.raises(OutputOverlapsInputError):
        run.write(det_run / "x.h5")
    with pytest.raises(OutputOverlapsInputError):
        with atomic_output(target, overwrite=True, inputs=run):
            raise AssertionError("must not be reached")
    assert snapshot(det_run) == before
