"""Opening EuXFEL data: a run directory, a single file, a set of files, or a run by
proposal and number.

Files that cannot be used (not HDF5, truncated, no METADATA or INDEX...) are skipped with
a warning naming each file and why, unless ``strict=True``. Trains held twice by a source
are read once when the copies are identical, and refused when they differ (see
:mod:`xfconvert.readers.source_files`).

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
import operator
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Callable, Iterable

from ..exceptions import DataNotFoundError, FileStructureError, OptionError, XfconvertError
from .collection import DataCollection
from .file_access import FileAccess, FileFormatWarning
from .run_map import RunMap
from .source_files import resolve_duplicate_trains

log = logging.getLogger(__name__)

__all__ = ["RunDirectory", "H5File", "open_run", "paths_collection", "find_proposal",
           "data_root", "DEFAULT_DATA_ROOT"]

DEFAULT_DATA_ROOT = "/gpfs/exfel/exp"
_FileFilter = Callable[[list[str]], Iterable[str]]


def _log_suspect(fa: FileAccess) -> None:
    problems = fa.train_id_problems
    if problems:
        suspect = problems.suspect_positions.size
        what = "kept" if fa.inc_suspect_trains else "left out"
        log.info("%s: %s; %d suspect train(s) %s (inc_suspect_trains=%s)", fa.filename,
                 problems.describe(), suspect, what, fa.inc_suspect_trains)


def _open_files(paths: list[str], run_map: RunMap | None, inc_suspect_trains: bool,
                strict: bool, where: str) -> list[FileAccess]:
    cached = run_map.load() if run_map is not None else {}
    files, errors, fresh = [], [], False
    for path in paths:
        try:
            entry = cached.get(os.path.basename(path))
            if entry is not None and RunMap.entry_matches(entry, os.stat(path)):
                fa = FileAccess(path, _cached=RunMap.file_args(entry),
                                inc_suspect_trains=inc_suspect_trains)
            else:
                fa = FileAccess(path, inc_suspect_trains=inc_suspect_trains)
                fresh = True
        except (XfconvertError, OSError) as err:
            if not isinstance(err, XfconvertError):
                err = FileStructureError(path, f"cannot be read ({err})")
            errors.append(err)
            continue
        _log_suspect(fa)
        files.append(fa)
    if errors and strict:
        if len(errors) == 1:
            raise errors[0]
        listed = "\n  ".join(str(e) for e in errors)
        raise FileStructureError(where, f"{len(errors)} files cannot be used (strict=True; "
                                 f"exclude them with include= or file_filter=):\n  {listed}"
                                 ) from errors[0]
    for err in errors:
        warnings.warn(f"Skipping unusable file: {err}", FileFormatWarning, stacklevel=4)
    if not files:
        listed = "\n  ".join(str(e) for e in errors)
        raise FileStructureError(where, f"no usable file ({len(errors)} skipped):\n  {listed}")
    if run_map is not None and (fresh or len(cached) != len(files)):
        run_map.save(files)
    return resolve_duplicate_trains(files)


def RunDirectory(path, include: str = "*", file_filter: _FileFilter | None = None, *,
                 inc_suspect_trains: bool = True, strict: bool = False,
                 use_cache: bool = True, parallelize: bool = True,
                 _use_voview: bool = True) -> DataCollection:
    """Open a run: a directory of EuXFEL HDF5 files.

    Parameters
    ----------
    path : str or Path
        The run directory.
    include : str
        Glob pattern on file names, e.g. ``'*DA01*'``.
    file_filter : callable, optional
        Takes the list of file paths and returns the ones to open.
    inc_suspect_trains : bool
        Keep trains whose ID may be wrong: ``INDEX/flag == 0`` (format 1.0 and later),
        or out of order in files without a flag. False leaves them out. Either choice
        is logged (INFO) naming the file. Train ID 0 is never a train.
    strict : bool
        Raise on the first unusable file instead of skipping it with a warning.
    use_cache : bool
        Read and write the run-map cache (see :mod:`xfconvert.readers.run_map`).
    parallelize : bool
        Accepted for EXtra-data compatibility; files are opened in this process
        (a process pool costs more than it saves here).
    _use_voview : bool
        Accepted for EXtra-data compatibility (its private switch for its own cache
        of virtual overview files); xfconvert's cache is ``use_cache``.

    Returns
    -------
    DataCollection

    Raises
    ------
    DataNotFoundError
        If the directory is missing or holds no matching ``.h5`` files (a
        ``FileNotFoundError``).
    FileStructureError
        If no file is usable, if ``strict`` and one is not, or if a source holds the
        same train twice with different data.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xfconvert.testing import make_run
    >>> run_dir = make_run(pathlib.Path(tempfile.mkdtemp()) / "r0002", n_trains=4)
    >>> RunDirectory(run_dir, include="*DA01*").train_ids
    [10000, 10001, 10002, 10003]
    """
    run_dir = os.path.abspath(os.fspath(path))
    if not os.path.isdir(run_dir):
        if os.path.exists(run_dir):
            raise FileStructureError(run_dir, "not a directory")
        raise DataNotFoundError(run_dir, "run directory not found")
    names = sorted(n for n in os.listdir(run_dir)
                   if n.endswith(".h5") and fnmatch.fnmatch(n, include))
    paths = [os.path.join(run_dir, n) for n in names]
    if file_filter is not None:
        paths = list(file_filter(paths))
    if not paths:
        raise DataNotFoundError(run_dir, f"no .h5 files matching {include!r}")
    files = _open_files(paths, RunMap(run_dir) if use_cache else None, inc_suspect_trains,
                        strict, run_dir)
    return DataCollection(files, run_path=run_dir)


def H5File(path, *, inc_suspect_trains: bool = True) -> DataCollection:
    """Open a single EuXFEL HDF5 file.

    Parameters
    ----------
    path : str or Path
    inc_suspect_trains : bool
        Keep trains whose ID may be wrong (see :func:`RunDirectory`).

    Raises
    ------
    DataNotFoundError
        If the file does not exist.
    FileStructureError
        If it is not a usable EuXFEL file (the message names it and says why).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xfconvert.testing import make_run
    >>> run_dir = make_run(pathlib.Path(tempfile.mkdtemp()) / "r0003", n_trains=3)
    >>> len(H5File(sorted(run_dir.glob("*DA01*"))[0]).train_ids)
    3
    """
    return paths_collection([path], inc_suspect_trains=inc_suspect_trains, strict=True)


def paths_collection(paths: Iterable, *, inc_suspect_trains: bool = True,
                     strict: bool = False) -> DataCollection:
    """One collection from any set of EuXFEL files (what ``DataCollection.from_paths``
    and ``from_path`` open).

    Parameters
    ----------
    paths : iterable of str or Path
    inc_suspect_trains : bool
        Keep trains whose ID may be wrong (see :func:`RunDirectory`).
    strict : bool
        Raise on an unusable file instead of skipping it with a warning.

    Raises
    ------
    DataNotFoundError
        If ``paths`` is empty, or (with ``strict``) a file does not exist.
    FileStructureError
        If no file is usable, or (with ``strict``) one is not.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xfconvert.testing import make_run
    >>> run_dir = make_run(pathlib.Path(tempfile.mkdtemp()) / "r0004", n_trains=3)
    >>> data = paths_collection(sorted(run_dir.glob("*.h5")))
    >>> len(data.files) == len(list(run_dir.glob("*.h5")))
    True
    """
    abs_paths = [os.path.abspath(os.fspath(p)) for p in paths]
    if not abs_paths:
        raise DataNotFoundError("(no paths)", "no files given")
    where = abs_paths[0] if len(abs_paths) == 1 else os.path.commonpath(abs_paths)
    if strict:
        for p in abs_paths:
            if not os.path.exists(p):
                raise DataNotFoundError(p, "file not found")
    files = _open_files(abs_paths, None, inc_suspect_trains, strict, where)
    return DataCollection(files, run_path=where)


def data_root() -> Path:
    """Where proposals live: ``$XFCONVERT_DATA_ROOT``, else ``$EXTRA_DATA_DATA_ROOT`` (what
    EXtra-data users set), else /gpfs/exfel/exp.

    Examples
    --------
    >>> import os
    >>> os.environ["EXTRA_DATA_DATA_ROOT"] = "/data/exp"
    >>> str(data_root()) if "XFCONVERT_DATA_ROOT" not in os.environ else "/data/exp"
    '/data/exp'
    >>> del os.environ["EXTRA_DATA_DATA_ROOT"]
    """
    return Path(os.environ.get("XFCONVERT_DATA_ROOT")
                or os.environ.get("EXTRA_DATA_DATA_ROOT") or DEFAULT_DATA_ROOT)


def find_proposal(proposal) -> Path:
    """The directory of a proposal given as a number, 'p002012', or a path.

    Raises
    ------
    DataNotFoundError
        If the proposal directory does not exist.
    """
    text = os.fspath(proposal) if isinstance(proposal, os.PathLike) else str(proposal)
    if "/" in text:
        path = Path(text)
        if not path.is_dir():
            raise DataNotFoundError(text, "proposal directory not found")
        return path
    m = re.fullmatch(r"p?0*(\d+)", text)
    if not m:
        raise OptionError(f"Not a proposal number: {proposal!r}.")
    name = f"p{int(m.group(1)):06d}"
    root = data_root()
    matches = sorted(root.glob(f"*/*/{name}"))
    if not matches:
        raise DataNotFoundError(str(root), f"proposal {name} not found (set "
                                "EXTRA_DATA_DATA_ROOT or XFCONVERT_DATA_ROOT to where "
                                "proposals live)")
    return matches[0]


def _run_name(run) -> str:
    if isinstance(run, str):
        m = re.fullmatch(r"r?0*(\d+)", run)
        if not m:
            raise OptionError(f"Not a run number: {run!r}.")
        return f"r{int(m.group(1)):04d}"
    try:
        return f"r{operator.index(run):04d}"
    except TypeError as err:
        raise OptionError(f"Not a run number: {run!r}.") from err


def _combine(proposal, run, origins: list[str], absence_ok: set[str],
             opener: Callable[[str], DataCollection]) -> DataCollection:
    """Open each origin; a later origin's sources replace the same sources before it."""
    opened: list[DataCollection] = []
    for origin in origins:
        try:
            opened.append(opener(origin))
        except FileNotFoundError:
            if origin in absence_ok:
                continue
            if not opened:
                raise
            warnings.warn(f"No data for proposal {proposal} run {run} in {origin!r}",
                          stacklevel=3)
    if not opened:
        raise DataNotFoundError(f"proposal {proposal} run {run}",
                                f"no data in {', '.join(origins)}")
    if len(opened) == 1:
        return opened[0]
    files: list[FileAccess] = []
    for i, data in enumerate(opened):
        later = frozenset().union(*(d.all_sources for d in opened[i + 1:]))
        for fa in data.files:
            replaced = fa.all_sources & later
            if replaced == fa.all_sources:
                continue  # every source of this file comes from a later origin
            # A file mixing replaced and kept sources: its replaced sources read nothing.
            files.append(fa.excluding({s: fa.raw_positions for s in replaced})
                         if replaced else fa)
    return DataCollection(files, run_path=opened[-1].run_path)


def open_run(proposal, run, data: str | Sequence[str] = "default", include: str = "*",
             file_filter: _FileFilter | None = None, *, inc_suspect_trains: bool = True,
             strict: bool = False, use_cache: bool = True, parallelize: bool = True,
             aliases=None) -> DataCollection:
    """Open a run by proposal and run number.

    Parameters
    ----------
    proposal : int or str
        2012, '2012', 'p002012' or a proposal directory path.
    run : int or str
        243, '243' or 'r0243'.
    data : str or sequence of str
        'raw', 'proc' (corrected), or any other folder beside them in the proposal
        directory; 'default' (raw and proc combined, raw kept where both have a
        source; proc may be absent), 'all' (raw and proc, proc kept where both have a
        source), or a list of folders (later ones replace the same sources of earlier
        ones).
    include, file_filter, inc_suspect_trains, strict, use_cache, parallelize
        As for :func:`RunDirectory`.
    aliases : dict or path or sequence of them, optional
        Applied with ``DataCollection.with_aliases``. A string may contain ``{}``,
        replaced by the proposal directory (e.g. ``'{}/usr/extra-data-aliases.yml'``).

    Raises
    ------
    DataNotFoundError
        If the proposal or run does not exist (a ``FileNotFoundError``).

    Examples
    --------
    >>> import os, tempfile, pathlib
    >>> from xfconvert.testing import make_run
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = make_run(root / "SPB/202601/p700000/raw/r0001", n_trains=3)
    >>> os.environ["XFCONVERT_DATA_ROOT"] = str(root)
    >>> open_run(700000, 1).train_ids
    [10000, 10001, 10002]
    >>> del os.environ["XFCONVERT_DATA_ROOT"]
    """
    if isinstance(data, str) and data in ("default", "all"):
        origins = ["proc", "raw"] if data == "default" else ["raw", "proc"]
        absence_ok = {"proc"} if data == "default" else set()
    elif isinstance(data, str):
        origins, absence_ok = [data], set()
    elif isinstance(data, Sequence) and data and all(isinstance(d, str) for d in data):
        origins, absence_ok = list(data), set()
    else:
        raise OptionError(f"data must be 'default', 'all', a folder name such as 'raw' or "
                          f"'proc', or a list of them; not {data!r}.")
    prop_dir = find_proposal(proposal)
    run_name = _run_name(run)

    def opener(origin: str) -> DataCollection:
        return RunDirectory(prop_dir / origin / run_name, include=include,
                            file_filter=file_filter, inc_suspect_trains=inc_suspect_trains,
                            strict=strict, use_cache=use_cache)

    collection = _combine(proposal, run, origins, absence_ok, opener)
    if aliases is None:
        return collection
    defs = aliases if isinstance(aliases, (list, tuple)) else [aliases]
    defs = [d.format(prop_dir) if isinstance(d, str) else d for d in defs]
    return collection.with_aliases(*defs)
