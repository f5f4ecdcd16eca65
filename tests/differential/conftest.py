"""Session fixtures of the differential suite: each run built once, opened once per library."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import extra_data
import pytest

import xfconvert

from .runs import RUNS_BY_NAME, RunSpec

LIBS = {"xfconvert": xfconvert, "extra_data": extra_data}


def open_dir(lib: Any, path: Path, **kwargs) -> Any:
    """``lib.RunDirectory(path, **kwargs)``; EXtra-data without its process pool.

    The pool changes only speed (seconds per run on 2 shared cores), not results.
    """
    if lib is extra_data:
        kwargs.setdefault("parallelize", False)
    return lib.RunDirectory(str(path), **kwargs)


@pytest.fixture(scope="session")
def run_path(tmp_path_factory) -> Callable[[RunSpec], Path]:
    """``run_path(spec)``: the run's directory, built on first use."""
    built: dict[str, Path | Exception] = {}

    def get(spec: RunSpec) -> Path:
        if spec.name not in built:
            d = tmp_path_factory.mktemp(spec.name.replace(".", "_")) / "r0001"
            d.mkdir()
            try:
                built[spec.name] = spec.build(d)
            except Exception as err:  # a broken builder fails every call, built once
                built[spec.name] = err
        result = built[spec.name]
        if isinstance(result, Exception):
            raise RuntimeError(f"building run {spec.name} failed") from result
        return result
    return get


@pytest.fixture(scope="session")
def opened(run_path) -> Callable[[str, RunSpec], Any]:
    """``opened(lib_name, spec)``: ``lib.RunDirectory(path)``, opened once per session.

    Collections are immutable in both libraries, so calls may share them. Opening
    errors are re-raised on every use, so each call reports them.
    """
    cache: dict[tuple[str, str], Any] = {}

    def get(lib: str, spec: RunSpec) -> Any:
        key = (lib, spec.name)
        if key not in cache:
            try:
                cache[key] = open_dir(LIBS[lib], run_path(spec))
            except Exception as err:  # kept and re-raised: the outcome of every call
                cache[key] = err
        if isinstance(cache[key], Exception):
            raise cache[key]
        return cache[key]
    return get


@pytest.fixture(scope="session")
def data_root(tmp_path_factory, run_path) -> Path:
    """A proposal tree for open_run: p700000 with raw and proc folders of run 1."""
    root = tmp_path_factory.mktemp("data_root")
    prop = root / "SPB" / "202601" / "p700000"
    for folder, name in (("raw", "ours-agipd"), ("proc", "ours-proc")):
        (prop / folder).mkdir(parents=True)
        os.symlink(run_path(RUNS_BY_NAME[name]), prop / folder / "r0001")
    return root
