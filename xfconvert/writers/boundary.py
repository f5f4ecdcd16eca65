"""The one error boundary of every conversion.

Whatever a writer, a plugin or the reader below it raises while a conversion runs comes
out of :func:`error_boundary` as one of:

- an :class:`~xfconvert.exceptions.XfconvertError` it already was (these name file,
  source and key);
- :class:`~xfconvert.exceptions.OutputError` naming the target and the cause, for a full
  disk, a file-size limit, a quota or an I/O error, whether Python (``OSError.errno``)
  or HDF5 (``RuntimeError: ... errno = 28``) reported it;
- :class:`~xfconvert.exceptions.Interrupted` when SIGINT/SIGTERM asked to stop, whatever
  the exception the interrupt turned into on its way out;
- :class:`~xfconvert.exceptions.InternalError` for anything else, a bug: "internal error
  in writer X while writing Y: ...; rerun with --debug", the original chained.

:func:`check_source_names` refuses hostile source names (``..`` segments and the like) for
every writer alike, before anything is written.

Examples
--------
>>> from xfconvert.exceptions import InternalError, OutputError
>>> try:
...     with error_boundary("euxfel", "out.h5"):
...         raise RuntimeError("Can't close file, errno = 28, error message = 'No space'")
... except OutputError as err:
...     print(err)
Writing out.h5 failed: no space left on device (ENOSPC).
>>> try:
...     with error_boundary("euxfel", "out.h5"):
...         {}["x"]
... except InternalError as err:
...     print(err)
internal error in writer euxfel while writing out.h5: KeyError: 'x'; rerun with --debug
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
from typing import Any, Iterator

from ..exceptions import (FileStructureError, InternalError, Interrupted, OutputError,
                          XfconvertError)
from . import interrupts

__all__ = ["error_boundary", "storage_errno", "check_source_names"]

#: errno values that mean the output cannot take more data.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO})
_HDF5_ERRNO = re.compile(r"errno\s*=\s*(\d+)")
_BAD_SEGMENT = re.compile(r"(^|/)\.{1,2}(/|$)|//|^/|/$|\x00")


def storage_errno(err: BaseException) -> int | None:
    """The full-disk/size-limit/quota/I-O errno behind ``err`` or its causes, if any."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        code = getattr(err, "errno", None)
        if code is None and isinstance(err, (RuntimeError, OSError)):
            m = _HDF5_ERRNO.search(str(err))
            code = int(m.group(1)) if m else None
        if code in STORAGE_ERRNOS:
            return code
        err = err.__cause__ or err.__context__
    return None


def _translate(err: BaseException, writer: str, target: str) -> BaseException | None:
    """What ``err`` leaves the boundary as (None: as it is)."""
    signum = interrupts.stop_requested()
    if signum is not None and not isinstance(err, Interrupted):
        return Interrupted(signum)
    if not isinstance(err, Exception) or isinstance(err, XfconvertError):
        return None  # KeyboardInterrupt, SystemExit; our errors name file/source/key
    code = storage_errno(err)
    if code is not None:
        return OutputError(f"Writing {target} failed: {os.strerror(code).lower()} "
                           f"({errno.errorcode[code]}).")
    if isinstance(err, OSError):
        return OutputError(f"Writing {target} failed: {err}")
    detail = " ".join(str(err).split())
    return InternalError(f"internal error in writer {writer} while writing {target}: "
                         f"{type(err).__name__}{': ' + detail if detail else ''}; "
                         "rerun with --debug")


@contextlib.contextmanager
def error_boundary(writer: str, target: Any) -> Iterator[None]:
    """Translate every exception leaving the block (see the module docstring)."""
    try:
        yield
    except BaseException as err:
        new = _translate(err, writer, str(target))
        if new is None:
            raise
        raise new from err


def check_source_names(data: Any) -> None:
    """Refuse source names that no output format can hold safely.

    Empty, ``.`` or ``..`` path segments, leading or trailing slashes and NUL characters
    would make paths that escape or alias their group (Zarr keys, Parquet partitions,
    HDF5 links), so every writer refuses them alike.

    Raises
    ------
    FileStructureError
        Naming the file and the source.
    """
    collection = getattr(data, "data", data)
    for source in sorted(getattr(collection, "all_sources", ())):  # others: plan() says
        if not source or _BAD_SEGMENT.search(source):
            files = collection.files_for_source(source)
            where = files[0].filename if files else str(collection.run_path or "")
            raise FileStructureError(where, "source name with empty, '.' or '..' path "
                                     "segments; it cannot be written safely", source=source)
