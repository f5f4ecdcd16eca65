"""Guards that keep an output away from its inputs.

An output may never be, contain, or lie inside an input file or input run directory,
whatever ``overwrite`` says: renaming the finished output into place would delete the
data it was made from, and an output written into a run directory becomes part of that
run the next time it is opened. Paths are compared after resolving symlinks (and, for
existing files, by device and inode, so hard links and bind mounts are caught too).

The input directories of a collection are its ``run_path`` when that is a directory, and
the directory of every input file named like a EuXFEL run file (``RAW-R0001-DA01-S00000.h5``,
``CORR-...``), so a file opened on its own still protects the run it belongs to.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> run = RunDirectory(make_run(tmp / "r0001", n_trains=3))
>>> check_not_input(tmp / "out.h5", run)
>>> try:
...     check_not_input(tmp / "r0001" / "out.h5", run)
... except OutputOverlapsInputError as err:
...     print(err.relation, pathlib.Path(err.input_path).name)
lies inside r0001
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..exceptions import OutputOverlapsInputError

__all__ = ["input_paths", "check_not_input"]

_RUN_FILE = re.compile(r"^(RAW|CORR)-R\d{4}-.+-S\d{5}\.h5$", re.IGNORECASE)


def input_paths(data: Any) -> tuple[list[Path], list[Path]]:
    """(input files, input directories) of a collection or detector component, resolved."""
    collection = getattr(data, "data", data)  # detector components wrap a collection
    files = [Path(os.path.realpath(fa.filename)) for fa in getattr(collection, "files", ())]
    dirs = {Path(os.path.realpath(os.path.dirname(fa.filename)))
            for fa in getattr(collection, "files", ())
            if _RUN_FILE.match(os.path.basename(fa.filename))}
    run_path = getattr(collection, "run_path", None)
    if run_path and os.path.isdir(run_path):
        dirs.add(Path(os.path.realpath(run_path)))
    return files, sorted(dirs)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_not_input(target, data: Any) -> None:
    """Raise :class:`~xfconvert.exceptions.OutputOverlapsInputError` if ``target`` is,
    contains or lies inside one of the inputs of ``data``.

    Parameters
    ----------
    target : str or Path
        The output file or directory (it need not exist).
    data : DataCollection or detector component
    """
    real = Path(os.path.realpath(os.fspath(target)))
    files, dirs = input_paths(data)
    inputs = [*files, *dirs]
    for path in inputs:
        if real == path or _same_file(real, path):
            raise OutputOverlapsInputError(str(target), str(path), "is")
    for path in inputs:
        if real in path.parents:
            raise OutputOverlapsInputError(str(target), str(path), "contains")
    for path in dirs:
        if path in real.parents:
            raise OutputOverlapsInputError(str(target), str(path), "lies inside")
