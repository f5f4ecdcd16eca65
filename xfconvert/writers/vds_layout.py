"""Chunk plans to ``h5py.VirtualLayout``: the one mapping used by the VDS and CXI writers.

A virtual dataset is built in two steps, and only the second touches a file:

1. **Plan the mappings** (pure data, no I/O on the output): :func:`plan_mappings` turns a
   chunk plan (a list of :class:`~xfconvert.readers.chunks.DataChunk`) into a list of
   :class:`VirtualMapping`, *one per contiguous chunk*, each saying "entries
   ``src_start:src_start+n`` of dataset ``dataset_path`` in file ``filename`` go to
   rows ``dest_start:dest_start+n`` of the output". :func:`stack_mappings` does the same
   for several detector modules stacked along a module axis.
2. **Build the layout**: :func:`build_layout` turns mappings into an ``h5py.VirtualLayout``
   (one ``VirtualSource`` per source dataset), which ``h5py.Group.create_virtual_dataset``
   then writes.

Why one mapping per chunk: HDF5 intersects every read with every mapping of a virtual
dataset, so thousands of small mappings (one per train, or per frame) make reads of a few
consecutive frames about a hundred times slower than a handful of large ones.

Where the output rows of a chunk are given (``rows``), each chunk takes either an ``int``
(its first output row; its entries go to consecutive rows) or an integer array with the
output row of every entry (e.g. frames placed on a detector-wide frame axis). An array is
split into the fewest mappings whose rows are consecutive, so a chunk whose rows happen
to be consecutive still costs a single mapping.

With ``rows_per_entry=k``, each source entry fills ``k`` consecutive output rows: its
first axis is spread over them (JUNGFRAU entries of ``k`` memory cells become ``k``
frames). Rows are then counted in entries: an entry at row ``r`` fills output rows
``r*k .. r*k+k-1``.

Source file names are stored as absolute paths by default; ``path_of=relative_to(dir)``
stores them relative to the directory of the virtual dataset's file instead (HDF5 looks
for relative names there), so the output and its sources can be moved together.

Examples
--------
>>> import tempfile, pathlib, h5py, numpy as np
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> run = RunDirectory(make_run(d / "r1", n_trains=6, n_sequences=2))
>>> kd = run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"]
>>> mappings = plan_mappings(kd.chunk_plan())
>>> [(m.src_start, m.dest_start, m.n_entries) for m in mappings]
[(0, 0, 3), (0, 3, 3)]
>>> layout = build_layout(mappings, kd.shape, kd.dtype)
>>> with h5py.File(d / "vds.h5", "w") as f:
...     _ = f.create_virtual_dataset("intensityTD", layout)
>>> with h5py.File(d / "vds.h5", "r") as f:  # read-only, like the open source files
...     bool(np.array_equal(f["intensityTD"][()], kd.ndarray()))
True

Stacking modules along axis 1 of a ``(frames, modules, ...)`` output: module 0 fills rows
0-5, module 1 has its first chunk at rows 0, 1, 3 (row 2 stays fill) and its second
from row 6; a chunk whose rows break is split, and only there:

>>> plan = kd.chunk_plan()
>>> mappings = stack_mappings({0: plan, 1: plan}, {1: [np.array([0, 1, 3]), 6]})
>>> [(m.module, m.src_start, m.dest_start, m.n_entries) for m in mappings]
[(0, 0, 0, 3), (0, 0, 3, 3), (1, 0, 0, 2), (1, 2, 3, 1), (1, 0, 6, 3)]
>>> mappings[2].dest_selection
(slice(0, 2, None), 1)

With ``rows_per_entry``, rows count entries and each entry fills that many output rows:

>>> m = plan_mappings(plan[:1], [np.array([0, 2, 3])], rows_per_entry=4)
>>> [(x.dest_start, x.n_entries, x.dest_rows) for x in m]
[(0, 1, (0, 4)), (2, 2, (8, 8))]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence, Union

import h5py
import numpy as np
from h5py import h5s

from ..exceptions import FileStructureError, OptionError
from ..readers.chunks import DataChunk

__all__ = ["VirtualMapping", "plan_mappings", "stack_mappings", "build_layout",
           "layout_for_chunks", "absolute_path", "relative_to", "RowSpec"]

#: Output rows of one chunk: its first row (entries consecutive) or one row per entry.
RowSpec = Union[int, np.integer, np.ndarray]

PathOf = Callable[[str], str]


def absolute_path(filename: str) -> str:
    """Store source files by absolute path (the default ``path_of``)."""
    return os.path.abspath(filename)


def relative_to(directory: str | os.PathLike) -> PathOf:
    """A ``path_of`` storing source files relative to ``directory``.

    Pass the directory the virtual dataset's file will live in: HDF5 resolves relative
    source names against it, so output and sources can then be moved together.

    Examples
    --------
    >>> relative_to("/data/out")("/data/raw/r1/RAW-R0001-DA01-S00000.h5")
    '../raw/r1/RAW-R0001-DA01-S00000.h5'
    """
    base = os.path.abspath(os.fspath(directory))
    return lambda filename: os.path.relpath(os.path.abspath(filename), base)


@dataclass(frozen=True)
class VirtualMapping:
    """Entries ``src_start:src_start+n_entries`` of one source dataset placed at output rows
    ``dest_start:dest_start+n_entries``.

    Attributes
    ----------
    filename : str
        Absolute path of the source file.
    dataset_path : str
        Path of the source dataset inside its file.
    source_shape : tuple of int
        Full shape of the source dataset.
    src_start, dest_start, n_entries : int
        Where the entries come from and go to, along the first (entry) axis of the
        source and the row axis of the output.
    module : int or None
        Position on the module axis of a stacked output; None for a plain
        ``(rows,) + entry_shape`` output.
    module_axis : int
        0: output is ``(modules, rows, ...)``; 1: output is ``(rows, modules, ...)``.
    rows_per_entry : int
        Output rows filled by each entry (its first axis spread over them); ``dest_start``
        and ``n_entries`` count entries, so the output rows are ``dest_start *
        rows_per_entry`` to ``(dest_start + n_entries) * rows_per_entry``.
    """

    filename: str
    dataset_path: str
    source_shape: tuple[int, ...]
    src_start: int
    dest_start: int
    n_entries: int
    module: int | None = None
    module_axis: int = 0
    rows_per_entry: int = 1

    @property
    def dest_rows(self) -> tuple[int, int]:
        """(first output row, number of output rows) this mapping fills."""
        return self.dest_start * self.rows_per_entry, self.n_entries * self.rows_per_entry

    @property
    def dest_selection(self) -> tuple:
        """The output selection this mapping fills, as a numpy-style index."""
        first, n_rows = self.dest_rows
        rows = slice(first, first + n_rows)
        if self.module is None:
            return (rows,)
        return (self.module, rows) if self.module_axis == 0 else (rows, self.module)

    def __str__(self) -> str:
        where = "" if self.module is None else f"module {self.module}, "
        first, n_rows = self.dest_rows
        return (f"{self.filename}:{self.dataset_path}[{self.src_start}:"
                f"{self.src_start + self.n_entries}] -> {where}rows "
                f"{first}:{first + n_rows}")


def _runs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start positions, lengths) of runs of consecutive values in ``rows``."""
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate(([0], breaks))
    lengths = np.diff(np.concatenate((starts, [len(rows)])))
    return starts, lengths


def plan_mappings(chunks: Sequence[DataChunk], rows: Sequence[RowSpec] | None = None, *,
                  dest_offset: int = 0, module: int | None = None,
                  module_axis: int = 0, rows_per_entry: int = 1) -> list[VirtualMapping]:
    """Map a chunk plan to output rows, one mapping per contiguous chunk.

    Nothing is read or written except (cached) source dataset shapes.

    Parameters
    ----------
    chunks : sequence of DataChunk
        E.g. ``KeyData.chunk_plan()``.
    rows : sequence, optional
        One entry per chunk: its first output row (int), or an int array giving the output
        row of each of its entries. Default: chunks one after another from ``dest_offset``.
    dest_offset : int
        First output row when ``rows`` is not given.
    module, module_axis : optional
        Place the chunks at this module position of a stacked output (see
        :class:`VirtualMapping`).
    rows_per_entry : int
        Output rows filled by each entry (see :class:`VirtualMapping`); ``rows`` and
        ``dest_offset`` then count entries.

    Returns
    -------
    list of VirtualMapping

    Raises
    ------
    FileStructureError
        If a chunk reaches past the end of its source dataset.
    OptionError
        If ``rows`` does not match ``chunks``.

    Examples
    --------
    >>> plan_mappings([])
    []
    """
    if rows_per_entry < 1:
        raise OptionError(f"rows_per_entry must be >= 1, got {rows_per_entry}.")
    if rows is not None and len(rows) != len(chunks):
        raise OptionError(f"rows has {len(rows)} entries but there are {len(chunks)} chunks.")
    mappings: list[VirtualMapping] = []
    next_row = int(dest_offset)
    for i, chunk in enumerate(chunks):
        n = chunk.n_entries
        if n == 0:
            continue
        shape = chunk.file.dataset_info(chunk.source, chunk.key)[0]
        if chunk.first + n > shape[0]:
            raise FileStructureError(
                chunk.file.filename, f"entries {chunk.first}:{chunk.first + n} are needed "
                f"but {chunk.dataset_path} has {shape[0]}", chunk.source, chunk.key)
        spec = next_row if rows is None else rows[i]
        common = dict(filename=chunk.file.filename, dataset_path=chunk.dataset_path,
                      source_shape=tuple(shape), module=module, module_axis=module_axis,
                      rows_per_entry=int(rows_per_entry))
        if isinstance(spec, (int, np.integer)):
            mappings.append(VirtualMapping(src_start=chunk.first, dest_start=int(spec),
                                           n_entries=n, **common))
            next_row = int(spec) + n
            continue
        entry_rows = np.asarray(spec, dtype=np.int64)
        if entry_rows.shape != (n,):
            raise OptionError(f"rows for chunk {chunk!r} has shape {entry_rows.shape}, "
                              f"expected ({n},).")
        starts, lengths = _runs(entry_rows)
        mappings += [VirtualMapping(src_start=chunk.first + int(s),
                                    dest_start=int(entry_rows[s]), n_entries=int(k), **common)
                     for s, k in zip(starts.tolist(), lengths.tolist())]
        next_row = int(entry_rows[-1]) + 1
    return mappings


def stack_mappings(modules: Mapping[int, Sequence[DataChunk]],
                   rows: Mapping[int, Sequence[RowSpec]] | None = None, *,
                   module_axis: int = 1, rows_per_entry: int = 1) -> list[VirtualMapping]:
    """Mappings stacking several modules (e.g. detector modules) along a module axis.

    Parameters
    ----------
    modules : mapping of int to sequence of DataChunk
        Module position in the output -> that module's chunk plan.
    rows : mapping of int to sequence, optional
        Module position -> output rows of its chunks, as for :func:`plan_mappings`
        (typically arrays placing each frame on a detector-wide frame axis, so that a
        missing train or frame in one module leaves fill values, not a shift).
        Modules not in ``rows`` start at row 0.
    module_axis : int
        1 for ``(frames, modules, ...)`` outputs (CXI), 0 for ``(modules, frames, ...)``.
    rows_per_entry : int
        Output rows filled by each entry, as for :func:`plan_mappings`.

    Returns
    -------
    list of VirtualMapping
        Modules in ascending position; one mapping per contiguous run of each chunk.

    Examples
    --------
    >>> stack_mappings({})
    []
    """
    if module_axis not in (0, 1):
        raise OptionError(f"module_axis must be 0 or 1, got {module_axis}.")
    mappings: list[VirtualMapping] = []
    for position in sorted(modules):
        mod_rows = None if rows is None else rows.get(position)
        mappings += plan_mappings(modules[position], mod_rows, module=int(position),
                                  module_axis=module_axis, rows_per_entry=rows_per_entry)
    return mappings


def build_layout(mappings: Iterable[VirtualMapping], shape: tuple[int, ...], dtype, *,
                 path_of: PathOf | None = None,
                 layout: h5py.VirtualLayout | None = None) -> h5py.VirtualLayout:
    """Turn planned mappings into an ``h5py.VirtualLayout`` (no file is opened).

    Every mapping is stored as an explicit hyperslab of a source dataspace of the
    planned shape, so ``xfconvert validate`` can later tell when a source got shorter.

    Parameters
    ----------
    mappings : iterable of VirtualMapping
    shape : tuple of int
        Shape of the virtual dataset.
    dtype : numpy dtype
    path_of : callable, optional
        Source file name -> name stored in the layout: :func:`absolute_path` (default)
        or :func:`relative_to`.
    layout : h5py.VirtualLayout, optional
        Add to an existing layout (``shape``/``dtype`` are then ignored).

    Returns
    -------
    h5py.VirtualLayout
        Pass it to ``group.create_virtual_dataset(name, layout, fillvalue=...)``.
    """
    path_of = path_of or absolute_path
    if layout is None:
        layout = h5py.VirtualLayout(shape=tuple(shape), dtype=dtype)
    out_shape = tuple(layout.shape)
    # Selections are set with h5py's low-level dataspace calls: the high-level
    # ``layout[...] = source[...]`` deep-copies the source for every slice, which
    # dominated the cost of files with thousands of keys. HDF5 copies the selections
    # when a mapping is added, so one dataspace per shape is re-selected each time.
    vspace = h5s.create_simple(out_shape)
    src_spaces: dict[tuple[int, ...], h5s.SpaceID] = {}
    names: dict[str, bytes] = {}
    for m in mappings:
        start, count = _dest_hyperslab(m, out_shape)
        vspace.select_hyperslab(start, count)
        src_space = src_spaces.get(m.source_shape)
        if src_space is None:
            src_space = src_spaces[m.source_shape] = h5s.create_simple(m.source_shape)
        src_space.select_hyperslab((m.src_start,) + (0,) * (len(m.source_shape) - 1),
                                   (m.n_entries,) + tuple(m.source_shape[1:]))
        stored = names.get(m.filename)
        if stored is None:
            stored = names[m.filename] = os.fsencode(path_of(m.filename))
        layout.dcpl.set_virtual(vspace, stored, m.dataset_path.encode(), src_space)
    return layout


def _dest_hyperslab(m: VirtualMapping, out_shape: tuple[int, ...]
                    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(start, count) of a mapping's rows (and module) in an output of ``out_shape``."""
    start = [0] * len(out_shape)
    count = list(out_shape)
    row_axis = 0
    if m.module is not None:
        row_axis = 1 - m.module_axis
        start[m.module_axis], count[m.module_axis] = m.module, 1
    start[row_axis], count[row_axis] = m.dest_rows
    if any(a + n > size for a, n, size in zip(start, count, out_shape)):
        raise OptionError(f"Mapping {m} does not fit in an output of shape {out_shape}.")
    return tuple(start), tuple(count)


def layout_for_chunks(chunks: Sequence[DataChunk], shape: tuple[int, ...], dtype, *,
                      dest_offset: int = 0, layout: h5py.VirtualLayout | None = None,
                      path_of: PathOf | None = None) -> h5py.VirtualLayout:
    """A layout placing ``chunks`` one after another from row ``dest_offset``.

    Shorthand for ``build_layout(plan_mappings(chunks, dest_offset=...), ...)``.

    Examples
    --------
    >>> layout = layout_for_chunks([], (0, 4), "f4")
    >>> layout.shape
    (0, 4)
    """
    return build_layout(plan_mappings(chunks, dest_offset=dest_offset), shape, dtype,
                        path_of=path_of, layout=layout)
