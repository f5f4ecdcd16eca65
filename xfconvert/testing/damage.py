"""Damage mock EuXFEL files in known ways, to test validators and readers.

Each kind of damage is a function below whose docstring says what a validator or reader
should report; :func:`describe_damage` returns it.

Examples
--------
>>> import tempfile
>>> p = make_damaged_file(tempfile.mkdtemp() + '/RAW-R0001-DA01-S00000.h5', 'zero_train_id')
>>> import h5py
>>> with h5py.File(p) as f:
...     0 in f['INDEX/trainId'][:]
True
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from ..exceptions import OptionError
from .devices import XGM, Motor
from .files import write_file
from .runs import MOTOR_NAMES, XGM_NAME


def _not_hdf5(path: Path, source: str | None) -> None:
    """The file is random bytes: report that it is not an HDF5 file (cannot be opened)."""
    size = max(path.stat().st_size, 1024)
    path.write_bytes(np.random.default_rng(0).bytes(size))


def _truncated(path: Path, source: str | None) -> None:
    """The file is cut to half its size: report it as truncated/unreadable, not crash."""
    os.truncate(path, path.stat().st_size // 2)


def _missing_metadata(path: Path, source: str | None) -> None:
    """The METADATA group is deleted: report missing METADATA (no list of sources)."""
    with h5py.File(path, "r+") as f:
        del f["METADATA"]


def _missing_index(path: Path, source: str | None) -> None:
    """The INDEX group is deleted: report missing INDEX (no train IDs)."""
    with h5py.File(path, "r+") as f:
        del f["INDEX"]


def _real_trains(f: h5py.File) -> np.ndarray:
    tids = f["INDEX/trainId"][:]
    if np.count_nonzero(tids) < 3:
        raise OptionError(f"{f.filename} needs at least 3 trains to damage its train IDs")
    return tids


def _zero_train_id(path: Path, source: str | None) -> None:
    """A 0 replaces a train ID in the middle of INDEX/trainId: report a zero train ID
    that is not trailing padding (and therefore unsorted train IDs)."""
    with h5py.File(path, "r+") as f:
        tids = _real_trains(f)
        f["INDEX/trainId"][np.count_nonzero(tids) // 2] = 0


def _unsorted_train_ids(path: Path, source: str | None) -> None:
    """Two neighbouring train IDs in the middle are swapped: report train IDs that are
    not strictly increasing."""
    with h5py.File(path, "r+") as f:
        tids = _real_trains(f)
        m = np.count_nonzero(tids) // 2
        tids[m - 1], tids[m] = tids[m], tids[m - 1]
        f["INDEX/trainId"][:] = tids


def _huge_train_id(path: Path, source: str | None) -> None:
    """2**64-1 replaces a train ID in the middle: report an implausible train ID (and
    unsorted train IDs)."""
    with h5py.File(path, "r+") as f:
        tids = _real_trains(f)
        f["INDEX/trainId"][np.count_nonzero(tids) // 2] = np.iinfo(np.uint64).max


def _index_source(f: h5py.File, source: str | None) -> h5py.Group:
    if source is not None:
        if f"INDEX/{source}/first" not in f:
            raise OptionError(f"{f.filename} has no index for {source!r}")
        return f[f"INDEX/{source}"]
    found: list[str] = []
    f["INDEX"].visit(lambda name: found.append(name) if name.endswith("/first") else None)
    instrument = [n.rsplit("/", 1)[0] for n in found if ":" in n]
    if not instrument:
        raise OptionError(f"{f.filename} has no instrument source to damage")
    return f[f"INDEX/{instrument[0]}"]


def _read_counts(grp: h5py.Group) -> tuple[np.ndarray, np.ndarray]:
    first = grp["first"][:].astype(np.int64)
    if "count" in grp:
        return first, grp["count"][:].astype(np.int64)
    last = grp["last"][:].astype(np.int64)
    return first, np.where(grp["status"][:] > 0, last - first + 1, 0)


def _write_counts(grp: h5py.Group, first: np.ndarray, count: np.ndarray) -> None:
    # Rewrite in whichever index layout (first/count or legacy first/last/status) it had.
    arrays = {"first": first, "count": count}
    if "last" in grp:
        arrays = {"first": first, "last": np.where(count > 0, first + count - 1, first),
                  "status": (count > 0).astype(grp["status"].dtype)}
    for name, values in arrays.items():
        dtype = grp[name].dtype
        del grp[name]
        grp[name] = values.astype(dtype)


def _data_trains(count: np.ndarray, source: str) -> np.ndarray:
    with_data = np.flatnonzero(count > 0)
    if len(with_data) < 2:
        raise OptionError(f"Source {source!r} needs data in 2 trains to damage its index")
    return with_data


def _index_past_end(path: Path, source: str | None) -> None:
    """The last train with data of one instrument source (default: the first one in
    INDEX) gets one more entry than the data has: report the index pointing past the
    end of the source's datasets."""
    with h5py.File(path, "r+") as f:
        grp = _index_source(f, source)
        first, count = _read_counts(grp)
        last = _data_trains(count, grp.name)[-1]
        count[last] += 1
        # Empty trains after it move along too, so the only fault is the end.
        first[last + 1:] += 1
        _write_counts(grp, first, count)


def _index_gap(path: Path, source: str | None) -> None:
    """A train in the middle loses its last entry, leaving an entry that no train
    refers to: report a gap between trains' entries (first[i] + count[i] < first[i+1])."""
    with h5py.File(path, "r+") as f:
        grp = _index_source(f, source)
        first, count = _read_counts(grp)
        with_data = _data_trains(count, grp.name)
        count[with_data[(len(with_data) - 1) // 2]] -= 1
        _write_counts(grp, first, count)


def _index_overlap(path: Path, source: str | None) -> None:
    """A train in the middle gets one extra entry, which also belongs to the next
    train with data: report overlapping entries (first[i] + count[i] > first[i+1])."""
    with h5py.File(path, "r+") as f:
        grp = _index_source(f, source)
        first, count = _read_counts(grp)
        with_data = _data_trains(count, grp.name)
        count[with_data[(len(with_data) - 1) // 2]] += 1
        _write_counts(grp, first, count)


def _index_length_mismatch(path: Path, source: str | None) -> None:
    """One source's index arrays lose their last element: report index arrays whose
    length differs from INDEX/trainId."""
    with h5py.File(path, "r+") as f:
        grp = _index_source(f, source)
        for name in list(grp):
            values = grp[name][:-1]
            del grp[name]
            grp[name] = values


HOSTILE_SOURCE = "../../evil/MOTOR/X"


def rename_source(path: str | Path, new: str = HOSTILE_SOURCE, source: str | None = None
                  ) -> Path:
    """Rename one control source (default: the first) in METADATA, INDEX, CONTROL and RUN.

    The default new name, ``../../evil/MOTOR/X``, is hostile: its path segments would
    escape an output's groups, so every writer must refuse it, naming file and source.

    Examples
    --------
    >>> import tempfile
    >>> from xfconvert import H5File
    >>> from xfconvert.testing import XGM, write_file
    >>> p = write_file(tempfile.mkdtemp() + '/f.h5', [XGM('SA1_XTD2_XGM/DOOCS/MAIN')],
    ...                range(1, 6))
    >>> sorted(H5File(rename_source(p)).control_sources)
    ['../../evil/MOTOR/X']
    """
    path = Path(path)
    with h5py.File(path, "r+") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in f["METADATA/dataSources/dataSourceId"][:]]
        old = source or next(n.split("/", 1)[1] for n in names if n.startswith("CONTROL/"))
        for root in ("INDEX", "CONTROL", "RUN"):
            if f"{root}/{old}" in f:
                f.move(f"{root}/{old}", f"{root}/{new}")
        for field in ("dataSourceId", "deviceId"):
            dset = f[f"METADATA/dataSources/{field}"]
            values = [v.decode() if isinstance(v, bytes) else str(v) for v in dset[:]]
            renamed = {old: new, f"CONTROL/{old}": f"CONTROL/{new}"}
            fixed = [renamed.get(v, v) for v in values]
            del f[f"METADATA/dataSources/{field}"]
            f.create_dataset(f"METADATA/dataSources/{field}", data=np.array(fixed, dtype=object),
                             dtype=h5py.string_dtype())
    return path


_DAMAGERS: dict[str, Callable[[Path, str | None], None]] = {
    "not_hdf5": _not_hdf5,
    "truncated": _truncated,
    "missing_metadata": _missing_metadata,
    "missing_index": _missing_index,
    "zero_train_id": _zero_train_id,
    "unsorted_train_ids": _unsorted_train_ids,
    "huge_train_id": _huge_train_id,
    "index_past_end": _index_past_end,
    "index_gap": _index_gap,
    "index_overlap": _index_overlap,
    "index_length_mismatch": _index_length_mismatch,
}

DAMAGE_KINDS: tuple[str, ...] = tuple(_DAMAGERS)


def _damager(kind: str) -> Callable[[Path, str | None], None]:
    if kind not in _DAMAGERS:
        raise OptionError(f"Unknown damage kind {kind!r}; choose from {DAMAGE_KINDS}")
    return _DAMAGERS[kind]


def describe_damage(kind: str) -> str:
    """What ``kind`` of damage does and what a validator or reader should report.

    Examples
    --------
    >>> describe_damage('missing_index')
    'The INDEX group is deleted: report missing INDEX (no train IDs).'
    """
    return " ".join(_damager(kind).__doc__.split())


def damage_file(path: str | Path, kind: str, source: str | None = None) -> Path:
    """Damage the mock file at ``path`` in place.

    Parameters
    ----------
    path : str or Path
        An existing file written by :func:`~xfconvert.testing.files.write_file`.
    kind : str
        One of :data:`DAMAGE_KINDS`.
    source : str, optional
        For ``index_*`` kinds, the index group to damage, relative to INDEX
        (``'<device>'`` or ``'<device>:<channel>/<group>'``); default the first
        instrument group.  Ignored by the other kinds.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from xfconvert.testing import XGM, write_file
    >>> p = write_file(tempfile.mkdtemp() + '/f.h5', [XGM('SA1_XTD2_XGM/DOOCS/MAIN')],
    ...                range(1, 6))
    >>> _ = damage_file(p, 'missing_metadata')
    >>> with h5py.File(p) as f:
    ...     'METADATA' in f
    False
    """
    path = Path(path)
    _damager(kind)(path, source)
    return path


def make_damaged_file(path: str | Path, kind: str, seed: int = 0) -> Path:
    """Write a small DA file (an XGM and a motor, 10 trains) and damage it.

    Examples
    --------
    >>> import tempfile
    >>> p = make_damaged_file(tempfile.mkdtemp() + '/f.h5', 'truncated')
    >>> p.stat().st_size > 0
    True
    """
    damager = _damager(kind)
    path = Path(path)
    write_file(path, [XGM(XGM_NAME), Motor(MOTOR_NAMES[0])], range(10000, 10010), seed=seed)
    damager(path, None)
    return path
