"""Run-level facts of a file: the RUN section, METADATA, and what the file's path says.

The RUN section holds, for each control source, the value of every property at the
start of the run (``RUN/<source>/<property>/value`` and ``.../timestamp``), sometimes
with properties that CONTROL does not record per train (e.g. ``classId``).

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert.readers.file_access import FileAccess
>>> import tempfile, pathlib
>>> run_dir = make_run(pathlib.Path(tempfile.mkdtemp()) / "r0001", n_trains=3)
>>> fa = FileAccess(sorted(run_dir.glob("*DA01*"))[0])
>>> "beamPosition.ixPos.value" in run_keys(fa, "SA1_XTD2_XGM/DOOCS/MAIN")
True
>>> file_name_facts(fa.filename)
FileNameFacts(data_category='RAW', run=1, aggregator='DA01', sequence=0)
"""
from __future__ import annotations

import os
import re
from typing import Any, NamedTuple

import h5py
import numpy as np

from ..exceptions import FileStructureError, NoDataError, PropertyNameError
from .file_access import FileAccess

__all__ = ["run_keys", "run_value", "run_values", "file_metadata", "decode_value",
           "FileNameFacts", "file_name_facts", "storage_class"]

_FILE_NAME = re.compile(r"([A-Z]+)-R(\d{4})-(\w+?)(?:-S(\d{5}))?\.h5$")
# /gpfs/exfel/exp/<instrument>/<cycle>/p<proposal>/<class>/r<run>, and the direct
# storage paths /gpfs/exfel/d/<class>/<instrument>/<cycle>/p<proposal>/r<run>.
_EXP_PATH = re.compile(r"/gpfs/exfel/exp/\w+/\d{6}/p\d{6}/([a-z]+)/(?:r\d{4}|\.extra_data)$")
_DIRECT_PATH = re.compile(r"/(?:gpfs/exfel/[du]|pnfs/xfel\.eu/exfel/archive/XFEL)/([a-z]+)"
                          r"/\w+/\d{6}/p\d{6}/(?:r\d{4}|\.extra_data)$")


def decode_value(value: Any) -> Any:
    """bytes become str (undecodable bytes kept as surrogates); anything else as is."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def _run_group(fa: FileAccess, source: str) -> h5py.Group:
    group = fa.file.get(f"RUN/{source}")
    if not isinstance(group, h5py.Group):
        raise NoDataError(f"{source} has no RUN values (file {fa.filename}).")
    return group


def run_keys(fa: FileAccess, source: str) -> set[str]:
    """Every dataset under ``RUN/<source>`` as a dotted key (``...value``/``...timestamp``)."""
    found: set[str] = set()
    _run_group(fa, source).visititems(
        lambda name, obj: found.add(name.replace("/", "."))
        if isinstance(obj, h5py.Dataset) else None)
    return found


def run_value(fa: FileAccess, source: str, key: str) -> Any:
    """The RUN value of one key; ``key`` may omit the ``.value`` suffix.

    Raises
    ------
    NoDataError
        If the source has no RUN section (instrument sources never have one).
    PropertyNameError
        If the source has no such RUN key.
    """
    obj = _run_group(fa, source).get(key.replace(".", "/"))
    if isinstance(obj, h5py.Group):
        obj = obj.get("value")
    if not isinstance(obj, h5py.Dataset):
        raise PropertyNameError(key, source)
    return decode_value(obj[0])


def run_values(fa: FileAccess, source: str) -> dict[str, Any]:
    """Every RUN value of a source, keyed by dotted key with its suffix."""
    out: dict[str, Any] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name.replace("/", ".")] = decode_value(obj[0])

    _run_group(fa, source).visititems(visit)
    return out


def file_metadata(fa: FileAccess) -> dict[str, Any]:
    """The datasets directly under METADATA (creationDate, runNumber, ...) as a dict.

    Files of format 0.5 have none of these; they report only their format version.
    Strings are decoded; empty datasets are left out.
    """
    if fa.format_version == "0.5":
        return {"dataFormatVersion": "0.5"}
    out = {}
    try:
        for name, obj in fa.file["METADATA"].items():
            if isinstance(obj, h5py.Dataset) and obj.shape != (0,):
                out[name] = decode_value(obj[0] if obj.ndim else obj[()])
    except OSError as err:
        raise FileStructureError(fa.filename, f"unreadable METADATA ({err})") from err
    return out


class FileNameFacts(NamedTuple):
    """What an EuXFEL file name (``RAW-R0001-DA01-S00000.h5``) says."""

    data_category: str | None
    run: int | None
    aggregator: str | None
    sequence: int | None


def file_name_facts(path: str | os.PathLike) -> FileNameFacts:
    """Parse an EuXFEL file name; every field is None if the name does not follow the scheme.

    Examples
    --------
    >>> file_name_facts("/d/CORR-R0042-AGIPD07-S00003.h5").aggregator
    'AGIPD07'
    >>> file_name_facts("/d/anything.h5")
    FileNameFacts(data_category=None, run=None, aggregator=None, sequence=None)
    """
    m = _FILE_NAME.match(os.path.basename(os.fspath(path)))
    if m is None:
        return FileNameFacts(None, None, None, None)
    sequence = int(m[4]) if m[4] is not None else (0 if m[3] == "OVERVIEW" else None)
    return FileNameFacts(m[1], int(m[2]), m[3], sequence)


def storage_class(path: str | os.PathLike) -> str | None:
    """The storage class ('raw', 'proc', ...) of a file under EuXFEL's directory layout.

    Examples
    --------
    >>> storage_class("/gpfs/exfel/exp/SPB/202601/p700000/raw/r0001/RAW-R0001-DA01-S00000.h5")
    'raw'
    >>> storage_class("/tmp/RAW-R0001-DA01-S00000.h5") is None
    True
    """
    parent = os.path.dirname(os.path.realpath(os.fspath(path)))
    m = _EXP_PATH.match(parent) or _DIRECT_PATH.match(parent)
    return m[1] if m else None


def same_run(files: list[FileAccess]) -> bool:
    """True if all files carry the same proposal and run number (or do not say)."""
    seen = set()
    for fa in files:
        meta = file_metadata(fa)
        seen.add((_as_int(meta.get("proposalNumber")), _as_int(meta.get("runNumber"))))
    return len(seen) <= 1


def _as_int(value) -> int | None:
    return None if value is None else int(np.asarray(value).ravel()[0])
