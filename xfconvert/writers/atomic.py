"""Atomic outputs: a locked temporary name beside the target, fsync, rename.

A conversion writes ``<target>.tmp-<hex8>`` (8 hex digits) beside the target. The
temporary file or directory is created empty before the writer starts and an exclusive
``flock`` is held on it, so another process can tell a live conversion from the
leftovers of a killed one. On success it is fsynced and renamed to the target; a
directory target being replaced is first moved to ``<target>.old-<hex8>`` (same
digits), then removed. On any exception, interrupts included, the temporary output is
removed.

A SIGKILL (or power cut) can leave a ``.tmp-`` name, or, during the final renames, an
``.old-`` one. The next conversion to the same target removes every such name that no
live process holds (:func:`clean_stale`); if the kill fell between the two renames of a
directory, the ``.old-`` directory (the previous output) is put back under the target
name first.

Examples
--------
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_output(target) as tmp:
...     print(tmp.name.startswith("out.txt.tmp-"), tmp.exists())
...     _ = tmp.write_text("hello")
True True
>>> target.read_text()
'hello'
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any, Iterator

from ..exceptions import OutputError, OutputExistsError
from . import interrupts
from .guards import check_not_input

log = logging.getLogger(__name__)

__all__ = ["atomic_output", "check_target", "clean_stale", "fsync_path", "temp_name"]

_TOKEN = re.compile(r"^\.(tmp|old)-([0-9a-f]{8})$")
_LIVE: set[Path] = set()  # this process's temporary outputs (its locks do not block it)


def temp_name(target: Path, kind: str, token: str) -> Path:
    """``<target>.<kind>-<token>``: the only names xfconvert writes beside a target."""
    return target.with_name(f"{target.name}.{kind}-{token}")


def remove_path(path: Path) -> None:
    """Remove a file or a directory tree; a missing path is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def fsync_path(path, recursive: bool = True) -> None:
    """fsync a file or directory; with ``recursive``, everything below a directory too."""
    path = Path(path)
    paths = [path, *path.rglob("*")] if recursive and path.is_dir() else [path]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _lock(fd: int, is_dir: bool) -> None:
    # Files get a POSIX record lock, which HDF5's own flock() of the same file ignores;
    # directories (which cannot be opened for writing) get a flock().
    if is_dir:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _held_by_other(path: Path) -> bool | None:
    """Whether a live conversion holds ``path`` (None: cannot tell, e.g. it is gone)."""
    if path in _LIVE:
        return True
    is_dir = path.is_dir()
    try:
        fd = os.open(path, os.O_RDONLY if is_dir else os.O_RDWR)
    except OSError:
        return None
    try:
        _lock(fd, is_dir)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # also releases a lock we just took
    return False


def clean_stale(target: Path) -> list[Path]:
    """Remove the ``.tmp-``/``.old-`` leftovers of dead conversions to ``target``.

    Returns the names removed (or restored). Names held by a live process, or whose
    state cannot be told, are left alone.
    """
    try:
        siblings = sorted(target.parent.iterdir())
    except OSError:
        return []
    found = {}
    for p in siblings:
        if p.name.startswith(target.name):
            m = _TOKEN.match(p.name[len(target.name):])
            if m:
                found[(m.group(1), m.group(2))] = p
    cleaned = []
    for (kind, token), path in sorted(found.items(), reverse=True):  # tmp before old
        if kind == "tmp":
            if _held_by_other(path) is False:
                log.warning("Removing %s, left by an interrupted conversion", path)
                remove_path(path)
                cleaned.append(path)
            continue
        tmp = temp_name(target, "tmp", token)
        if tmp.exists() or (target.exists() and _held_by_other(target) is not False):
            continue
        if target.exists() or target.is_symlink():
            log.warning("Removing %s, left by an interrupted conversion", path)
            remove_path(path)
        else:
            log.warning("Restoring %s from %s, left by an interrupted conversion",
                        target, path)
            os.replace(path, target)
        cleaned.append(path)
    return cleaned


def check_target(target: Path, overwrite: bool, inputs: Any = None) -> Path:
    """Make ``target`` absolute and check it can be written; raise OutputError otherwise.

    With ``inputs`` (the collection or component being written), also refuse a target
    that is, contains or lies inside one of its input files or run directories
    (:func:`xfconvert.writers.guards.check_not_input`), whatever ``overwrite`` says.
    Leftovers of killed conversions to the same target are cleaned up first.
    """
    target = Path(os.path.abspath(os.fspath(target)))
    if inputs is not None:
        check_not_input(target, inputs)
    parent = target.parent
    if not parent.exists():
        raise OutputError(f"Cannot write {target}: directory {parent} does not exist.")
    if not parent.is_dir():
        raise OutputError(f"Cannot write {target}: {parent} is not a directory.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write {target}: directory {parent} is not writable.")
    clean_stale(target)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists; pass overwrite=True (--overwrite) to "
                                "replace it.")
    return target


def _create_locked(tmp: Path, directory: bool) -> int:
    if directory:
        tmp.mkdir()
        fd = os.open(tmp, os.O_RDONLY)
    else:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _lock(fd, directory)
    except OSError as err:  # a file system without locks: stale names stay until removed
        log.debug("No lock on %s: %s", tmp, err)
    return fd


def _commit(tmp: Path, target: Path, token: str) -> Path | None:
    """Rename ``tmp`` to ``target``; return the old directory to remove, if any."""
    with interrupts.deferred():
        if target.is_dir() and not target.is_symlink():
            old = temp_name(target, "old", token)
            os.replace(target, old)
            os.replace(tmp, target)
            return old
        os.replace(tmp, target)
    return None


@contextlib.contextmanager
def atomic_output(target, *, overwrite: bool = False, inputs: Any = None,
                  directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it to ``target`` on success.

    The temporary path exists when yielded: an empty file, or with ``directory`` an
    empty directory. ``inputs`` (the data being written) is checked as by
    :func:`check_target`. The temporary output is removed on any exception, including
    KeyboardInterrupt. OS errors (full disk, permissions) become :class:`OutputError`
    naming the target.
    """
    target = check_target(Path(target), overwrite, inputs)
    token = secrets.token_hex(4)
    tmp = temp_name(target, "tmp", token)
    try:
        fd = _create_locked(tmp, directory)
    except OSError as err:
        raise OutputError(f"Cannot write {target}: {err}") from err
    _LIVE.add(tmp)
    old = None
    try:
        yield tmp
        if not (any(tmp.iterdir()) if directory else tmp.stat().st_size):
            raise OutputError(f"Writing {target} produced no output.")
        fsync_path(tmp)
        interrupts.checkpoint()
        old = _commit(tmp, target, token)
    except OSError as err:
        remove_path(tmp)
        if isinstance(err, OutputError):
            raise
        raise OutputError(f"Writing {target} failed: {err}") from err
    except BaseException:
        remove_path(tmp)
        raise
    finally:
        _LIVE.discard(tmp)
        os.close(fd)
    if old is not None:
        remove_path(old)
    with contextlib.suppress(OSError):  # some file systems cannot fsync directories
        fsync_path(target.parent, recursive=False)
