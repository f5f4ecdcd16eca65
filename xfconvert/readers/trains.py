"""Train-by-train iteration over a DataCollection (``run.trains()``).

Each selected key is read in blocks of many trains (one HDF5 call per block, bounded
in bytes), then handed out train by train as views, so iterating costs little more than
reading the same bytes in bulk.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=3))
>>> for tid, data in run.select("*_XGM/*:output", "data.xTD").trains():
...     print(tid, data["SA1_XTD2_XGM/DOOCS/MAIN:output"]["data.xTD"].shape)
10000 (1000,)
10001 (1000,)
10002 (1000,)
>>> tid, data = run.select("*_XGM/DOOCS/MAIN", "*.ixPos").train_from_index(0, flat_keys=True)
>>> sorted(k for _, k in data)
['beamPosition.ixPos.value', 'metadata']
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from .keydata import KeyData, read_chunk, read_slab

if TYPE_CHECKING:
    from .collection import DataCollection

__all__ = ["iterate_trains", "key_trains"]

BLOCK_BYTES = 64 << 20  # read-ahead budget shared by all keys of one iteration


class _BlockPool:
    """Reuses read buffers once nothing refers to them any more.

    A block is handed out as per-train views; it can be refilled only when no view of
    it is alive (CPython reference counts tell), so data a caller keeps is never
    overwritten, while the common read-and-drop loop avoids fresh page faults.
    """

    def __init__(self, size: int = 2):
        self.size = size
        self.blocks: list[np.ndarray] = []

    def get(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        for i in range(len(self.blocks)):
            # references: the list slot and getrefcount's argument
            if self.blocks[i].shape == shape and sys.getrefcount(self.blocks[i]) == 2:
                return self.blocks[i]
        block = np.empty(shape, dtype=dtype)
        self.blocks.append(block)
        if len(self.blocks) > self.size:
            self.blocks.pop(0)
        return block


def key_trains(kd: KeyData, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(train_id, entries)`` for each train of ``kd`` with data, reading in blocks."""
    entry_bytes = max(1, int(np.prod(kd.entry_shape, dtype=np.int64)) * kd.dtype.itemsize)
    max_entries = max(1, block_bytes // entry_bytes)
    pool = _BlockPool()
    for chunk in kd.chunk_plan():
        ds = chunk.dataset  # opened once per chunk, not once per block
        counts = chunk.counts.astype(np.int64)
        ends = np.cumsum(counts)
        # Split the chunk into blocks of whole trains, each at most max_entries (or 1 train).
        start_train = 0
        while start_train < len(counts):
            base = ends[start_train - 1] if start_train else 0
            stop_train = int(np.searchsorted(ends, base + max_entries, side="right"))
            stop_train = max(stop_train, start_train + 1)
            n = int(ends[stop_train - 1] - base)
            block = pool.get((n,) + kd.entry_shape, kd.dtype)
            if kd.dtype.kind == "O":
                read_chunk(chunk, block, (), slice(int(base), int(base) + n))
            else:
                read_slab(ds, chunk.first + int(base), block)
            offsets = ends[start_train:stop_train] - base
            starts = offsets - counts[start_train:stop_train]
            tids = chunk.train_ids[start_train:stop_train].tolist()
            for tid, a, b in zip(tids, starts.tolist(), offsets.tolist()):
                yield tid, block[a:b]
            del block
            start_train = stop_train


def iterate_trains(data: "DataCollection", require_all: bool = False, *,
                   flat_keys: bool = False, keep_dims: bool = False,
                   block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, dict]]:
    """Yield ``(train_id, {source: {key: value, 'metadata': {...}}})`` for every train.

    Every selected source appears in every train with its ``'metadata'``
    (``{'source': ..., 'timestamp.tid': ...}``); keys appear only where they have data.
    Control values and instrument keys with one entry in the train are single entries
    (with ``keep_dims=True`` instrument keys keep the entry axis); several entries are
    an array, entries first. With ``require_all=True`` trains missing any selected key
    are skipped; with ``flat_keys=True`` the dict is keyed by ``(source, key)``.
    """
    sources = sorted(data.all_sources)
    keys = [(source, key, data[source]) for source in sources
            for key in sorted(data[source].keys())]
    # The block budget is shared by all keys, so memory stays bounded however many
    # detector modules are selected.
    per_key = max(1 << 20, block_bytes // max(1, len(keys)))
    readers = [(source, key, sd.is_control, key_trains(sd[key], per_key))
               for source, key, sd in keys]
    pending: list[tuple[int, np.ndarray] | None] = [next(r[3], None) for r in readers]
    for tid in data.train_ids:
        train: dict[str, dict[str, Any]] = {
            source: {"metadata": {"source": source, "timestamp.tid": tid}} for source in sources}
        complete = True
        for i, (source, key, squeeze_control, it) in enumerate(readers):
            item = pending[i]
            if item is not None and item[0] == tid:
                entries = item[1]
                if entries.shape[0] == 1 and (squeeze_control or not keep_dims):
                    train[source][key] = entries[0]
                else:
                    train[source][key] = entries
                item = pending[i] = None  # let the block be reused once the caller is done
                pending[i] = next(it, None)
            else:
                complete = False
        if require_all and not complete:
            continue
        if flat_keys:
            yield tid, {(source, key): value for source, values in train.items()
                        for key, value in values.items()}
        else:
            yield tid, train
        del train
