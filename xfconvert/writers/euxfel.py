"""EuXFEL-format subset files: the selected sources, keys and trains in the original layout.

Two writers share one copying engine:

``euxfel`` (:class:`EuXFELWriter`)
    One HDF5 file (format 1.0) holding the selection: METADATA, INDEX, CONTROL, RUN and
    INSTRUMENT, readable by :func:`~xfconvert.H5File` and any EuXFEL tool.
``euxfel-run`` (:class:`EuXFELRunWriter`)
    A run directory of sequence files, split by train so each file holds about
    ``max_file_size`` bytes of data; readable by :func:`~xfconvert.RunDirectory`.

Data is streamed: each key is copied chunk plan by chunk plan in slabs of at most
``_SLAB_BYTES``. Where the output keeps the input's HDF5 chunk shape and filters and a
slab is aligned to chunk boundaries on both sides, compressed chunks are copied as they
are (``read_direct_chunk``/``write_direct_chunk``), without decompressing; otherwise a
slab is read into a reused buffer and written. :func:`write_frames` writes selected
detector frames with the same engine, picking frames from contiguous slabs in numpy.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory, H5File
>>> from xfconvert.testing import make_run
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> run = RunDirectory(make_run(tmp / "r1", n_trains=6, n_sequences=2))
>>> out = write(run.select("*_XGM/*").select_trains(slice(1, 4)), tmp / "xgm.h5")
>>> sub = H5File(out)
>>> sub.train_ids, sorted(sub.all_sources)
([10001, 10002, 10003], ['SA1_XTD2_XGM/DOOCS/MAIN', 'SA1_XTD2_XGM/DOOCS/MAIN:output'])
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional, Sequence

import h5py
import hdf5plugin  # noqa: F401  (registers the zstd/lz4/bitshuffle filters with HDF5)
import numpy as np
from h5py import h5d, h5p, h5s, h5z

from ..exceptions import FileStructureError, OptionError, OutputError, TrainIDError
from ..readers.chunks import DataChunk
from ..readers.collection import DataCollection
from ..readers.file_access import FileAccess
from ..readers.keydata import KeyData
from ..readers.selection import by_id
from . import interrupts
from .base import (ProgressCallback, WritePlan, atomic_output, checked_progress, convert,
                   provenance)
from .boundary import error_boundary
from .chunk_alloc import allocated_chunk_offsets
from .euxfel_format import (copy_run_values, run_facts, write_metadata, write_source_index,
                            write_train_index)

log = logging.getLogger(__name__)

__all__ = ["EuXFELWriter", "EuXFELOptions", "EuXFELRunWriter", "EuXFELRunOptions", "write",
           "write_frames"]

# Upper bound of one read/write (and of the reused buffer) while copying a key.
_SLAB_BYTES = 32 << 20
# One h5py call costs about as much as moving this many bytes; when picking frames, gaps
# smaller than this are read through rather than splitting the read.
_CALL_COST_BYTES = 100_000


Compression = Literal["none", "keep", "zstd", "lz4", "bitshuffle", "gzip"]
_COMPRESSION_HELP = ("'keep': the input's HDF5 filters (compressed chunks are copied "
                     "without decompressing); 'none': no compression; 'zstd', 'lz4', "
                     "'bitshuffle' (hdf5plugin) or 'gzip': recompress image-like datasets "
                     "(entries with 2 or more dimensions).")


@dataclass(frozen=True)
class EuXFELOptions:
    """Options of the ``euxfel`` writer."""

    compression: Compression = field(default="keep", metadata={"help": _COMPRESSION_HELP})


@dataclass(frozen=True)
class EuXFELRunOptions:
    """Options of the ``euxfel-run`` writer."""

    compression: Compression = field(default="keep", metadata={"help": _COMPRESSION_HELP})
    max_file_size: Optional[int] = field(default=None, metadata={
        "help": "Split the output into sequence files of at most this many bytes of data "
                "each (whole trains; a single train bigger than this gets its own file). "
                "Default: one file."})

    def __post_init__(self) -> None:
        if self.max_file_size is not None and self.max_file_size < 1:
            raise OptionError(f"max_file_size must be a positive number of bytes, got "
                              f"{self.max_file_size}.")


# ---- progress -----------------------------------------------------------------------
class _Progress:
    """Counts work done and reports it after every unit."""

    def __init__(self, callback: ProgressCallback, total: int):
        self.callback, self.total, self.done = callback, total, 0

    def advance(self, units: int) -> None:
        self.done += units
        self.callback(self.done, self.total)


# ---- plan items -----------------------------------------------------------------------
def _h5_path(root: str, source: str, key: str) -> str:
    return f"{root}/{source}/{key.replace('.', '/')}"


@dataclass(frozen=True, eq=False)
class FileHeader:
    """METADATA and the train-level INDEX (trainId, timestamp, flag, origin)."""

    train_ids: np.ndarray
    data_sources: tuple[str, ...]           # METADATA/dataSources/dataSourceId entries
    files: tuple[FileAccess, ...]           # inputs to take timestamps and run facts from
    sequence: int = 0

    @property
    def cost(self) -> int:
        return 24 * len(self.train_ids) + 1

    def __str__(self) -> str:
        return (f"METADATA ({len(self.data_sources)} data sources) and INDEX/trainId "
                f"({len(self.train_ids)} trains)")

    def write(self, out: h5py.File, progress: _Progress) -> None:
        write_metadata(out, self.data_sources, self.files, self.sequence)
        write_train_index(out, self.train_ids, self.files)
        progress.advance(self.cost)


@dataclass(frozen=True, eq=False)
class IndexGroup:
    """INDEX/<source>[/<group>]/first and count for the output's trains."""

    source: str
    group: str  # '' for control sources
    counts: np.ndarray

    @property
    def path(self) -> str:
        return f"INDEX/{self.source}" + (f"/{self.group}" if self.group else "")

    @property
    def cost(self) -> int:
        return 16 * len(self.counts) + 1

    def __str__(self) -> str:
        return (f"{self.path}: {int(self.counts.sum())} entries in "
                f"{int(np.count_nonzero(self.counts))} of {len(self.counts)} trains")

    def write(self, out: h5py.File, progress: _Progress) -> None:
        write_source_index(out.require_group(self.path), self.counts)
        progress.advance(self.cost)


@dataclass(frozen=True, eq=False)
class KeyCopy:
    """Copy one (source, key): its chunk plan, optionally only the entries in ``mask``."""

    source: str
    key: str
    out_path: str
    chunks: tuple[DataChunk, ...]
    template: tuple[FileAccess, str]   # input dataset giving type, layout and attributes
    entry_shape: tuple[int, ...]
    dtype: np.dtype
    n_entries: int                     # entries written
    compression: str
    mask: Optional[np.ndarray] = None  # over the chunk plan's entries, in order

    @property
    def entry_bytes(self) -> int:
        return int(np.prod(self.entry_shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def cost(self) -> int:
        return self.n_entries * self.entry_bytes + 1

    def __str__(self) -> str:
        shape = "x".join(map(str, self.entry_shape)) or "scalar"
        picked = " (selected frames)" if self.mask is not None else ""
        return (f"{self.out_path}: {self.n_entries} entries of {shape} {self.dtype}{picked} "
                f"from {len(self.chunks)} chunk(s), {self.n_entries * self.entry_bytes} bytes")

    def write(self, out: h5py.File, progress: _Progress) -> None:
        fa, path = self.template
        try:
            template = fa.file[path]
            dset = _create_like(out, self.out_path, template, self.n_entries, self.compression)
            _copy_attrs(template, dset)
        except OSError as err:
            raise OutputError(f"Creating {self.out_path} in {out.filename} failed: {err}") \
                from err
        _KeyCopier(self, dset, progress).run()
        progress.advance(1)


@dataclass(frozen=True, eq=False)
class RunValue:
    """RUN/<source>/<key>: the run-start value of a control key, copied as it is."""

    source: str
    key: str
    file: FileAccess

    @property
    def path(self) -> str:
        return _h5_path("RUN", self.source, self.key)

    cost: ClassVar[int] = 1

    def __str__(self) -> str:
        return f"{self.path} (from {Path(self.file.filename).name})"

    def write(self, out: h5py.File, progress: _Progress) -> None:
        copy_run_values(out, self.file, [self.path], self.source, self.key)
        progress.advance(self.cost)


@dataclass(frozen=True, eq=False)
class InSequenceFile:
    """An item of one sequence file of a run directory (``euxfel-run``)."""

    filename: str
    item: Any

    @property
    def cost(self) -> int:
        return self.item.cost

    def __str__(self) -> str:
        return f"{self.filename}: {self.item}"


# ---- planning ---------------------------------------------------------------------------
def plan_file(data: DataCollection, compression: str, *, sequence: int = 0,
              frame_masks: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> list:
    """The items writing ``data`` as one EuXFEL file (empty list: nothing selected).

    Parameters
    ----------
    data : DataCollection
    compression : str
        One of the ``compression`` option's values.
    sequence : int
        Written to METADATA/sequenceNumber.
    frame_masks : dict, optional
        source -> (boolean mask over the entries of its ``image`` group, entries per
        train): write only those entries of that group (used by :func:`write_frames`).
    """
    if not data.all_sources:
        return []
    train_ids = data.train_id_array
    items: list = []
    data_sources: list[str] = []
    files: dict[FileAccess, None] = {}
    for source in sorted(data.all_sources):
        sd = data[source]
        files.update(dict.fromkeys(sd.files))
        groups: dict[str, list[KeyData]] = {}
        for key in sorted(sd.keys()):
            # Built directly: sd[key] would re-resolve the key list for every key.
            kd = KeyData(source, key, train_ids=train_ids, files=sd.files,
                         is_control=sd.is_control)
            groups.setdefault(FileAccess.index_group(sd.is_control, key), []).append(kd)
        for group, kds in sorted(groups.items()):
            plans, counts = _group_plans(data, source, kds)
            mask = None
            if frame_masks and source in frame_masks and group == "image":
                mask, counts = frame_masks[source]
            items.append(IndexGroup(source, group, counts))
            data_sources.append(f"CONTROL/{source}" if sd.is_control
                                else f"INSTRUMENT/{source}/{group}")
            n_entries = int(counts.sum())
            for kd, plan in zip(kds, plans):
                items.append(_key_copy(kd, plan, n_entries, compression, mask))
        if sd.is_control:
            items += _run_values(source, sd.keys(), sd.files)
    header = FileHeader(train_ids, tuple(dict.fromkeys(data_sources)), tuple(files), sequence)
    return [header, *items]


def _group_plans(data: DataCollection, source: str, kds: list[KeyData]
                 ) -> tuple[list[list[DataChunk]], np.ndarray]:
    """Chunk plans of the keys of one index group, and their common entries per train.

    Keys of a group share their INDEX entries, so when they are stored in the same files
    their plans differ only in the dataset path: the train mapping is computed once per
    group instead of once per key (thousands of control keys). Dataset lengths are
    checked when each dataset is opened for copying.
    """
    base = kds[0]
    plans = [base.chunk_plan()]
    counts = base.data_counts(labelled=False)
    holders = _holders(base)
    for kd in kds[1:]:
        if _holders(kd) == holders:
            plans.append([dataclasses.replace(c, key=kd.key, dataset_path=c.file.dataset_path(
                kd.source, kd.key)) for c in plans[0]])
            continue
        other = kd.data_counts(labelled=False)
        if not np.array_equal(other, counts):
            bad = np.flatnonzero(other != counts)[0]
            raise FileStructureError(
                str(data.run_path or kd.files[0].filename),
                f"keys of one index group disagree on their entries: train "
                f"{data.train_id_array[bad]} has {other[bad]} entries of {kd.key} but "
                f"{counts[bad]} of {base.key}", source, kd.key)
        plans.append(kd.chunk_plan())
    return plans, counts


def _holders(kd: KeyData) -> tuple[bool, ...]:
    return tuple(fa.has_key(kd.source, kd.key) for fa in kd.files)


def _key_copy(kd: KeyData, plan: list[DataChunk], n_entries: int, compression: str,
              mask: np.ndarray | None) -> KeyCopy:
    template = next(fa for fa in kd.files if fa.has_key(kd.source, kd.key))
    root = "CONTROL" if kd.is_control else "INSTRUMENT"
    return KeyCopy(kd.source, kd.key, _h5_path(root, kd.source, kd.key),
                   tuple(plan), (template, template.dataset_path(kd.source, kd.key)),
                   tuple(kd.entry_shape), np.dtype(kd.dtype), n_entries, compression, mask)


def _run_values(source: str, keys, files: Sequence[FileAccess]) -> list[RunValue]:
    items = []
    for key in sorted(keys):
        path = _h5_path("RUN", source, key)
        holder = next((fa for fa in files if path in fa.file), None)
        if holder is None:
            log.info("No RUN value for %s %s in the input; none written", source, key)
            continue
        items.append(RunValue(source, key, holder))
    return items


def _total(items: list) -> int:
    return sum(item.cost for item in items)


# ---- writing one file -------------------------------------------------------------------
def write_items(items: list, path: Path, progress: _Progress, attrs: dict[str, str]) -> None:
    """Write planned items into a new HDF5 file at ``path`` (closed on return)."""
    try:
        out = h5py.File(path, "w")
    except OSError as err:
        raise OutputError(f"Cannot create {path}: {err}") from err
    with out:
        out.attrs.update(attrs)
        for item in items:
            item.write(out, progress)


# ---- datasets: layout, filters, attributes -----------------------------------------------
def _set_compression(dcpl: h5p.PropDCID, compression: str) -> None:
    dcpl.remove_filter(h5z.FILTER_ALL)
    if compression == "gzip":
        dcpl.set_shuffle()
        dcpl.set_deflate(4)
    elif compression != "none":
        filt = {"zstd": hdf5plugin.Zstd, "lz4": hdf5plugin.LZ4,
                "bitshuffle": hdf5plugin.Bitshuffle}[compression]()
        dcpl.set_filter(filt.filter_id, h5z.FLAG_OPTIONAL, tuple(filt.filter_options))


def _create_like(out: h5py.File, path: str, template: h5py.Dataset, n_entries: int,
                 compression: str) -> h5py.Dataset:
    """Create ``path`` with the template's type, and its layout and filters as chosen.

    'keep' copies the template's creation properties (chunk shape, filters, fill value);
    other choices recompress image-like datasets ('none' uncompresses everything).
    """
    entry_shape = template.shape[1:]
    in_dcpl = template.id.get_create_plist()
    chunked = in_dcpl.get_layout() == h5d.CHUNKED
    recompress = compression == "none" or (
        compression != "keep" and len(entry_shape) >= 2)
    if chunked:
        dcpl = in_dcpl.copy()
    else:
        # Contiguous/compact/virtual inputs: a plain layout (compact has a size limit and
        # a virtual layout must never be copied).
        dcpl = h5p.create(h5p.DATASET_CREATE)
    if recompress and compression != "none" and not chunked:
        dcpl.set_chunk((1,) + tuple(max(d, 1) for d in entry_shape))
        chunked = True
    if recompress and chunked:
        _set_compression(dcpl, compression)
    shape = (n_entries,) + entry_shape
    maxshape = ((h5s.UNLIMITED,) + entry_shape) if chunked else shape
    space = h5s.create_simple(shape, maxshape)
    lcpl = h5p.create(h5p.LINK_CREATE)
    lcpl.set_create_intermediate_group(True)
    dsid = h5d.create(out.id, path.encode(), template.id.get_type(), space, dcpl=dcpl,
                      lcpl=lcpl)
    return h5py.Dataset(dsid)


def _copy_attrs(src: h5py.Dataset, dst: h5py.Dataset) -> None:
    for name in src.attrs:
        dst.attrs.create(name, src.attrs[name], dtype=src.attrs.get_id(name).dtype)


def _storage(dset: h5py.Dataset) -> tuple | None:
    """(chunk shape, filter pipeline, dtype) of a chunked dataset; None if not chunked."""
    dcpl = dset.id.get_create_plist()
    if dcpl.get_layout() != h5d.CHUNKED:
        return None
    filters = tuple(dcpl.get_filter(i)[:3] for i in range(dcpl.get_nfilters()))
    return dcpl.get_chunk(), filters, dset.dtype


# ---- the copying engine -------------------------------------------------------------------
class _KeyCopier:
    """Streams one KeyCopy into its output dataset, slab by slab.

    Holds one reused slab buffer (allocated on first need) and at most one raw chunk.
    """

    def __init__(self, spec: KeyCopy, out: h5py.Dataset, progress: _Progress):
        self.spec, self.out, self.progress = spec, out, progress
        self.entry_bytes = max(spec.entry_bytes, 1)
        self.out_storage = _storage(out)
        self.generic = out.dtype.hasobject  # variable-length types: no read_direct
        self._buffer: np.ndarray | None = None
        self._picked: np.ndarray | None = None
        self.direct_chunks = 0  # chunks copied without decompressing (for tests/logs)
        self._allocated: dict[tuple[str, str], frozenset] = {}

    def run(self) -> None:
        spec = self.spec
        pos = 0          # next output entry
        plan_pos = 0     # position in the chunk plan's entries (for the mask)
        for chunk in spec.chunks:
            n = chunk.n_entries
            src = self._input(chunk)
            if spec.mask is None:
                self._copy_range(chunk, src, chunk.first, pos, n)
                pos += n
            else:
                pos = self._copy_selected(chunk, src, spec.mask[plan_pos:plan_pos + n], pos)
            plan_pos += n
        if pos != spec.n_entries:
            raise FileStructureError(spec.template[0].filename,
                                     f"planned {spec.n_entries} entries but found {pos}",
                                     spec.source, spec.key)
        if self.direct_chunks:
            log.debug("%s: %d chunks copied without decompressing", spec.out_path,
                      self.direct_chunks)

    def _input(self, chunk: DataChunk) -> h5py.Dataset:
        try:
            dset = chunk.dataset
        except (OSError, KeyError) as err:
            raise FileStructureError(chunk.file.filename, f"cannot open dataset ({err})",
                                     chunk.source, chunk.key) from err
        end = chunk.first + chunk.n_entries
        if end > dset.shape[0]:
            raise FileStructureError(chunk.file.filename, f"index points past the end of "
                                     f"the data: entries up to {end} but the dataset has "
                                     f"{dset.shape[0]}", chunk.source, chunk.key)
        return dset

    def _slab_entries(self, align: int = 1) -> int:
        n = max(1, _SLAB_BYTES // self.entry_bytes)
        return max(align, n - n % align)

    def picked_buffer(self) -> np.ndarray:
        if self._picked is None:
            self._picked = np.empty_like(self.buffer())
        return self._picked

    def buffer(self) -> np.ndarray:
        if self._buffer is None:
            self._buffer = np.empty((self._slab_entries(),) + self.spec.entry_shape,
                                    dtype=self.out.dtype)
        return self._buffer

    # -- whole ranges --
    def _copy_range(self, chunk: DataChunk, src: h5py.Dataset, first: int, pos: int,
                    n: int) -> None:
        storage = _storage(src)
        # Variable-length data points into the input's heap: never copy its chunks raw.
        direct = not self.generic and storage is not None and storage == self.out_storage
        rows = storage[0][0] if direct else 1
        step = self._slab_entries(rows)
        for offset in range(0, n, step):
            m = min(step, n - offset)
            if direct:
                self._copy_aligned(chunk, src, first + offset, pos + offset, m, storage[0])
            else:
                self._read_write(chunk, src, first + offset, pos + offset, m)
            self.progress.advance(m * self.spec.entry_bytes)

    def _copy_aligned(self, chunk: DataChunk, src: h5py.Dataset, a: int, p: int, m: int,
                      chunk_shape: tuple[int, ...]) -> None:
        """Copy entries a:a+m to p:p+m, whole HDF5 chunks raw where both sides align."""
        rows = chunk_shape[0]
        if (a - p) % rows:
            self._read_write(chunk, src, a, p, m)
            return
        head = min((-a) % rows, m)
        if head:
            self._read_write(chunk, src, a, p, head)
        n_full = (m - head) // rows
        tail = m - head - n_full * rows
        # A partial last HDF5 chunk can go raw only if it ends both datasets: the padding
        # beyond the end of the input would otherwise become visible in the output.
        if tail and a + m == src.shape[0] and p + m == self.out.shape[0]:
            n_full, tail = n_full + 1, 0
        tiles = list(itertools.product(*(range(0, d, c) for d, c in
                                         zip(src.shape[1:], chunk_shape[1:]))))
        for i in range(n_full):
            row_in, row_out = a + head + i * rows, p + head + i * rows
            for tile in tiles:
                self._copy_raw_chunk(chunk, src, (row_in,) + tile, (row_out,) + tile,
                                     min(rows, m - head - i * rows))
        if tail:
            done = head + (m - head - tail)
            self._read_write(chunk, src, a + done, p + done, tail)

    def _allocated_chunks(self, chunk: DataChunk, src: h5py.Dataset) -> frozenset:
        """Offsets of the chunks of ``src`` that exist in the file (read once a dataset)."""
        where = (chunk.file.filename, src.name)
        if where not in self._allocated:
            try:
                self._allocated[where] = allocated_chunk_offsets(src)
            except (OSError, RuntimeError) as err:
                raise FileStructureError(chunk.file.filename, f"cannot list HDF5 chunks "
                                         f"({err})", chunk.source, chunk.key) from err
        return self._allocated[where]

    def _copy_raw_chunk(self, chunk: DataChunk, src: h5py.Dataset, at_in: tuple,
                        at_out: tuple, rows: int) -> None:
        if at_in not in self._allocated_chunks(chunk, src):
            # Never written in the input (h5py's read_direct_chunk cannot read it): an
            # ordinary read gives its fill values.
            self._read_write(chunk, src, at_in[0], at_out[0], rows)
            return
        try:
            mask, raw = src.id.read_direct_chunk(at_in)
        except OSError as err:
            raise FileStructureError(chunk.file.filename, f"cannot read HDF5 chunk at "
                                     f"{at_in} ({err})", chunk.source, chunk.key) from err
        try:
            self.out.id.write_direct_chunk(at_out, raw, mask)
        except OSError as err:
            raise OutputError(f"Writing {self.spec.out_path} failed: {err}") from err
        self.direct_chunks += 1

    def _read_write(self, chunk: DataChunk, src: h5py.Dataset, a: int, p: int, m: int) -> None:
        """Copy entries a:a+m of ``src`` to p:p+m of the output through the buffer."""
        step = self._slab_entries()
        for offset in range(0, m, step):
            k = min(step, m - offset)
            block = self._read(chunk, src, a + offset, k)
            self._write(block, p + offset)

    def _read(self, chunk: DataChunk, src: h5py.Dataset, a: int, k: int) -> np.ndarray:
        try:
            if self.generic:
                return src[a:a + k]
            block = self.buffer()[:k]
            src.read_direct(block, source_sel=np.s_[a:a + k])
            return block
        except (OSError, TypeError, ValueError) as err:
            raise FileStructureError(chunk.file.filename, f"cannot read entries "
                                     f"{a}:{a + k} ({err})", chunk.source, chunk.key) from err

    def _write(self, block: np.ndarray, p: int) -> None:
        try:
            if self.generic:
                self.out[p:p + len(block)] = block
            elif len(block):
                self.out.write_direct(np.ascontiguousarray(block),
                                      dest_sel=np.s_[p:p + len(block)])
        except (OSError, TypeError, ValueError) as err:
            raise OutputError(f"Writing {self.spec.out_path} failed: {err}") from err

    # -- selected entries (write_frames) --
    def _copy_selected(self, chunk: DataChunk, src: h5py.Dataset, mask: np.ndarray,
                       pos: int) -> int:
        """Copy the entries of ``chunk`` where ``mask`` is set; returns the next position."""
        step = self._slab_entries()
        gap = max(1, _CALL_COST_BYTES // self.entry_bytes)
        for offset in range(0, len(mask), step):
            sel = mask[offset:offset + step]
            picked = np.flatnonzero(sel)
            if not picked.size:
                continue
            buf = self.buffer()[:len(sel)] if not self.generic else None
            # Runs of selected entries, merged across gaps cheaper to read than to skip.
            breaks = np.flatnonzero(np.diff(picked) > gap) + 1
            starts = picked[np.concatenate(([0], breaks))]
            stops = picked[np.concatenate((breaks - 1, [picked.size - 1]))] + 1
            if self.generic:
                lo, hi = int(starts[0]), int(stops[-1])
                block = self._read(chunk, src, chunk.first + offset + lo, hi - lo)[picked - lo]
            else:
                for lo, hi in zip(starts.tolist(), stops.tolist()):
                    a = chunk.first + offset + lo
                    try:
                        src.read_direct(buf[lo:hi], source_sel=np.s_[a:a + hi - lo])
                    except (OSError, TypeError, ValueError) as err:
                        raise FileStructureError(
                            chunk.file.filename, f"cannot read entries {a}:{a + hi - lo} "
                            f"({err})", chunk.source, chunk.key) from err
                # Gather into a second reused buffer: a fresh array per slab would
                # leave the allocator holding one more slab per module.
                block = np.take(buf, picked, axis=0, out=self.picked_buffer()[:picked.size])
            self._write(block, pos)
            pos += len(block)
            self.progress.advance(len(block) * self.spec.entry_bytes)
        return pos


# ---- the writers ---------------------------------------------------------------------------
class EuXFELWriter:
    """Write a selection to one EuXFEL-format HDF5 file (format 1.0).

    Examples
    --------
    >>> from xfconvert.writers.base import convert
    >>> convert(run.select("*/DET/*"), "det.h5", to="euxfel", compression="zstd")  # doctest: +SKIP
    """

    name: ClassVar[str] = "euxfel"
    description: ClassVar[str] = ("EuXFEL-format HDF5 file with the selected sources, keys "
                                  "and trains (readable by H5File/EXtra-data)")
    suffix: ClassVar[str] = ".h5"
    output_is_directory: ClassVar[bool] = False
    options_type: ClassVar[type] = EuXFELOptions

    def plan(self, data: DataCollection, options: EuXFELOptions) -> WritePlan:
        items = plan_file(data, options.compression)
        return WritePlan(data=data, options=options, items=items, total=_total(items))

    def write_plan(self, plan: WritePlan, path: Path, progress: ProgressCallback) -> None:
        write_items(plan.items, Path(path), _Progress(progress, plan.total),
                    provenance(plan.data, self.name))


class EuXFELRunWriter:
    """Write a selection as a run directory of EuXFEL sequence files.

    Examples
    --------
    >>> from xfconvert.writers.base import convert
    >>> convert(run, "r0001-copy", to="euxfel-run", max_file_size=2 * 10**9)  # doctest: +SKIP
    """

    name: ClassVar[str] = "euxfel-run"
    description: ClassVar[str] = ("Run directory of EuXFEL-format sequence files, split by "
                                  "max_file_size (readable by RunDirectory/EXtra-data)")
    suffix: ClassVar[str] = ""
    output_is_directory: ClassVar[bool] = True
    options_type: ClassVar[type] = EuXFELRunOptions

    def plan(self, data: DataCollection, options: EuXFELRunOptions) -> WritePlan:
        whole = plan_file(data, options.compression)
        if not whole:
            return WritePlan(data=data, options=options)
        bounds = _split_by_size(whole, options.max_file_size)
        prefix, run_number = _name_parts(whole[0])
        items = []
        for seq, (a, b) in enumerate(bounds):
            part = whole if len(bounds) == 1 else plan_file(
                data.select_trains(slice(a, b)), options.compression, sequence=seq)
            name = f"{prefix}-R{run_number:04d}-XFC01-S{seq:05d}.h5"
            items += [InSequenceFile(name, item) for item in part]
        return WritePlan(data=data, options=options, items=items, total=_total(items))

    def write_plan(self, plan: WritePlan, path: Path, progress: ProgressCallback) -> None:
        path = Path(path)
        try:
            path.mkdir(exist_ok=True)
        except OSError as err:
            raise OutputError(f"Cannot create directory {path}: {err}") from err
        tracker = _Progress(progress, plan.total)
        attrs = provenance(plan.data, self.name)
        for name, group in itertools.groupby(plan.items, key=lambda it: it.filename):
            write_items([it.item for it in group], path / name, tracker, attrs)


def _split_by_size(items: list, max_size: int | None) -> list[tuple[int, int]]:
    """Consecutive train ranges holding at most ``max_size`` bytes of data each."""
    header = items[0]
    n = len(header.train_ids)
    if max_size is None or n == 0:
        return [(0, n)]
    per_train = np.zeros(n, dtype=np.int64)
    counts = per_train
    for it in items:  # each IndexGroup is followed by the keys of its group
        if isinstance(it, IndexGroup):
            counts = it.counts.astype(np.int64)
        elif isinstance(it, KeyCopy):
            per_train += counts * it.entry_bytes
    ends = np.cumsum(per_train)
    bounds, start = [], 0
    while start < n:  # one pass per output file, not per train
        base = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, base + max_size, side="right"))
        stop = max(stop, start + 1)
        bounds.append((start, stop))
        start = stop
    return bounds


def _name_parts(header: FileHeader) -> tuple[str, int]:
    """File name prefix (RAW/CORR, as the inputs) and run number for sequence files."""
    names = [Path(fa.filename).name for fa in header.files]
    prefix = "CORR" if names and all(n.startswith("CORR-") for n in names) else "RAW"
    return prefix, run_facts(header.files).get("runNumber", 0)


# ---- public functions -------------------------------------------------------------------------
def write(data: DataCollection, filename, *, overwrite: bool = False,
          progress: ProgressCallback | None = None, **options: Any) -> Path:
    """Write the selected data to a new EuXFEL-format HDF5 file.

    Parameters
    ----------
    data : DataCollection
        A selection (``run.select(...).select_trains(...)``).
    filename : str or Path
        The file to write; it is only replaced if ``overwrite`` is true.
    overwrite : bool
        Replace an existing file.
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)``.
    **options
        :class:`EuXFELOptions` fields, e.g. ``compression='zstd'``.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> write(run.select("*_XGM/*"), "xgm.h5", compression="none")  # doctest: +SKIP
    """
    return convert(data, filename, to=EuXFELWriter, overwrite=overwrite, progress=progress,
                   **options)


def write_frames(component, filename, trains, pulses, *, overwrite: bool = False,
                 progress: ProgressCallback | None = None,
                 compression: str = "keep") -> Path:
    """Write selected detector frames to a new EuXFEL HDF5 file with the same structure.

    For each module source, the ``image`` group holds only the selected frames (in the
    order they are stored); the other groups (``header``, ``detector``, ``trailer``) hold
    every entry of the trains that have a selected frame. INDEX/trainId lists those trains.

    Parameters
    ----------
    component : detector component
        E.g. :class:`~xfconvert.components.AGIPD1M` (XTDF detectors, with ``image.pulseId``).
    filename : str or Path
    trains, pulses : array-like of int
        Same length: ``(trains[i], pulses[i])`` names one frame by train ID and pulse ID
        (as recorded in ``image.pulseId``).
    overwrite : bool
        Replace an existing file.
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)``.
    compression : str
        As the ``compression`` option of the ``euxfel`` writer.

    Raises
    ------
    TrainIDError
        If some (train, pulse) pairs are in no module of the component.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xfconvert import RunDirectory, H5File
    >>> from xfconvert.components import AGIPD1M
    >>> from xfconvert.testing import make_run
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> det = AGIPD1M(RunDirectory(make_run(tmp / "r1", detector="agipd", n_trains=3,
    ...                                     n_modules=2, module_shape=(8, 4))))
    >>> out = write_frames(det, tmp / "frames.h5", [10000, 10002], [4, 0])
    >>> H5File(out)["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf", "image.pulseId"].ndarray().ravel()
    array([4, 0], dtype=uint64)
    """
    trains = np.asarray(trains, dtype=np.uint64).ravel()
    pulses = np.asarray(pulses, dtype=np.uint64).ravel()
    if trains.shape != pulses.shape:
        raise OptionError(f"trains and pulses must have the same length ({trains.size} "
                          f"and {pulses.size}).")
    if not trains.size:
        raise OptionError("No frames given to write_frames.")
    data, frame_masks, found = _frame_selection(component, trains, pulses)
    if not found.all():
        missing = np.flatnonzero(~found)[:5]
        pairs = ", ".join(f"({trains[i]}, {pulses[i]})" for i in missing)
        raise TrainIDError(f"{int((~found).sum())} (train, pulse) pairs are in no module of "
                           f"{component.detector_name}, e.g. {pairs}.")
    if compression not in typing.get_args(Compression):
        raise OptionError(f"compression must be one of {', '.join(typing.get_args(Compression))}"
                          f"; got {compression!r}.")
    items = plan_file(data, compression, frame_masks=frame_masks)
    plan = WritePlan(data=data, options=EuXFELOptions(compression), items=items,
                     total=_total(items))
    with interrupts.recording(), error_boundary("euxfel-frames", filename), \
            atomic_output(filename, overwrite=overwrite, inputs=data) as tmp:
        write_items(plan.items, tmp, _Progress(checked_progress(progress), plan.total),
                    provenance(data, "euxfel-frames"))
    return Path(os.path.abspath(os.fspath(filename)))


def _frame_selection(component, trains: np.ndarray, pulses: np.ndarray
                     ) -> tuple[DataCollection, dict, np.ndarray]:
    """(data of the trains concerned, source -> (image mask, counts), pair found)."""
    base = component.data
    wanted_trains = np.unique(trains)
    present = wanted_trains[np.isin(wanted_trains, base.train_id_array)]
    found = np.zeros(trains.size, dtype=bool)
    if not present.size:
        return base, {}, found
    data = base.select_trains(by_id[present])
    n_pulse = np.uint64(int(pulses.max()) + 1)
    tpos = np.searchsorted(present, trains)
    in_data = tpos < present.size
    in_data[in_data] = present[tpos[in_data]] == trains[in_data]
    wanted = np.minimum(tpos, present.size - 1).astype(np.uint64) * n_pulse + pulses
    masks = {}
    for source in sorted(component.source_to_modno):
        if (source, "image.pulseId") not in data:
            raise OptionError(f"{source} has no image.pulseId; write_frames needs pulse "
                              "IDs (XTDF detectors: AGIPD, LPD, DSSC).")
        kd = data[source, "image.pulseId"]
        pids = kd.ndarray().reshape(kd.shape[0], -1)[:, 0].astype(np.uint64)
        frame_train = np.searchsorted(present, kd.train_id_coordinates())
        in_range = pids < n_pulse
        code = frame_train.astype(np.uint64) * n_pulse + pids
        mask = in_range & np.isin(code, wanted[in_data])
        found |= in_data & np.isin(wanted, code[mask])
        masks[source] = (mask, np.bincount(frame_train[mask], minlength=present.size)
                         .astype(np.uint64))
    return data, masks, found
