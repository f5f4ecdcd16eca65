"""Opening EuXFEL data: a run directory, a single file, or a run by proposal and number.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory, H5File
>>> import tempfile, pathlib
>>> run_dir = make_run(pathlib.Path(tempfile.mkdtemp()) / "r0001", n_trains=5)
>>> run = RunDirectory(run_dir)
>>> len(run.train_ids)
5
>>> f = H5File(sorted(run_dir.glob("*DA01*"))[0])
>>> "SA1_XTD2_XGM/DOOCS/MAIN" in f.control_sources
True
"""
from __future__ import annotations

import fnmatch
import logging
import os
import re
from pathlib import Path
from typing import Callable, Iterable

from ..exceptions import FileStructureError, OptionError, XfconvertError
from .collection import DataCollection
from .file_access import FileAccess
from .run_map import RunMap

log = logging.getLogger(__name__)

__all__ = ["RunDirectory", "H5File", "open_run", "find_proposal", "DEFAULT_DATA_ROOT"]

DEFAULT_DATA_ROOT = "/gpfs/exfel/exp"


def _check_train_ids(fa: FileAccess, skip_suspect_trains: bool) -> None:
    problems = fa.train_id_problems
    if not problems:
        return
    if skip_suspect_trains:
        log.warning("%s: skipping suspect trains: %s", fa.filename, problems.describe())
        return
    raise FileStructureError(
        fa.filename,
        problems.describe() + ". To use the other trains, pass skip_suspect_trains=True "
        "(command line: --skip-suspect-trains).",
    )


def _open_files(paths: list[str], run_map: RunMap | None,
                skip_suspect_trains: bool) -> list[FileAccess]:
    cached = run_map.load() if run_map is not None else {}
    files, errors, fresh = [], [], False
    for path in paths:
        try:
            entry = cached.get(os.path.basename(path))
            if entry is not None and RunMap.entry_matches(entry, os.stat(path)):
                fa = FileAccess(path, _cached=RunMap.file_args(entry))
            else:
                fa = FileAccess(path)
                fresh = True
            _check_train_ids(fa, skip_suspect_trains)
            files.append(fa)
        except XfconvertError as err:
            errors.append(err)
    if errors:
        if len(errors) == 1:
            raise errors[0]
        listed = "\n  ".join(str(e) for e in errors)
        raise FileStructureError(
            os.path.dirname(paths[0]),
            f"{len(errors)} files cannot be used (exclude them with include= or "
            f"file_filter=):\n  {listed}",
        ) from errors[0]
    if run_map is not None and (fresh or len(cached) != len(files)):
        run_map.save(files)
    return files


def RunDirectory(path, include: str = "*", file_filter: Callable[[list[str]], Iterable[str]]
                 | None = None, *, skip_suspect_trains: bool = False,
                 use_cache: bool = True) -> DataCollection:
    """Open a run: a directory of EuXFEL HDF5 files.

    Parameters
    ----------
    path : str or Path
        The run directory.
    include : str
        Glob pattern on file names, e.g. ``'*DA01*'``.
    file_filter : callable, optional
        Takes the list of file paths and returns the ones to open.
    skip_suspect_trains : bool
        Drop trains with zero or out-of-order IDs (logged) instead of raising.
    use_cache : bool
        Read and write the run-map cache (see :mod:`xfconvert.readers.run_map`).

    Returns
    -------
    DataCollection

    Raises
    ------
    FileStructureError
        If the directory is missing, holds no matching ``.h5`` files, or a file is
        not a usable EuXFEL file (the message names each file).

    Examples
    --------
    >>> run = RunDirectory("/gpfs/exfel/exp/XMPL/201750/p700000/raw/r0001")  # doctest: +SKIP
    """
    run_dir = os.path.abspath(os.fspath(path))
    if not os.path.isdir(run_dir):
        raise FileStructureError(run_dir, "not a directory" if os.path.exists(run_dir)
                                 else "run directory not found")
    names = sorted(n for n in os.listdir(run_dir)
                   if n.endswith(".h5") and fnmatch.fnmatch(n, include))
    paths = [os.path.join(run_dir, n) for n in names]
    if file_filter is not None:
        paths = list(file_filter(paths))
    if not paths:
        raise FileStructureError(run_dir, f"no .h5 files matching {include!r}")
    files = _open_files(paths, RunMap(run_dir) if use_cache else None, skip_suspect_trains)
    return DataCollection(files, run_path=run_dir)


def H5File(path, *, skip_suspect_trains: bool = False) -> DataCollection:
    """Open a single EuXFEL HDF5 file.

    Parameters
    ----------
    path : str or Path
    skip_suspect_trains : bool
        Drop trains with zero or out-of-order IDs (logged) instead of raising.

    Examples
    --------
    >>> f = H5File("RAW-R0017-DA01-S00000.h5")  # doctest: +SKIP
    """
    fa = FileAccess(path)
    _check_train_ids(fa, skip_suspect_trains)
    return DataCollection([fa], run_path=fa.filename)


def data_root() -> Path:
    """Where proposals live: ``$XFCONVERT_DATA_ROOT`` or /gpfs/exfel/exp."""
    return Path(os.environ.get("XFCONVERT_DATA_ROOT") or DEFAULT_DATA_ROOT)


def find_proposal(proposal) -> Path:
    """The directory of a proposal given as a number, 'p002012', or a path."""
    text = os.fspath(proposal) if isinstance(proposal, os.PathLike) else str(proposal)
    if "/" in text:
        path = Path(text)
        if not path.is_dir():
            raise FileStructureError(text, "proposal directory not found")
        return path
    m = re.fullmatch(r"p?0*(\d+)", text)
    if not m:
        raise OptionError(f"Not a proposal number: {proposal!r}.")
    name = f"p{int(m.group(1)):06d}"
    root = data_root()
    matches = sorted(root.glob(f"*/*/{name}"))
    if not matches:
        raise FileStructureError(str(root), f"proposal {name} not found (set "
                                 "XFCONVERT_DATA_ROOT to where proposals live)")
    return matches[0]


def open_run(proposal, run, data: str = "raw", include: str = "*",
             file_filter: Callable[[list[str]], Iterable[str]] | None = None,
             **kwargs) -> DataCollection:
    """Open a run by proposal and run number.

    Parameters
    ----------
    proposal : int or str
        2012, '2012', 'p002012' or a proposal directory path.
    run : int or str
        243, '243' or 'r0243'.
    data : {'raw', 'proc'}
        Raw or corrected (processed) data.
    include, file_filter, **kwargs
        As for :func:`RunDirectory`.

    Examples
    --------
    >>> run = open_run(proposal=700000, run=1)  # doctest: +SKIP
    """
    if data not in ("raw", "proc"):
        raise OptionError(f"data must be 'raw' or 'proc', not {data!r}.")
    m = re.fullmatch(r"r?0*(\d+)", str(run))
    if not m:
        raise OptionError(f"Not a run number: {run!r}.")
    run_dir = find_proposal(proposal) / data / f"r{int(m.group(1)):04d}"
    return RunDirectory(run_dir, include=include, file_filter=file_filter, **kwargs)
