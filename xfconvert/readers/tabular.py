"""Per-train tables of many keys: the engine behind get_dataframe and the Parquet writer.

Slow data has thousands of keys; reading them one KeyData at a time repeats the same
index maths for every key. Here the train-to-entry mapping is computed once per (source,
index group, file) and shared by every key of that group, and each key costs one HDF5
read per file, straight into its column.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=4))
>>> table = TrainTable(run, table_columns(run.select("*_XGM/*", "*.ixPos")))
>>> values, valid = table.read(run.train_id_array)
>>> sorted(values), bool(valid["SA1_XTD2_XGM/DOOCS/MAIN/beamPosition.ixPos"].all())
(['SA1_XTD2_XGM/DOOCS/MAIN/beamPosition.ixPos'], True)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..exceptions import FileStructureError, NoDataError
from .file_access import FileAccess
from .keydata import read_slab

if TYPE_CHECKING:
    import pandas as pd

    from .collection import DataCollection

log = logging.getLogger(__name__)

__all__ = ["Column", "TrainTable", "table_columns", "column_name", "EntryTable",
           "entry_tables", "read_dataframe"]


@dataclass(frozen=True)
class Column:
    """One column of a per-train table.

    Attributes
    ----------
    name : str
        ``source/key`` (control keys without ``.value``).
    source, key : str
        Where the values come from (key as stored, e.g. ``x.value``).
    dtype : numpy.dtype
    entry_shape : tuple of int
        ``()`` for scalars; fixed-shape arrays otherwise.
    """

    name: str
    source: str
    key: str
    dtype: np.dtype
    entry_shape: tuple[int, ...]
    is_control: bool

    @property
    def index_group(self) -> str:
        return FileAccess.index_group(self.is_control, self.key)


def column_name(source: str, key: str, is_control: bool) -> str:
    """The ``source/key`` name of a column; control values drop ``.value``."""
    if is_control and key.endswith(".value"):
        key = key[:-6]
    return f"{source}/{key}"


def has_table_type(dtype: np.dtype, entry_shape: tuple[int, ...]) -> bool:
    """Whether a key's values fit a table column (no compound types, no object arrays)."""
    return not (dtype.kind == "V" or (dtype.kind == "O" and entry_shape != ()))


def _max_count(data: "DataCollection", source: str, group: str) -> int:
    best = 0
    tids = data.train_id_array
    for fa in data.files_for_source(source):
        first, count = fa.get_index(source, group)
        in_sel = np.isin(fa.train_ids, tids, assume_unique=True)
        if in_sel.any():
            best = max(best, int(count[in_sel].max()))
    return best


def table_columns(data: "DataCollection", *, timestamps: bool = False, scalars_only: bool = True
                  ) -> list[Column]:
    """Columns for every selected key holding at most one entry per train.

    Parameters
    ----------
    data : DataCollection
    timestamps : bool
        Include the ``.timestamp`` of control keys as columns.
    scalars_only : bool
        Only keys with one scalar per entry (for DataFrames); False also takes
        fixed-shape arrays (for Parquet list columns).

    Keys with several entries per train are left out (logged at debug level).
    """
    columns = []
    for source in sorted(data.all_sources):
        sd = data[source]
        group_ok: dict[str, bool] = {}
        for key in sorted(sd.keys()):
            if sd.is_control and key.endswith(".timestamp") and not timestamps:
                continue
            if sd.is_control and not key.endswith((".value", ".timestamp")):
                continue
            kd = sd[key]
            shape, dtype = kd.entry_shape, kd.dtype
            if scalars_only and shape != ():
                continue
            if not has_table_type(dtype, shape):
                continue
            group = FileAccess.index_group(sd.is_control, key)
            if group not in group_ok:
                group_ok[group] = _max_count(data, source, group) <= 1
                if not group_ok[group]:
                    log.debug("Skipping %s group %r: several entries per train", source, group)
            if not group_ok[group]:
                continue
            columns.append(Column(column_name(source, key, sd.is_control), source, key, dtype,
                                  shape, sd.is_control))
    return columns


class TrainTable:
    """Reads many per-train columns for any set of trains.

    Parameters
    ----------
    data : DataCollection
    columns : list of Column
        Typically from :func:`table_columns`.
    """

    def __init__(self, data: "DataCollection", columns: list[Column]):
        self.data = data
        self.columns = columns
        self._groups: dict[tuple[str, str], list[Column]] = {}
        for col in columns:
            self._groups.setdefault((col.source, col.index_group), []).append(col)

    def read(self, train_ids: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Values and validity masks of every column for ``train_ids`` (sorted uint64).

        Returns
        -------
        values : dict
            Column name -> array of shape ``(len(train_ids),) + entry_shape``; rows without
            data hold unspecified values.
        valid : dict
            Column name -> boolean array, True where the train has a value.
        """
        train_ids = np.asarray(train_ids, dtype=np.uint64)
        n = len(train_ids)
        values = {c.name: np.zeros((n,) + c.entry_shape, dtype=c.dtype) for c in self.columns}
        valid = {c.name: np.zeros(n, dtype=bool) for c in self.columns}
        if n == 0:
            return values, valid
        for (source, group), cols in self._groups.items():
            for fa in self.data.files_for_source(source):
                mapping = _row_mapping(fa, source, group, train_ids)
                if mapping is None:
                    continue
                rows, entries = mapping
                for col in cols:
                    if not fa.has_key(source, col.key):
                        continue
                    _read_rows(fa, col, rows, entries, values[col.name])
                    valid[col.name][rows] = True
        return values, valid


def _row_mapping(fa: FileAccess, source: str, group: str, train_ids: np.ndarray):
    """(rows in the table, entries in the datasets) of one file, or None if no data."""
    ftids = fa.train_ids
    lo, hi = np.searchsorted(ftids, train_ids[[0, -1]], side="left")
    hi = np.searchsorted(ftids, train_ids[-1], side="right")
    if hi <= lo:
        return None
    ftids = ftids[lo:hi]
    first, count = fa.get_index(source, group)
    first, count = first[lo:hi], count[lo:hi]
    pos = np.searchsorted(train_ids, ftids)
    pos_c = np.minimum(pos, len(train_ids) - 1)
    take = (train_ids[pos_c] == ftids) & (count > 0)
    if not take.any():
        return None
    if count[take].max() > 1:
        raise NoDataError(f"{fa.filename}: {source} has several entries per train in "
                          f"group {group!r}; it cannot be a table column.")
    return pos[take], first[take].astype(np.int64)


def _read_rows(fa: FileAccess, col: Column, rows: np.ndarray, entries: np.ndarray,
               out: np.ndarray) -> None:
    ds = fa.dataset(fa.dataset_path(col.source, col.key))
    e0, e1 = int(entries[0]), int(entries[-1]) + 1
    if e1 > ds.shape[0]:
        raise FileStructureError(fa.filename, f"index points past the end of the data "
                                 f"(entry {e1 - 1}, dataset has {ds.shape[0]})",
                                 col.source, col.key)
    entries_contiguous = e1 - e0 == len(entries)
    rows_contiguous = int(rows[-1]) - int(rows[0]) + 1 == len(rows)
    if entries_contiguous and rows_contiguous and out.dtype == ds.dtype and ds.dtype.kind != "O":
        r0 = int(rows[0])
        read_slab(ds, e0, out[r0:r0 + len(rows)])
        return
    block = ds[e0:e1]
    out[rows] = block if entries_contiguous else block[entries - e0]


def entry_tables(data: "DataCollection") -> dict[tuple[str, str], list[Column]]:
    """Columns of every instrument index group with several entries in some train.

    These are the keys :func:`table_columns` leaves out; :class:`EntryTable` reads them
    as long tables (one row per entry).

    Returns
    -------
    dict
        ``(source, index group)`` -> columns of that group, sorted by key.

    Examples
    --------
    >>> from xfconvert.testing import make_run
    >>> from xfconvert import RunDirectory
    >>> import tempfile, pathlib
    >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=2,
    ...                             detector="agipd", n_modules=1, module_shape=(4, 2)))
    >>> sorted(entry_tables(run))
    [('SPB_DET_AGIPD1M-1/DET/0CH0:xtdf', 'image')]
    """
    tables: dict[tuple[str, str], list[Column]] = {}
    for source in sorted(data.instrument_sources):
        sd = data[source]
        multi: dict[str, bool] = {}
        for key in sorted(sd.keys()):
            group = FileAccess.index_group(False, key)
            if group not in multi:
                multi[group] = _max_count(data, source, group) > 1
            if not multi[group]:
                continue
            kd = sd[key]
            if not has_table_type(kd.dtype, kd.entry_shape):
                log.debug("Skipping %s %s: no table type for %s", source, key, kd.dtype)
                continue
            tables.setdefault((source, group), []).append(
                Column(column_name(source, key, False), source, key, kd.dtype,
                       kd.entry_shape, False))
    return tables


class EntryTable:
    """Reads the keys of one instrument index group, any number of entries per train.

    Parameters
    ----------
    data : DataCollection
    columns : list of Column
        Keys of one ``(source, index group)``, e.g. a value of :func:`entry_tables`.

    Examples
    --------
    >>> from xfconvert.testing import make_run
    >>> from xfconvert import RunDirectory
    >>> import tempfile, pathlib
    >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=2,
    ...                             detector="agipd", n_modules=1, module_shape=(4, 2),
    ...                             frames_per_train=3))
    >>> (table_cols,) = entry_tables(run).values()
    >>> tids, index, values, valid = EntryTable(run, table_cols).read(run.train_id_array)
    >>> tids.tolist(), index.tolist()
    ([10000, 10000, 10000, 10001, 10001, 10001], [0, 1, 2, 0, 1, 2])
    """

    def __init__(self, data: "DataCollection", columns: list[Column]):
        groups = {(c.source, c.index_group) for c in columns}
        if len(groups) != 1:
            raise NoDataError(f"An EntryTable needs the keys of one index group, got {groups}.")
        ((self.source, self.group),) = groups
        self.data = data
        self.columns = columns

    def read(self, train_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray],
                                                    dict[str, np.ndarray]]:
        """Every entry of ``train_ids`` (sorted uint64), in train order.

        Returns
        -------
        entry_train_ids : numpy.ndarray
            uint64 train ID of each entry.
        entry_index : numpy.ndarray
            int32 position of each entry within its train.
        values : dict
            Column name -> array of shape ``(n_entries,) + entry_shape``; entries without
            data (a key missing from a file) hold unspecified values.
        valid : dict
            Column name -> boolean array, True where the entry has a value.
        """
        train_ids = np.asarray(train_ids, dtype=np.uint64)
        pieces = []  # (file, first, count, train ids) of the entries in each file
        for fa in self.data.files_for_source(self.source) if len(train_ids) else ():
            found = _entry_mapping(fa, self.source, self.group, train_ids)
            if found is not None:
                pieces.append((fa, *found))
        counts = np.concatenate([p[2] for p in pieces]) if pieces else np.zeros(0, np.uint64)
        tids = np.concatenate([p[3] for p in pieces]) if pieces else np.zeros(0, np.uint64)
        counts = counts.astype(np.int64)
        n = int(counts.sum())
        entry_tids = np.repeat(tids, counts)
        starts = np.cumsum(counts) - counts
        entry_index = (np.arange(n) - np.repeat(starts, counts)).astype(np.int32)
        values = {c.name: np.zeros((n,) + c.entry_shape, dtype=c.dtype) for c in self.columns}
        valid = {c.name: np.zeros(n, dtype=bool) for c in self.columns}
        pos = 0
        for fa, first, count, _ in pieces:
            n_file = int(count.sum())
            for col in self.columns:
                if fa.has_key(self.source, col.key):
                    _read_runs(fa, col, first, count, values[col.name][pos:pos + n_file])
                    valid[col.name][pos:pos + n_file] = True
            pos += n_file
        return entry_tids, entry_index, values, valid


def _entry_mapping(fa: FileAccess, source: str, group: str, train_ids: np.ndarray):
    """(first, count, train IDs) of the trains of ``train_ids`` with entries in one file."""
    ftids = fa.train_ids
    lo = np.searchsorted(ftids, train_ids[0], side="left")
    hi = np.searchsorted(ftids, train_ids[-1], side="right")
    if hi <= lo:
        return None
    ftids = ftids[lo:hi]
    first, count = fa.get_index(source, group)
    first, count = first[lo:hi], count[lo:hi]
    pos = np.minimum(np.searchsorted(train_ids, ftids), len(train_ids) - 1)
    take = (train_ids[pos] == ftids) & (count > 0)
    if not take.any():
        return None
    return first[take].astype(np.int64), count[take].astype(np.int64), ftids[take]


def _read_runs(fa: FileAccess, col: Column, first: np.ndarray, count: np.ndarray,
               out: np.ndarray) -> None:
    """Read the entries ``first[i]:first[i] + count[i]`` into ``out``, one read per run
    of adjacent entries."""
    ds = fa.dataset(fa.dataset_path(col.source, col.key))
    ends = first + count
    if int(ends.max()) > ds.shape[0]:
        raise FileStructureError(fa.filename, f"index points past the end of the data "
                                 f"(entry {int(ends.max()) - 1}, dataset has {ds.shape[0]})",
                                 col.source, col.key)
    breaks = np.flatnonzero(first[1:] != ends[:-1]) + 1
    run_starts = np.concatenate(([0], breaks))
    run_stops = np.concatenate((breaks, [len(first)]))
    out_starts = np.cumsum(count) - count
    direct = out.dtype == ds.dtype and ds.dtype.kind != "O"
    for a, b in zip(run_starts.tolist(), run_stops.tolist()):
        e0, e1 = int(first[a]), int(ends[b - 1])
        o0 = int(out_starts[a])
        if direct:
            ds.read_direct(out, source_sel=np.s_[e0:e1], dest_sel=np.s_[o0:o0 + e1 - e0])
        else:
            out[o0:o0 + e1 - e0] = ds[e0:e1]


def read_dataframe(data: "DataCollection", *, timestamps: bool = False) -> "pd.DataFrame":
    """Every 1-D, one-entry-per-train key of ``data`` as one DataFrame (see
    :meth:`DataCollection.get_dataframe`).

    Examples
    --------
    >>> from xfconvert.testing import make_run
    >>> from xfconvert import RunDirectory
    >>> import tempfile, pathlib
    >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=4))
    >>> df = read_dataframe(run.select("*_XGM/DOOCS/MAIN", "beamPosition.ixPos*"),
    ...                     timestamps=True)
    >>> sorted(c.rsplit("/", 1)[1] for c in df.columns), df.index.name
    (['beamPosition.ixPos', 'beamPosition.ixPos.timestamp'], 'trainId')
    """
    import pandas as pd
    columns = table_columns(data, timestamps=timestamps)
    values, valid = TrainTable(data, columns).read(data.train_id_array)
    tids = data.train_id_array
    any_valid = np.zeros(len(tids), dtype=bool)
    for mask in valid.values():
        any_valid |= mask
    keep_all = bool(any_valid.all())
    out = {}
    for col in columns:
        arr, mask = values[col.name], valid[col.name]
        if not keep_all:
            arr, mask = arr[any_valid], mask[any_valid]
        if not mask.all():
            if arr.dtype.kind in "fc":
                arr[~mask] = np.nan
            elif arr.dtype.kind in "iub":
                arr = arr.astype(np.float64)
                arr[~mask] = np.nan
            else:
                arr = arr.astype(object)
                arr[~mask] = None
        out[col.name] = arr
    index = pd.Index(tids[any_valid], name="trainId")
    # copy=False: keep each column's array as its own block instead of copying all
    # columns into consolidated 2-D blocks (which doubles peak memory).
    return pd.DataFrame(out, index=index, copy=False)
