"""The writer contract, atomic outputs, provenance and the one conversion entry point.

A writer is a class with class attributes ``name``, ``description``, ``suffix``,
``output_is_directory`` and ``options_type`` (a frozen dataclass of its options, mirrored
by ``xfconvert/schemas/writer_<name>.json``), and two methods:

``plan(data, options)``
    Decide what goes where, without writing: returns a :class:`WritePlan` that can be
    inspected (``plan.describe()``).
``write_plan(plan, path, progress)``
    Write the plan to ``path`` (a temporary name chosen by :func:`convert`), calling
    ``progress(done, total)`` as work completes.

:func:`convert` is the only way outputs are made: it resolves the writer (registry), checks
the options, plans, writes to ``<target>.tmp-<random>`` beside the target, fsyncs and
renames into place. On any failure, Ctrl-C included, the temporary output is removed and
nothing appears under the target name. It refuses to replace an existing target unless
``overwrite=True``, and never writes over, around or into its own input
(:mod:`xfconvert.writers.guards`).

Examples
--------
>>> from xfconvert.writers.base import atomic_output
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_output(target) as tmp:
...     _ = tmp.write_text("hello")
>>> target.read_text()
'hello'
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Protocol

from ..exceptions import NoDataError, OptionError, OutputError, OutputExistsError
from .guards import check_not_input

log = logging.getLogger(__name__)

__all__ = ["Writer", "WritePlan", "convert", "atomic_output", "provenance", "make_options",
           "ProgressCallback"]

ProgressCallback = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    """Progress sink used when nobody is watching."""


@dataclass
class WritePlan:
    """What a writer will do, decided before anything is written.

    Attributes
    ----------
    data : object
        The collection (or detector component) being written.
    options : dataclass
        The writer's options.
    items : list
        Writer-specific steps (e.g. one per dataset or per chunk).
    total : int
        Units of work for progress reporting (normally bytes).
    """

    data: Any
    options: Any
    items: list = field(default_factory=list)
    total: int = 0

    def describe(self) -> str:
        """One line per planned item."""
        return "\n".join(str(item) for item in self.items)


class Writer(Protocol):
    """What every writer provides (see the module docstring)."""

    name: ClassVar[str]
    description: ClassVar[str]
    suffix: ClassVar[str]
    output_is_directory: ClassVar[bool]
    options_type: ClassVar[type]

    def plan(self, data: Any, options: Any) -> WritePlan: ...

    def write_plan(self, plan: WritePlan, path: Path, progress: ProgressCallback) -> None: ...


def make_options(writer: type, options: dict[str, Any]) -> Any:
    """Build a writer's options dataclass, with clear errors for unknown or bad options.

    Values may be strings (from the command line); they are converted to the field's
    annotated type (int, float, bool, str, or a Literal of choices).
    """
    fields = {f.name: f for f in dataclasses.fields(writer.options_type)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise OptionError(
            f"Writer {writer.name!r} has no option(s) {', '.join(unknown)}; "
            f"its options are: {', '.join(sorted(fields)) or '(none)'}."
        )
    hints = typing.get_type_hints(writer.options_type)
    converted = {name: _convert_value(writer.name, name, value, hints[name])
                 for name, value in options.items()}
    try:
        return writer.options_type(**converted)
    except (TypeError, ValueError) as err:
        if isinstance(err, OptionError):
            raise
        raise OptionError(f"Bad options for writer {writer.name!r}: {err}") from err


def _convert_value(writer_name: str, name: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        if value is None:
            return None
        non_none = [a for a in args if a is not type(None)]
        hint = non_none[0] if len(non_none) == 1 else hint
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        if value not in args:
            raise OptionError(f"Option {name} of writer {writer_name!r} must be one of "
                              f"{', '.join(map(str, args))}; got {value!r}.")
        return value
    if not isinstance(value, str) or hint is str:
        return value
    try:
        if hint is bool:
            lowered = value.lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return lowered in ("1", "true", "yes", "on")
        if hint in (int, float):
            return hint(int(value, 0) if hint is int else value)
    except ValueError as err:
        raise OptionError(f"Option {name} of writer {writer_name!r} needs "
                          f"{hint.__name__}, got {value!r}.") from err
    return value


def provenance(data: Any, writer_name: str) -> dict[str, str]:
    """Attributes recording how an output was made (all strings, for HDF5/Zarr/Parquet)."""
    from .. import __version__
    collection = getattr(data, "data", data)  # detector components wrap a collection
    tids = collection.train_id_array
    selection = {
        "sources": sorted(collection.all_sources),
        "train_ids": {"count": int(len(tids)),
                      "first": int(tids[0]) if len(tids) else None,
                      "last": int(tids[-1]) if len(tids) else None},
    }
    return {
        "xfconvert_version": __version__,
        "xfconvert_writer": writer_name,
        "source_run": str(collection.run_path or ""),
        "selection": json.dumps(selection),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _remove(path: Path) -> None:
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


def check_target(target: Path, overwrite: bool, inputs: Any = None) -> Path:
    """Make ``target`` absolute and check it can be written; raise OutputError otherwise.

    With ``inputs`` (the collection or component being written), also refuse a target
    that is, contains or lies inside one of its input files or run directories
    (:func:`xfconvert.writers.guards.check_not_input`), whatever ``overwrite`` says.
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
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists; pass overwrite=True (--overwrite) to "
                                "replace it.")
    return target


@contextlib.contextmanager
def atomic_output(target, *, overwrite: bool = False, inputs: Any = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it to ``target`` on success.

    ``inputs`` (the data being written) is checked as by :func:`check_target`.

    The temporary output (file or directory) is removed on any exception, including
    KeyboardInterrupt. OS errors (full disk, permissions) become :class:`OutputError`
    naming the target.
    """
    target = check_target(Path(target), overwrite, inputs)
    tmp = target.with_name(f"{target.name}.tmp-{secrets.token_hex(4)}")
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"Writing {target} produced no output.")
        fsync_path(tmp)
        if target.exists():  # overwrite was allowed
            if target.is_dir() and not target.is_symlink():
                old = target.with_name(f"{target.name}.old-{secrets.token_hex(4)}")
                os.replace(target, old)
                os.replace(tmp, target)
                _remove(old)
            else:
                os.replace(tmp, target)
        else:
            os.replace(tmp, target)
        with contextlib.suppress(OSError):  # some file systems cannot fsync directories
            fsync_path(target.parent, recursive=False)
    except OSError as err:
        _remove(tmp)
        if isinstance(err, OutputError):
            raise
        raise OutputError(f"Writing {target} failed: {err}") from err
    except BaseException:
        _remove(tmp)
        raise


def convert(data: Any, target, to: str | type = "euxfel", *, overwrite: bool = False,
            progress: ProgressCallback | None = None, **options: Any) -> Path:
    """Write ``data`` to ``target`` with the writer named ``to``.

    Parameters
    ----------
    data : DataCollection or detector component
    target : str or Path
        Output file or directory.
    to : str or writer class
        A name from :func:`xfconvert.writers.list_writers`.
    overwrite : bool
        Replace an existing target.
    progress : callable, optional
        Called as ``progress(done, total)``.
    **options
        The writer's options (see its ``options_type``).

    Returns
    -------
    Path
        The target path.

    Examples
    --------
    >>> convert(run.select("*_XGM/*"), "xgm.h5", to="euxfel")  # doctest: +SKIP
    """
    from .registry import get_writer
    writer_cls = get_writer(to)
    opts = make_options(writer_cls, options)
    target = check_target(Path(target), overwrite, data)
    writer = writer_cls()
    plan = writer.plan(data, opts)
    if not plan.items:
        raise NoDataError(f"Nothing to write to {target}: the selection holds no data for "
                          f"writer {writer_cls.name!r}.")
    report = progress or _no_progress
    with atomic_output(target, overwrite=overwrite, inputs=data) as tmp:
        writer.write_plan(plan, tmp, report)
    log.info("Wrote %s with writer %s", target, writer_cls.name)
    return target
