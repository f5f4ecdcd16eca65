"""The exceptions xfconvert raises.

Every error derives from :class:`XfconvertError`, and most also derive from the builtin
exception a Python user would expect (``KeyError`` for unknown names, ``ValueError`` for
bad values, ``FileExistsError`` for refused overwrites), so existing ``except`` clauses
keep working.

Examples
--------
>>> from xfconvert.exceptions import SourceNameError
>>> try:
...     raise SourceNameError("SPB_XTD9_XGM/XGM/DOOCS")
... except KeyError as err:
...     print(err)
This data has no source named 'SPB_XTD9_XGM/XGM/DOOCS'.
"""
from __future__ import annotations


class XfconvertError(Exception):
    """Base class of every error raised by xfconvert."""

    def __str__(self) -> str:
        # KeyError's own __str__ shows repr(); keep messages readable for every subclass.
        return str(self.args[0]) if self.args else self.__class__.__name__


class SourceNameError(XfconvertError, KeyError):
    """A source name that is not in the data (or not in the selection)."""

    def __init__(self, source: str, detail: str = ""):
        self.source = source
        msg = f"This data has no source named {source!r}."
        if detail:
            msg += " " + detail
        super().__init__(msg)


class PropertyNameError(XfconvertError, KeyError):
    """A key that the given source does not have (or that was not selected)."""

    def __init__(self, key: str, source: str):
        self.key = key
        self.source = source
        super().__init__(f"No key {key!r} for source {source!r}.")


class TrainIDError(XfconvertError, ValueError):
    """Train IDs that are not in the data, or a train selection that selects nothing."""


class TrainNotFoundError(TrainIDError, KeyError):
    """Specific train IDs or positions that are not in the data."""


class FileStructureError(XfconvertError, ValueError):
    """A file that is not a readable EuXFEL HDF5 file (corrupt, truncated, wrong layout)."""

    def __init__(self, filename: str, problem: str, source: str | None = None,
                 key: str | None = None):
        self.filename = str(filename)
        self.problem = problem
        self.source = source
        self.key = key
        where = self.filename
        if source:
            where += f", source {source}"
        if key:
            where += f", key {key}"
        super().__init__(f"{where}: {problem}")


class NoDataError(XfconvertError, ValueError):
    """A request for data where there is none (e.g. an empty selection)."""


class OptionError(XfconvertError, ValueError):
    """An invalid option given to a writer or a command."""


class MissingDependencyError(XfconvertError, ImportError):
    """An optional dependency (e.g. dask) that a feature needs is not installed."""

    def __init__(self, package: str, feature: str, extra: str):
        self.package = package
        super().__init__(
            f"{feature} needs {package}, which is not installed. "
            f"Install it with: pip install 'xfconvert[{extra}]'"
        )


class OutputError(XfconvertError, OSError):
    """An output that could not be written (missing or read-only directory, full disk)."""


class OutputExistsError(OutputError, FileExistsError):
    """The output target exists and overwriting was not requested."""


class DataNotFoundError(FileStructureError, FileNotFoundError):
    """A run directory, proposal or data file that does not exist (or holds no files).

    A ``FileNotFoundError``, as EXtra-data raises for a missing run, and a
    :class:`FileStructureError` naming the path.
    """


class OutputOverlapsInputError(OutputError):
    """The output target is, contains or lies inside an input file or run directory.

    Raised whatever ``overwrite`` says: replacing the target would destroy the data being
    read. ``target`` and ``input_path`` are the two paths; ``relation`` says how they
    overlap (``'is'``, ``'contains'`` or ``'lies inside'``).
    """

    def __init__(self, target: str, input_path: str, relation: str):
        self.target = str(target)
        self.input_path = str(input_path)
        self.relation = relation
        super().__init__(f"Refusing to write {self.target}: it {relation} the input "
                         f"{self.input_path}; choose an output outside the input data.")


class InternalError(XfconvertError, RuntimeError):
    """A bug in xfconvert (or a writer plugin): an unexpected exception, with its context.

    The message names the writer and the target; the original exception is chained
    (``__cause__``) and shown with ``xfconvert --debug``.
    """


class Interrupted(KeyboardInterrupt):
    """A conversion stopped by SIGINT or SIGTERM (``signum``).

    Deliberately not an :class:`XfconvertError`: like Ctrl-C, it passes through
    ``except Exception`` clauses, so every writer unwinds and cleans up.
    """

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(signum)
