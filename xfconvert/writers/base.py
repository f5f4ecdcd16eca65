"""The writer contract, atomic outputs, provenance and the one conversion entry point.

A writer is a class with class attributes ``name``, ``description``, ``suffix``,
``output_is_directory`` and ``options_type`` (a frozen dataclass of its options, mirrored
by ``xfconvert/schemas/writer_<name>.json``), and two methods:

``plan(data, options)``
    Decide what goes where, without writing: returns a :class:`WritePlan` that can be
    inspected (``plan.describe()``).
``write_plan(plan, path, progress)``
    Write the plan to ``path`` (a temporary name chosen by :func:`convert`, which exists
    when called: an empty file, or an empty directory for ``output_is_directory``
    writers), calling ``progress(done, total)`` as work completes (at least every second
    or so: a pending interrupt is raised from there).

:func:`convert` is the only way outputs are made: it resolves the writer (registry), checks
the options, plans, writes to ``<target>.tmp-<random>`` beside the target
(:mod:`xfconvert.writers.atomic`), fsyncs and renames into place. On any failure, Ctrl-C
included, the temporary output is removed and nothing appears under the target name;
whatever went wrong leaves as an :class:`~xfconvert.exceptions.XfconvertError`
(:mod:`xfconvert.writers.boundary`), and a SIGINT/SIGTERM always stops it
(:mod:`xfconvert.writers.interrupts`). It refuses to replace an existing target unless
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

import dataclasses
import json
import logging
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

from ..exceptions import NoDataError, OptionError
from . import interrupts
from .atomic import atomic_output, check_target, fsync_path
from .boundary import check_source_names, error_boundary

log = logging.getLogger(__name__)

__all__ = ["Writer", "WritePlan", "convert", "atomic_output", "check_target", "fsync_path",
           "provenance", "make_options", "ProgressCallback", "checked_progress"]

ProgressCallback = Callable[[int, int], None]


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
    check_source_names(data)
    with interrupts.recording(), error_boundary(writer_cls.name, target):
        writer = writer_cls()
        plan = writer.plan(data, opts)
        if not plan.items:
            raise NoDataError(f"Nothing to write to {target}: the selection holds no data "
                              f"for writer {writer_cls.name!r}.")
        with atomic_output(target, overwrite=overwrite, inputs=data,
                           directory=writer_cls.output_is_directory) as tmp:
            writer.write_plan(plan, tmp, checked_progress(progress))
    log.info("Wrote %s with writer %s", target, writer_cls.name)
    return target


def checked_progress(progress: ProgressCallback | None) -> ProgressCallback:
    """``progress`` (or nothing), first stopping the conversion if a signal asked to."""
    def report(done: int, total: int) -> None:
        interrupts.checkpoint()
        if progress is not None:
            progress(done, total)
    return report
