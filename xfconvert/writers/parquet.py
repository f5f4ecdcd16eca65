"""Parquet tables of slow and 1-D data: one row per train, plus long tables of entries.

The output is a directory that pandas, pyarrow.dataset and DuckDB read as one table, the
**trains table**: a ``trainId`` column (int64), a ``trainTimestamp`` column where the files
have ``INDEX/timestamp``, and one column per key with at most one entry per train (every
control value, and instrument keys such as XGM traces; fixed-shape arrays become nested
fixed-size lists). Instrument groups with several entries per train (detector frames)
go to **entries tables**, one per ``(source, index group)``, under ``_entries/``: one row
per entry with ``trainId`` and ``entry`` (the position within the train). Dataset readers
skip ``_``-prefixed paths, so ``pd.read_parquet(OUT)`` reads only the trains table.

Layout (``partition_by='run'`` or ``'train_block'`` adds Hive directories such as
``run=1/`` or ``train_block=10000000/`` under each table)::

    OUT/part-0.parquet                              (part-1... for very wide, long tables)
    OUT/_entries/<source>_<group>/part-0.parquet

Values are streamed: each row group holds the rows of at most ``row_group_trains``
trains and is written as soon as it is read, so memory does not grow with the run.
Missing values are nulls. Every file carries key-value metadata (JSON): the columns with
their source, key, dtype, shape and units, the run numbers, the list of tables and the
provenance attributes.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> from xfconvert.writers import convert
>>> import tempfile, pathlib, pandas as pd
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> run = RunDirectory(make_run(tmp / "r1", n_trains=5))
>>> out = convert(run.select("*_XGM/*"), tmp / "xgm.parquet", to="parquet",
...               column_names="sql")
>>> df = pd.read_parquet(out)
>>> df["trainId"].tolist(), "SA1_XTD2_XGM_DOOCS_MAIN_beamPosition_ixPos" in df
([10000, 10001, 10002, 10003, 10004], True)
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Sequence

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..exceptions import FileStructureError, OptionError
from ..readers.file_access import FileAccess
from ..readers.tabular import Column, EntryTable, TrainTable, entry_tables, table_columns
from .base import ProgressCallback, WritePlan, provenance

if TYPE_CHECKING:
    from ..readers.collection import DataCollection

log = logging.getLogger(__name__)

__all__ = ["ParquetOptions", "ParquetWriter", "TableSpec", "sql_names"]

TRAIN_ID = "trainId"
TRAIN_TIMESTAMP = "trainTimestamp"
ENTRY = "entry"
ENTRIES_DIR = "_entries"
# Row groups are also cut by size, so array columns (camera images) cannot blow memory.
ROW_GROUP_BYTES = 256 * 2 ** 20
# A Parquet writer keeps the footer (~1 kB per column per row group) until it closes, so a
# file is closed and the next part begun after this many column chunks (~10 MB of footer).
COLUMN_CHUNKS_PER_FILE = 10000
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class ParquetOptions:
    """Options of the Parquet writer (see docs/parquet.md)."""

    timestamps: bool = field(default=False, metadata={
        "help": "Add a '<key>.timestamp' column next to each control value."})
    column_names: Literal["source/key", "sql"] = field(default="source/key", metadata={
        "help": "Column names: 'source/key' (as get_dataframe) or 'sql' (letters, digits "
                "and underscores only, made unique)."})
    row_group_trains: int = field(default=10000, metadata={
        "help": "Trains per Parquet row group (fewer if a row group would exceed 256 MiB)."})
    partition_by: Literal["none", "run", "train_block"] = field(default="none", metadata={
        "help": "Hive partitioning of every table: none, run=<number>/ or "
                "train_block=<first train ID>/."})
    train_block_size: int = field(default=100000, metadata={
        "help": "Trains per partition with partition_by=train_block (aligned to multiples "
                "of this size)."})

    def __post_init__(self) -> None:
        for name in ("row_group_trains", "train_block_size"):
            if getattr(self, name) < 1:
                raise OptionError(f"Option {name} of writer 'parquet' must be >= 1, "
                                  f"got {getattr(self, name)}.")


def sql_names(names: Sequence[str], reserved: Sequence[str] = ()) -> list[str]:
    """Names made of letters, digits and underscores, unique ignoring case.

    Every run of other characters becomes one underscore; a name starting with a digit
    gets a leading underscore. A name that is already taken (by ``reserved`` or an
    earlier name) gets ``_2``, ``_3``... so the result depends only on the input order.

    Examples
    --------
    >>> sql_names(["SA1/XGM:output/data.x", "SA1/XGM:output/data_x", "9a"], ["trainId"])
    ['SA1_XGM_output_data_x', 'SA1_XGM_output_data_x_2', '_9a']
    """
    taken = {name.lower() for name in reserved}
    result = []
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "column"
        if base[0].isdigit():
            base = "_" + base
        candidate, n = base, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate.lower())
        result.append(candidate)
    return result


def arrow_type(dtype: np.dtype, entry_shape: tuple[int, ...]) -> pa.DataType | None:
    """The Arrow type of a column: numpy type, strings as UTF-8, arrays as nested
    fixed-size lists; None if there is no faithful Arrow type.

    Examples
    --------
    >>> arrow_type(np.dtype("uint16"), (2, 3))
    FixedSizeListType(fixed_size_list<item: fixed_size_list<item: uint16>[3]>[2])
    """
    if dtype.kind == "S" or (dtype.kind == "O" and h5py.check_string_dtype(dtype)):
        leaf = pa.string()
    elif dtype.kind in "biuf":
        leaf = pa.from_numpy_dtype(dtype)
    else:
        return None
    for size in reversed(entry_shape):
        leaf = pa.list_(leaf, size)
    return leaf


@dataclass(eq=False)
class TableSpec:
    """One output table: where it goes, its columns and how it is read.

    Attributes
    ----------
    kind : {'trains', 'entries'}
    directory : str
        Relative to the output ('' for the trains table).
    columns : list of Column
        The keys, in schema order after the index columns.
    schema : pyarrow.Schema
        Fixed before writing, with the metadata every file of the table carries.
    trains_per_group : int
        Trains read and written per row group.
    """

    kind: str
    directory: str
    columns: list[Column]
    schema: pa.Schema
    trains_per_group: int

    def __str__(self) -> str:
        where = self.directory or "."
        what = ("one row per train" if self.kind == "trains" else
                f"one row per entry of {self.columns[0].source} {self.columns[0].index_group!r}")
        return (f"{where}: {self.kind} table, {what}, {len(self.columns)} key columns, "
                f"row groups of up to {self.trains_per_group} trains")


@dataclass
class ParquetPlan(WritePlan):
    """A write plan plus the partitions: ``(directory, train IDs)`` pairs."""

    partitions: list[tuple[str, np.ndarray]] = field(default_factory=list)
    timestamp_files: list[FileAccess] = field(default_factory=list)


class ParquetWriter:
    """Writes slow and 1-D data as Parquet tables (see the module docstring).

    Examples
    --------
    >>> run.convert("r0001.parquet", to="parquet", partition_by="run")  # doctest: +SKIP
    """

    name = "parquet"
    description = "Parquet tables: one row per train of slow and 1-D data, long tables of entries"
    suffix = ".parquet"
    output_is_directory = True
    options_type = ParquetOptions

    def plan(self, data: "DataCollection", options: ParquetOptions) -> ParquetPlan:
        """Choose the tables, their columns and schemas, and the partitions."""
        train_ids = data.train_id_array
        files = _files_of_selection(data)
        plan = ParquetPlan(data, options)
        if not len(train_ids) or not files:
            return plan
        _check_train_ids_fit(files)
        columns = _typed(table_columns(data, timestamps=options.timestamps, scalars_only=False))
        groups = {sg: cols for sg, cols in
                  ((sg, _typed(cols)) for sg, cols in entry_tables(data).items()) if cols}
        if not columns and not groups:
            return plan
        plan.timestamp_files = [fa for fa in files if "timestamp" in fa.file["INDEX"]]
        run_numbers = {fa: _run_number(fa) for fa in files}
        dirs = [ENTRIES_DIR + "/" + d for d in
                sql_names([f"{source}/{group}" for source, group in groups])]
        tables_meta = [{"path": ".", "kind": "trains"}] + [
            {"path": d, "kind": "entries", "source": s, "index_group": g}
            for d, (s, g) in zip(dirs, groups)]
        common = {**provenance(data, self.name),
                  "xfconvert_run": json.dumps({"run_numbers": sorted(set(run_numbers.values()))}),
                  "xfconvert_tables": json.dumps(tables_meta)}
        index_fields = [pa.field(TRAIN_ID, pa.int64(), nullable=False)]
        if plan.timestamp_files:
            index_fields.append(pa.field(TRAIN_TIMESTAMP, pa.timestamp("ns", tz="UTC")))
        plan.items.append(self._table(data, options, "trains", "", columns, index_fields,
                                      common, 1))
        for directory, ((source, group), cols) in zip(dirs, groups.items()):
            fields = [pa.field(TRAIN_ID, pa.int64(), nullable=False),
                      pa.field(ENTRY, pa.int32(), nullable=False)]
            plan.items.append(self._table(data, options, "entries", directory, cols, fields,
                                          common, _max_entries(data, cols[0])))
        plan.partitions = _partitions(data, options, train_ids, run_numbers)
        plan.total = sum(len(t) for _, t in plan.partitions) * len(plan.items)
        return plan

    @staticmethod
    def _table(data: "DataCollection", options: ParquetOptions, kind: str, directory: str,
               columns: list[Column], index_fields: list[pa.Field], common: dict[str, str],
               entries_per_train: int) -> TableSpec:
        reserved = [f.name for f in index_fields]
        names = ([c.name for c in columns] if options.column_names == "source/key"
                 else sql_names([c.name for c in columns], reserved))
        fields = index_fields + [pa.field(n, arrow_type(c.dtype, c.entry_shape))
                                 for n, c in zip(names, columns)]
        described = [{"column": n, "source": c.source, "key": c.key, "dtype": c.dtype.str,
                      "shape": list(c.entry_shape), "units": _units(data, c)}
                     for n, c in zip(names, columns)]
        metadata = {**common, "xfconvert_table": kind, "xfconvert_columns": json.dumps(described)}
        row_bytes = entries_per_train * (8 + sum(_entry_bytes(c) for c in columns))
        per_group = max(1, min(options.row_group_trains, ROW_GROUP_BYTES // row_bytes))
        return TableSpec(kind, directory, columns, pa.schema(fields, metadata=metadata),
                         per_group)

    def write_plan(self, plan: ParquetPlan, path: Path, progress: ProgressCallback) -> None:
        """Write every table, partition by partition, one row group per block of trains."""
        path = Path(path)
        path.mkdir(exist_ok=True)
        done = 0
        for table in plan.items:
            read = self._reader(plan, table)
            groups_per_file = max(1, COLUMN_CHUNKS_PER_FILE // len(table.schema))
            for partition, train_ids in plan.partitions:
                directory = path / table.directory / partition
                writer, n_files, n_groups = None, 0, 0
                try:
                    for start in range(0, len(train_ids), table.trains_per_group):
                        block = train_ids[start:start + table.trains_per_group]
                        batch = read(block)
                        if batch.num_rows:
                            if writer is not None and n_groups == groups_per_file:
                                writer.close()
                                writer = None
                            if writer is None:
                                directory.mkdir(parents=True, exist_ok=True)
                                writer = pq.ParquetWriter(directory / f"part-{n_files}.parquet",
                                                          table.schema)
                                n_files, n_groups = n_files + 1, 0
                            writer.write_table(batch, row_group_size=batch.num_rows)
                            n_groups += 1
                        done += len(block)
                        progress(done, plan.total)
                    if n_files == 0 and not partition:
                        # Without partitions every table has its file, even with no rows.
                        directory.mkdir(parents=True, exist_ok=True)
                        pq.write_table(table.schema.empty_table(), directory / "part-0.parquet")
                finally:
                    if writer is not None:
                        writer.close()
            log.info("Wrote %s", table)

    @staticmethod
    def _reader(plan: ParquetPlan, table: TableSpec) -> Callable[[np.ndarray], pa.Table]:
        data = plan.data
        n_index = len(table.schema) - len(table.columns)
        types = [table.schema.field(i).type for i in range(n_index, len(table.schema))]
        if table.kind == "entries":
            entries = EntryTable(data, table.columns)

            def read_entries(train_ids: np.ndarray) -> pa.Table:
                tids, index, values, valid = entries.read(train_ids)
                arrays = [pa.array(tids.astype(np.int64)), pa.array(index)]
                arrays += [_to_arrow(values[c.name], valid[c.name], t, c, data)
                           for c, t in zip(table.columns, types)]
                return pa.Table.from_arrays(arrays, schema=table.schema)
            return read_entries

        trains = TrainTable(data, table.columns)

        def read_trains(train_ids: np.ndarray) -> pa.Table:
            values, valid = trains.read(train_ids)
            any_valid = np.zeros(len(train_ids), dtype=bool)
            for mask in valid.values():
                any_valid |= mask
            rows = None if any_valid.all() else np.flatnonzero(any_valid)
            if rows is not None:
                train_ids = train_ids[rows]
            arrays = [pa.array(train_ids.astype(np.int64))]
            if plan.timestamp_files:
                arrays.append(_train_timestamps(plan.timestamp_files, train_ids))
            for c, t in zip(table.columns, types):
                v, m = values[c.name], valid[c.name]
                if rows is not None:
                    v, m = v[rows], m[rows]
                arrays.append(_to_arrow(v, m, t, c, data))
            return pa.Table.from_arrays(arrays, schema=table.schema)
        return read_trains


# ---- planning helpers -----------------------------------------------------------------
def _files_of_selection(data: "DataCollection") -> list[FileAccess]:
    files: dict[FileAccess, None] = {}
    for source in sorted(data.all_sources):
        files.update(dict.fromkeys(data.files_for_source(source)))
    return list(files)


def _check_train_ids_fit(files: list[FileAccess]) -> None:
    for fa in files:
        if len(fa.train_ids) and int(fa.train_ids[-1]) > _INT64_MAX:
            raise FileStructureError(fa.filename, f"train ID {int(fa.train_ids[-1])} does not "
                                     "fit in the int64 trainId column of Parquet")


def _typed(columns: list[Column]) -> list[Column]:
    kept = [c for c in columns if arrow_type(c.dtype, c.entry_shape) is not None]
    for c in set(columns) - set(kept):
        log.warning("Leaving out %s %s: no Parquet type for %s", c.source, c.key, c.dtype)
    return kept


def _entry_bytes(column: Column) -> int:
    size = int(np.prod(column.entry_shape, dtype=np.int64))
    return size * (column.dtype.itemsize if column.dtype.kind in "biuf" else 64)


def _max_entries(data: "DataCollection", column: Column) -> int:
    counts = data[column.source, column.key].data_counts(labelled=False)
    return max(1, int(counts.max(initial=0)))


def _units(data: "DataCollection", column: Column) -> dict[str, str]:
    fa = data.files_for_source(column.source)[0]
    version = tuple(int(part) for part in fa.format_version.split("."))
    if version < (1, 3):  # unit attributes came with format 1.3; skip 4 lookups a key
        return {}
    return data[column.source, column.key].unit_attributes()


def _run_number(fa: FileAccess) -> int:
    f = fa.file
    if "METADATA/runNumber" in f:
        return int(np.asarray(f["METADATA/runNumber"][()]).ravel()[0])
    match = re.search(r"-R(\d+)-", Path(fa.filename).name)
    if match is None:
        raise FileStructureError(fa.filename, "cannot tell the run number (no "
                                 "METADATA/runNumber, no -R<number>- in the file name)")
    return int(match.group(1))


def _partitions(data: "DataCollection", options: ParquetOptions, train_ids: np.ndarray,
                run_numbers: dict[FileAccess, int]) -> list[tuple[str, np.ndarray]]:
    if options.partition_by == "none":
        return [("", train_ids)]
    if options.partition_by == "train_block":
        size = np.uint64(options.train_block_size)
        labels = train_ids // size * size
    else:
        labels = np.full(len(train_ids), -1, dtype=np.int64)
        for fa, run in run_numbers.items():
            pos = np.searchsorted(train_ids, fa.train_ids)
            inside = pos < len(train_ids)
            pos = pos[inside][train_ids[pos[inside]] == fa.train_ids[inside]]
            clash = (labels[pos] >= 0) & (labels[pos] != run)
            if clash.any():
                raise FileStructureError(fa.filename, f"train {int(train_ids[pos[clash][0]])} "
                                         f"of run {run} is also in run "
                                         f"{int(labels[pos[clash][0]])}")
            labels[pos] = run
    values, starts = np.unique(labels, return_index=True)
    # Label -1: trains only in files of sources that are not selected, so no rows.
    return [(f"{options.partition_by}={int(values[i])}", train_ids[labels == values[i]])
            for i in np.argsort(starts) if values[i] >= 0]


# ---- reading helpers ------------------------------------------------------------------
def _train_timestamps(files: list[FileAccess], train_ids: np.ndarray) -> pa.Array:
    """INDEX/timestamp of ``train_ids`` as UTC nanoseconds; null where no file has it."""
    stamps = np.zeros(len(train_ids), dtype=np.uint64)
    for fa in files if len(train_ids) else ():
        ftids = fa.train_ids
        lo = np.searchsorted(ftids, train_ids[0], side="left")
        hi = np.searchsorted(ftids, train_ids[-1], side="right")
        if hi <= lo:
            continue
        pos = np.minimum(np.searchsorted(train_ids, ftids[lo:hi]), len(train_ids) - 1)
        match = (train_ids[pos] == ftids[lo:hi]) & (stamps[pos] == 0)
        if not match.any():
            continue
        # Positions in the stored INDEX/timestamp (kept out-of-order trains make them
        # unsorted).
        raw = fa.raw_positions[lo:hi]
        first = int(raw.min())
        try:
            block = fa.file["INDEX/timestamp"][first:int(raw.max()) + 1]
        except OSError as err:
            raise FileStructureError(fa.filename, f"unreadable INDEX/timestamp ({err})") from err
        stamps[pos[match]] = np.asarray(block, dtype=np.uint64).ravel()[raw - first][match]
        if stamps.all():
            break
    if stamps.max(initial=0) > _INT64_MAX:
        raise FileStructureError(files[0].filename, "INDEX/timestamp beyond year 2262")
    return pa.array(stamps.astype(np.int64), pa.timestamp("ns", tz="UTC"), mask=stamps == 0)


def _to_arrow(values: np.ndarray, valid: np.ndarray, type_: pa.DataType, column: Column,
              data: "DataCollection") -> pa.Array:
    """One column of one row group: numpy values + validity -> Arrow (nulls, not zeros)."""
    mask = None if valid.all() else ~valid
    leaf = type_
    sizes = []
    while pa.types.is_fixed_size_list(leaf):
        sizes.append(leaf.list_size)
        leaf = leaf.value_type
    flat = values.reshape(-1)
    flat_mask = mask if not sizes else None
    if pa.types.is_string(leaf):
        if flat.dtype.kind == "O":
            # Rows without data hold 0 rather than bytes; give them an empty string.
            flat = np.where(np.repeat(valid, flat.size // max(len(valid), 1)), flat, b"")
        try:
            arr = pc.cast(pa.array(flat, pa.binary(), mask=flat_mask), pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise FileStructureError(str(data.run_path or ""), f"text that is not UTF-8 ({err})",
                                     column.source, column.key) from err
    else:
        arr = pa.array(flat, mask=flat_mask)
    for i, size in enumerate(reversed(sizes)):
        outer = i == len(sizes) - 1
        arr = pa.FixedSizeListArray.from_arrays(arr, size,
                                                mask=pa.array(mask) if outer and mask is not None
                                                else None)
    return arr
