"""Chunk plans: where the entries of one (source, key) live on disk.

A chunk plan is the ordered list of :class:`DataChunk` objects for one key over a set of
trains. Each chunk is a contiguous run of entries in one dataset of one file, together with
the trains those entries belong to. Readers read each chunk with one h5py call; every writer
consumes chunk plans, so no writer ever re-parses an HDF5 index.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=6,
...                             n_sequences=2))
>>> kd = run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"]
>>> [(c.slice, c.train_ids.tolist()) for c in kd.chunk_plan()]  # doctest: +NORMALIZE_WHITESPACE
[(slice(0, 3, None), [10000, 10001, 10002]), (slice(0, 3, None), [10003, 10004, 10005])]
"""
from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from ..exceptions import FileStructureError
from .file_access import FileAccess

__all__ = ["DataChunk", "plan_chunks"]


@dataclass(frozen=True, eq=False)
class DataChunk:
    """A contiguous run of entries of one key in one file.

    Attributes
    ----------
    file : FileAccess
        The file holding the entries.
    source, key : str
        What the entries are.
    dataset_path : str
        Path of the dataset inside the file.
    first : int
        Position of the first entry in the dataset.
    train_ids : numpy.ndarray
        uint64 IDs of the trains in this chunk, each with at least one entry, ascending.
    counts : numpy.ndarray
        uint64 number of entries of each train; entries of consecutive trains are adjacent.
    """

    file: FileAccess
    source: str
    key: str
    dataset_path: str
    first: int
    train_ids: np.ndarray
    counts: np.ndarray

    @property
    def n_entries(self) -> int:
        """Number of entries (e.g. frames) in the chunk."""
        return int(self.counts.sum())

    @property
    def slice(self) -> slice:
        """The chunk's entries as a slice of the dataset's first axis."""
        return slice(self.first, self.first + self.n_entries)

    @property
    def entry_train_ids(self) -> np.ndarray:
        """The train ID of each entry (``np.repeat(train_ids, counts)``)."""
        return np.repeat(self.train_ids, self.counts.astype(np.int64))

    @property
    def dataset(self) -> h5py.Dataset:
        """The h5py dataset (the file is opened on demand)."""
        return self.file.dataset(self.dataset_path)

    def __repr__(self) -> str:
        return (f"DataChunk({self.file.filename!r}, {self.dataset_path!r}, "
                f"entries {self.first}:{self.first + self.n_entries}, "
                f"{len(self.train_ids)} trains)")


def plan_chunks(files: tuple[FileAccess, ...], source: str, key: str, is_control: bool,
                train_ids: np.ndarray) -> tuple[list[DataChunk], np.ndarray]:
    """Compute the chunk plan and the per-train entry counts of one key.

    Parameters
    ----------
    files : tuple of FileAccess
        Files holding the source.
    source, key : str
    is_control : bool
        Control sources are indexed per source, instrument sources per key group.
    train_ids : numpy.ndarray
        Sorted uint64 train IDs to include.

    Returns
    -------
    chunks : list of DataChunk
        In train order.
    counts : numpy.ndarray
        uint64 entries per train, aligned with ``train_ids``.

    Raises
    ------
    FileStructureError
        If an index points past the end of the dataset.
    """
    group = FileAccess.index_group(is_control, key)
    counts = np.zeros(len(train_ids), dtype=np.uint64)
    pieces: list[tuple[int, DataChunk]] = []
    for fa in files:
        if not fa.has_key(source, key):
            continue
        plan = _file_group_plan(fa, source, group, train_ids)
        if plan is None:
            continue
        rows, row_counts, segments, last_end = plan
        counts[rows] += row_counts
        if not segments:
            continue
        n_in_dataset = fa.dataset_info(source, key)[0][0]
        if last_end > n_in_dataset:
            _raise_past_end(fa, source, key, group, train_ids, n_in_dataset)
        path = fa.dataset_path(source, key)
        for first, t, c in segments:
            pieces.append((int(t[0]), DataChunk(fa, source, key, path, first, t, c)))
    pieces.sort(key=lambda item: item[0])
    return _split_interleaved([chunk for _, chunk in pieces]), counts


def _file_group_plan(fa: FileAccess, source: str, group: str, train_ids: np.ndarray):
    """Per-file plan of one index group, shared by every key of the group.

    Returns ``(rows, counts, segments, max_end)`` where rows/counts add the file's entry
    counts to the selection's trains, segments are ``(first, train_ids, counts)`` of
    contiguous entry runs, and max_end is the largest entry index + 1 (to check against
    each key's dataset length). None if the file has none of the trains. Cached on the
    FileAccess, keyed by the identity of ``train_ids`` (shared by a collection's keys).
    """
    cached = fa._group_plans.get((source, group))
    if cached is not None and cached[0] is train_ids:
        return cached[1]
    pos, match = fa.positions_in(train_ids)
    result = None
    if match.any():
        first, count = fa.get_index(source, group)
        nz = match & (count > 0)
        f, c, t = first[nz], count[nz], fa.train_ids[nz]
        ends = f + c
        segments = []
        if f.size:
            breaks = np.flatnonzero(f[1:] != ends[:-1]) + 1
            bounds = np.concatenate(([0], breaks, [len(f)]))
            segments = [(int(f[lo]), t[lo:hi], c[lo:hi])
                        for lo, hi in zip(bounds[:-1], bounds[1:])]
        result = (pos[match], count[match], segments, int(ends.max()) if ends.size else 0)
    fa._group_plans[(source, group)] = (train_ids, result)
    return result


def _raise_past_end(fa: FileAccess, source: str, key: str, group: str,
                    train_ids: np.ndarray, n_in_dataset: int) -> None:
    pos, match = fa.positions_in(train_ids)
    first, count = fa.get_index(source, group)
    nz = match & (count > 0)
    ends = first[nz] + count[nz]
    i = int(np.flatnonzero(ends > n_in_dataset)[0])
    raise FileStructureError(
        fa.filename,
        f"index points past the end of the data: train {fa.train_ids[nz][i]} needs entries "
        f"{first[nz][i]}:{ends[i]} but the dataset has {n_in_dataset}",
        source, key,
    )


def _split_interleaved(chunks: list[DataChunk]) -> list[DataChunk]:
    """Split chunks so that concatenating them gives entries in train order.

    Normally each file holds a block of consecutive trains and nothing changes; when
    files hold alternating trains of one source, chunks are cut wherever the next
    train (in train order) lives in another chunk.
    """
    if len(chunks) < 2:
        return chunks
    last_tids = np.array([c.train_ids[-1] for c in chunks])
    first_tids = np.array([c.train_ids[0] for c in chunks])
    if np.all(first_tids[1:] > last_tids[:-1]):
        return chunks
    tids = np.concatenate([c.train_ids for c in chunks])
    owner = np.repeat(np.arange(len(chunks)), [len(c.train_ids) for c in chunks])
    local = np.concatenate([np.arange(len(c.train_ids)) for c in chunks])
    order = np.argsort(tids, kind="stable")
    owner, local = owner[order], local[order]
    cuts = np.flatnonzero((owner[1:] != owner[:-1]) | (local[1:] != local[:-1] + 1)) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [len(owner)]))
    result = []
    for a, b in zip(starts, stops):
        c = chunks[owner[a]]
        lo, hi = int(local[a]), int(local[b - 1]) + 1
        offset = int(c.counts[:lo].sum())
        result.append(DataChunk(c.file, c.source, c.key, c.dataset_path, c.first + offset,
                                c.train_ids[lo:hi], c.counts[lo:hi]))
    return result
