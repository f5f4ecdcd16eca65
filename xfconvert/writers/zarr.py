"""Zarr v3 output: a group per source, an array per key, labelled for xarray.

Layout of a store (see ``docs/zarr.md``):

* the root group carries the provenance attributes and ``train_ids`` (the selection's
  train IDs);
* each source is a group named after the source (``SA1_XTD2_XGM/DOOCS/MAIN:output``,
  nested at the ``/``), holding one array per key, named exactly like the key
  (``data.intensityTD``, ``beamPosition.ixPos.value``);
* the first axis runs over entries. Control sources use dimension ``trainId`` (an
  index coordinate); each INDEX group ``g`` of an instrument source uses dimension
  ``entry_g`` with coordinate arrays ``trainId_g`` (and ``pulseId_g``/``cellId_g`` when
  the group has those keys). The other axes are named ``<key>_dim_<i>``;
* a multi-module detector (``stack_detectors=True``) becomes one group named after the
  detector, one array ``(entry_g, module, ...)`` per key with fill values for missing
  modules and frames, and a boolean ``present_g`` array ``(entry_g, module)``.

Every array gets Zarr v3 ``dimension_names`` and the group's coordinates listed in its
``coordinates`` attribute, so ``xarray.open_zarr(store, group=source)`` returns a labelled
Dataset. Metadata are consolidated at the end.

Examples
--------
>>> import tempfile, pathlib
>>> import xarray as xr
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> from xfconvert.writers.base import convert
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> run = RunDirectory(make_run(tmp / "r1", n_trains=4))
>>> out = convert(run.select("*_XGM/*"), tmp / "xgm.zarr", to=ZarrWriter)
>>> ds = xr.open_zarr(out, group="SA1_XTD2_XGM/DOOCS/MAIN:output")
>>> ds["data.intensityTD"].dims, ds["trainId_data"].values.tolist()
(('entry_data', 'data.intensityTD_dim_0'), [10000, 10001, 10002, 10003])
"""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

import numpy as np

from ..components.base import ModuleLayout, MultimodDetectorBase, default_fill_value, \
    identify_multimod_detectors
from ..components.naming import RawDataWarning
from ..components.xtdf import XtdfDetectorBase
from ..exceptions import FileStructureError, OptionError, OutputError
from ..readers.chunks import DataChunk
from ..readers.keydata import KeyData, read_chunk
from .base import ProgressCallback, WritePlan, provenance

log = logging.getLogger(__name__)

__all__ = ["ZarrOptions", "ZarrWriter", "ZarrPlan", "ArraySpec", "BlockWrite"]

_MB = 1 << 20
#: Bytes read and written by one work item (several whole chunks or shards).
BLOCK_BYTES = 64 * _MB
#: Largest chunk a codec can take in one buffer.
_MAX_CHUNK_BYTES = (1 << 31) - 1
_LABEL_KEYS = ("pulseId", "cellId")


@dataclass(frozen=True)
class ZarrOptions:
    """Options of the Zarr writer (mirrored by ``schemas/writer_zarr.json``)."""

    compression: Literal["zstd", "blosc", "none"] = field(default="zstd", metadata={
        "help": "Codec for every chunk: zstd, blosc (zstd with byte shuffle) or none."})
    compression_level: int = field(default=3, metadata={
        "help": "Compression level: 1-22 for zstd, 0-9 for blosc."})
    chunk_mb: float = field(default=8.0, metadata={
        "help": "Target uncompressed chunk size in MiB (whole entries and modules)."})
    chunk_entries: Optional[int] = field(default=None, metadata={
        "help": "Entries (frames, trains) per chunk, instead of chunk_mb."})
    shard_mb: Optional[float] = field(default=None, metadata={
        "help": "Store chunks in shards of about this many MiB (Zarr v3 sharding)."})
    stack_detectors: bool = field(default=True, metadata={
        "help": "Write each multi-module detector as stacked (entry, module, ...) arrays."})
    workers: int = field(default=1, metadata={
        "help": "Dask worker processes on this machine (1: write in this process)."})
    scheduler: Optional[str] = field(default=None, metadata={
        "help": "Address of an existing dask.distributed scheduler to run the writes on."})

    def __post_init__(self) -> None:
        levels = {"zstd": (1, 22), "blosc": (0, 9)}.get(self.compression)
        if levels and not levels[0] <= self.compression_level <= levels[1]:
            raise OptionError(f"compression_level for {self.compression} must be in "
                              f"{levels[0]}..{levels[1]}, got {self.compression_level}.")
        if not self.chunk_mb > 0:
            raise OptionError(f"chunk_mb must be > 0, got {self.chunk_mb}.")
        if self.chunk_entries is not None and self.chunk_entries < 1:
            raise OptionError(f"chunk_entries must be >= 1, got {self.chunk_entries}.")
        if self.shard_mb is not None and not self.shard_mb > 0:
            raise OptionError(f"shard_mb must be > 0, got {self.shard_mb}.")
        if self.workers < 1:
            raise OptionError(f"workers must be >= 1, got {self.workers}.")


@dataclass(frozen=True)
class ArraySpec:
    """One Zarr array to create; ``values`` (small arrays: coordinates, masks) are
    written when the array is created, other arrays are filled by :class:`BlockWrite`."""

    path: str
    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, ...]
    shards: Optional[tuple[int, ...]]
    fill_value: Any
    dims: tuple[str, ...]
    attrs: dict
    values: Optional[np.ndarray] = None

    def __str__(self) -> str:
        return f"create {self.path} {self.shape} {self.dtype} chunks {self.chunks}"


@dataclass(frozen=True)
class EntryRead:
    """Entries of one key: ``(chunk, start, stop)`` pieces, consecutive in the output."""

    pieces: tuple[tuple[DataChunk, int, int], ...]
    entry_shape: tuple[int, ...]
    dtype: np.dtype

    def read(self) -> np.ndarray:
        n = sum(stop - start for _, start, stop in self.pieces)
        out = np.empty((n,) + self.entry_shape, dtype=self.dtype)
        pos = 0
        for chunk, start, stop in self.pieces:
            try:
                read_chunk(chunk, out[pos:pos + stop - start], (), slice(start, stop))
            except OSError as err:
                raise FileStructureError(chunk.file.filename, f"reading entries failed: {err}",
                                         chunk.source, chunk.key) from err
            pos += stop - start
        return out

    def __str__(self) -> str:
        files = sorted({Path(c.file.filename).name for c, _, _ in self.pieces})
        return f"{len(self.pieces)} piece(s) of {', '.join(files)}"


@dataclass(frozen=True)
class StackedRead:
    """Frames of one key of every module, placed by ``dests`` (``-1``: not here)."""

    kds: tuple[Optional[KeyData], ...]
    dests: tuple[Optional[np.ndarray], ...]
    n_frames: int
    fill_value: Any

    def read(self) -> np.ndarray:
        """``(frames, modules, ...)`` (a view of a module-major buffer)."""
        layout = ModuleLayout(list(self.kds), list(self.dests), self.n_frames)
        try:
            data = layout.read(fill_value=self.fill_value)
        except OSError as err:
            kd = layout.example
            raise FileStructureError(kd.files[0].filename if kd.files else "?",
                                     f"reading detector frames failed: {err}",
                                     kd.source, kd.key) from err
        return np.moveaxis(data, 0, 1)

    def __str__(self) -> str:
        n = sum(kd is not None for kd in self.kds)
        return f"{n} of {len(self.kds)} modules (fill {self.fill_value})"


@dataclass(frozen=True)
class BlockWrite:
    """Write entries ``start:stop`` (whole chunks or shards) of array ``path``."""

    path: str
    start: int
    stop: int
    nbytes: int
    reader: Any  # EntryRead or StackedRead
    #: For stacked detectors: the range of modules written, if not all of them.
    modules: Optional[tuple[int, int]] = None

    def __str__(self) -> str:
        mods = "" if self.modules is None else ", {}:{}".format(*self.modules)
        return f"write {self.path}[{self.start}:{self.stop}{mods}] <- {self.reader}"

    def read(self) -> np.ndarray:
        """The block's data, read from the input files."""
        return self.reader.read()

    def store(self, array, data: np.ndarray) -> None:
        """Write ``data`` (from :meth:`read`) into ``array`` (an open zarr.Array)."""
        where = (slice(self.start, self.stop),)
        if self.modules is not None:
            where += (slice(*self.modules),)
        try:
            array[where] = data
        except OSError as err:
            raise OutputError(f"Writing {self} failed: {err}") from err


@dataclass
class ZarrPlan(WritePlan):
    """A :class:`WritePlan` with the groups and arrays to create first."""

    groups: dict = field(default_factory=dict)
    arrays: list = field(default_factory=list)
    root_attrs: dict = field(default_factory=dict)


# ---- chunking ---------------------------------------------------------------------------
def _chunking(n: int, entry_bytes: int, opts: ZarrOptions, what: str) -> tuple[int, int]:
    """(entries per chunk, entries per write unit: a shard, or a chunk without sharding)."""
    entry_bytes = max(1, entry_bytes)
    per_chunk = opts.chunk_entries or max(1, int(opts.chunk_mb * _MB) // entry_bytes)
    per_chunk = max(1, min(per_chunk, n))
    chunk_bytes = per_chunk * entry_bytes
    if chunk_bytes > _MAX_CHUNK_BYTES:
        raise OptionError(f"Chunks of {per_chunk} entries of {what} would be "
                          f"{chunk_bytes / _MB:.0f} MiB; codecs take at most 2 GiB. "
                          "Use a smaller chunk_entries.")
    if opts.shard_mb is None:
        return per_chunk, per_chunk
    shard_bytes = int(opts.shard_mb * _MB)
    if chunk_bytes > shard_bytes:
        raise OptionError(f"A chunk of {what} ({per_chunk} entries, {chunk_bytes / _MB:.2f} "
                          f"MiB) does not fit in shard_mb={opts.shard_mb}; raise shard_mb or "
                          "lower chunk_mb/chunk_entries.")
    per_shard = per_chunk * (shard_bytes // chunk_bytes)
    return per_chunk, min(per_shard, -(-n // per_chunk) * per_chunk)


def _blocks(n: int, unit: int, unit_bytes: int) -> list[tuple[int, int]]:
    """Ranges of whole write units of about BLOCK_BYTES covering ``0:n``."""
    step = unit * max(1, BLOCK_BYTES // max(1, unit_bytes))
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def _spec(path: str, shape: tuple, dtype, dims: tuple, opts: ZarrOptions, *, fill=None,
          attrs: dict | None = None, values=None, module_axis: bool = False,
          what: str = "") -> tuple[ArraySpec, int]:
    """ArraySpec chunked along the first axis (module axis, if any, chunked by 1)."""
    dtype = np.dtype(dtype)
    entry_shape = shape[1:]
    entry_bytes = math.prod(entry_shape[1:] if module_axis else entry_shape) * dtype.itemsize
    per_chunk, per_unit = _chunking(shape[0], entry_bytes, opts, what or path)
    inner = ((1,) + entry_shape[1:]) if module_axis else entry_shape
    chunks = (per_chunk,) + inner
    shards = None if opts.shard_mb is None else (per_unit,) + inner
    fill = default_fill_value(dtype) if fill is None else fill
    spec = ArraySpec(path, tuple(shape), dtype, chunks, shards, fill, dims, dict(attrs or {}),
                     values)
    return spec, per_unit


def _extra_dims(key: str, entry_shape: tuple) -> tuple[str, ...]:
    # Scoped by key: keys of one source have unrelated axes of different lengths.
    return tuple(f"{key}_dim_{i}" for i in range(len(entry_shape)))


def _supported(kd: KeyData) -> bool:
    if kd.dtype.kind in "biufc":
        return True
    log.warning("Zarr writer: skipping %s %s: dtype %s is not supported", kd.source,
                kd.key, kd.dtype)
    return False


# ---- plain sources ----------------------------------------------------------------------
def _plain_writes(kd: KeyData, path: str, per_unit: int) -> list[BlockWrite]:
    plan = kd.chunk_plan()
    n = np.array([c.n_entries for c in plan], dtype=np.int64)
    ends = np.cumsum(n)
    starts = ends - n
    entry_bytes = math.prod(kd.entry_shape) * kd.dtype.itemsize
    writes = []
    for a, b in _blocks(int(ends[-1]) if len(ends) else 0, per_unit, per_unit * entry_bytes):
        j0, j1 = np.searchsorted(ends, a, "right"), np.searchsorted(starts, b, "left")
        pieces = tuple((plan[j], int(max(a, starts[j]) - starts[j]),
                        int(min(b, ends[j]) - starts[j])) for j in range(j0, j1))
        writes.append(BlockWrite(path, a, b, (b - a) * entry_bytes,
                                 EntryRead(pieces, kd.entry_shape, kd.dtype)))
    return writes


def _plan_source(data, source: str, opts: ZarrOptions, plan: ZarrPlan) -> None:
    sd = data[source]
    control = sd.is_control
    plan.groups[source] = {"source": source, "kind": "control" if control else "instrument"}
    by_group: dict[str, list[KeyData]] = {}
    for key in sorted(sd.keys()):
        kd = sd[key]
        if _supported(kd):
            by_group.setdefault(key.partition(".")[0] if not control else "", []).append(kd)
    for group, kds in by_group.items():
        # Keys of one INDEX group share their entries; a key recorded in fewer files
        # than the others gets its own entry dimension.
        dims: list[tuple[np.ndarray, str, list[str]]] = []
        for kd in kds:
            counts = kd.data_counts(labelled=False)
            match = next((d for d in dims if np.array_equal(d[0], counts)), None)
            if match is None:
                suffix = "" if not dims else f"_{len(dims)}"
                dim = "trainId" if control else f"entry_{group}{suffix}"
                match = (counts, dim, _add_coords(sd, kd, group, dim, suffix, opts, plan))
                dims.append(match)
            _, dim, coords = match
            attrs = {**kd.unit_attributes(),
                     **({"coordinates": " ".join(coords)} if coords else {})}
            path = f"{source}/{kd.key}"
            spec, per_unit = _spec(path, kd.shape, kd.dtype,
                                   (dim,) + _extra_dims(kd.key, kd.entry_shape), opts,
                                   attrs=attrs, what=f"{source} {kd.key}")
            plan.arrays.append(spec)
            plan.items.extend(_plain_writes(kd, path, per_unit))


def _add_coords(sd, kd: KeyData, group: str, dim: str, suffix: str, opts: ZarrOptions,
                plan: ZarrPlan) -> list[str]:
    """Write-once coordinate arrays of one entry dimension: train IDs, and pulse and
    cell IDs of instrument groups that have them. Returns the non-index coordinates."""
    source = sd.source
    tids = kd.train_id_coordinates()
    if sd.is_control:
        # One entry per train at most: trainId is the dimension's index coordinate.
        plan.arrays.append(_spec(f"{source}/trainId", tids.shape, tids.dtype, (dim,), opts,
                                 values=tids)[0])
        return []
    coords = {f"trainId_{group}{suffix}": tids}
    counts = kd.data_counts(labelled=False)
    for label in _LABEL_KEYS:
        lkey = f"{group}.{label}"
        if lkey not in sd:
            continue
        lkd = sd[lkey]
        if (math.prod(lkd.entry_shape) == 1 and lkd.dtype.kind in "iu"
                and np.array_equal(lkd.data_counts(labelled=False), counts)):
            coords[f"{label}_{group}{suffix}"] = lkd.ndarray().reshape(-1)
    for name, values in coords.items():
        plan.arrays.append(_spec(f"{source}/{name}", values.shape, values.dtype, (dim,),
                                 opts, values=values)[0])
    return list(coords)


# ---- stacked detectors ------------------------------------------------------------------
def detector_fill_value(key: str, dtype: np.dtype):
    """Fill value for missing modules/frames: mask 0xffffffff, gain 0, data 0 or NaN.

    Examples
    --------
    >>> detector_fill_value("image.mask", np.dtype("uint32")), detector_fill_value(
    ...     "image.data", np.dtype("float32"))
    (4294967295, nan)
    """
    last = key.rsplit(".", 1)[-1]
    if last == "mask" and dtype.kind == "u" and np.iinfo(dtype).max >= 0xffffffff:
        return 0xffffffff
    if last == "gain":
        return 0
    return default_fill_value(dtype)


def _group_layout(det: MultimodDetectorBase, group: str, key: str):
    """(full ModuleLayout, frame train IDs, extra frame coordinates) of an INDEX group."""
    try:
        if isinstance(det, XtdfDetectorBase) and group == "image":
            fidx = det._frame_index(key, np.s_[:], False, "pulseId")
            return fidx.layout, fidx.frame_tids, {"pulseId": fidx.coords["pulse"]}
        return det._per_train_layout(key), det.train_id_array, {}
    except OptionError as err:
        raise OptionError(f"Cannot stack {det.detector_name} {key}: {err} Pass "
                          "stack_detectors=False to write the modules separately.") from err


def _plan_detector(det: MultimodDetectorBase, opts: ZarrOptions, plan: ZarrPlan) -> None:
    name = det.detector_name
    plan.groups[name] = {"detector": name, "detector_type": type(det).__name__,
                         "module_sources": {str(m): s for m, s in
                                            sorted(det._modno_to_source.items())}}
    modules = np.asarray(det.module_axis, dtype=np.int64)
    n_mod = len(modules)
    plan.arrays.append(_spec(f"{name}/module", modules.shape, modules.dtype, ("module",),
                             opts, values=modules)[0])
    src0 = next(iter(det._modno_to_source.values()))
    by_group: dict[str, list[str]] = {}
    for key in sorted(det.data[src0].keys()):
        if key in det and _supported(det.data[src0, key]):
            by_group.setdefault(key.partition(".")[0], []).append(key)
    tids = det.train_id_array
    for group, keys in by_group.items():
        layout, frame_tids, extra = _group_layout(det, group, keys[0])
        n, dim = layout.n_frames, f"entry_{group}"
        present = np.zeros((n, n_mod), dtype=bool)
        for i, dest in enumerate(layout.dests):
            if dest is not None:
                present[dest[dest >= 0], i] = True
        coords = {f"trainId_{group}": frame_tids,
                  **{f"{k}_{group}": v for k, v in extra.items()}}
        for cname, values in coords.items():
            plan.arrays.append(_spec(f"{name}/{cname}", values.shape, values.dtype, (dim,),
                                     opts, values=values)[0])
        plan.arrays.append(_spec(f"{name}/present_{group}", present.shape, bool,
                                 (dim, "module"), opts, values=present, fill=False,
                                 attrs={"coordinates": " ".join(coords)})[0])
        # Entry offsets of every module per train: blocks of frames map to train ranges.
        offsets = [None if kd is None else np.concatenate(
            ([0], np.cumsum(kd.data_counts(labelled=False).astype(np.int64))))
            for kd in layout.kds]
        for key in keys:
            kds = det._module_keydata(key)
            eg = next(kd for kd in kds if kd is not None)
            fill = detector_fill_value(key, eg.dtype)
            path = f"{name}/{key}"
            attrs = {**eg.unit_attributes(), "coordinates": " ".join(coords),
                     "fill_value_meaning": "module or frame not recorded; see present_"
                                           + group}
            spec, per_unit = _spec(path, (n, n_mod) + eg.entry_shape, eg.dtype,
                                   (dim, "module") + _extra_dims(key, eg.entry_shape), opts,
                                   fill=fill, attrs=attrs, module_axis=True,
                                   what=f"{name} {key}")
            plan.arrays.append(spec)
            module_bytes = math.prod(eg.entry_shape) * eg.dtype.itemsize
            plan.items.extend(_stacked_writes(path, kds, layout.dests, offsets, tids,
                                              frame_tids, per_unit, module_bytes, fill))


def _stacked_writes(path: str, kds: list, dests: list, offsets: list, tids: np.ndarray,
                    frame_tids: np.ndarray, per_unit: int, module_bytes: int,
                    fill) -> list[BlockWrite]:
    """Blocks of whole chunks: frame ranges of all modules, or of groups of modules
    when one write unit of every module would exceed BLOCK_BYTES."""
    n_mod, n = len(kds), len(frame_tids)
    unit_bytes = max(1, per_unit * module_bytes)
    per_block = max(1, min(n_mod, BLOCK_BYTES // unit_bytes))
    module_ranges = [(m, min(m + per_block, n_mod)) for m in range(0, n_mod, per_block)]
    writes = []
    for a, b in _blocks(n, per_unit, unit_bytes * n_mod):
        t0, t1 = np.searchsorted(tids, [frame_tids[a], frame_tids[b - 1]])
        sub_kds, sub_dests = [], []
        for kd, dest, off in zip(kds, dests, offsets):
            if kd is None or off[t1 + 1] == off[t0]:
                sub_kds.append(None)
                sub_dests.append(None)
                continue
            d = dest[off[t0]:off[t1 + 1]] - a
            sub_kds.append(kd.select_trains(slice(int(t0), int(t1) + 1)))
            sub_dests.append(np.where((d >= 0) & (d < b - a), d, -1))
        for m0, m1 in module_ranges:
            if all(kd is None for kd in sub_kds[m0:m1]):
                continue  # unwritten chunks read as the array's fill value
            read = StackedRead(tuple(sub_kds[m0:m1]), tuple(sub_dests[m0:m1]), b - a, fill)
            writes.append(BlockWrite(path, a, b, (b - a) * (m1 - m0) * module_bytes, read,
                                     None if (m0, m1) == (0, n_mod) else (m0, m1)))
    return writes


# ---- the writer -------------------------------------------------------------------------
class ZarrWriter:
    """Zarr v3 store: a group per source (or stacked detector), an array per key.

    Examples
    --------
    >>> from xfconvert.writers.base import convert
    >>> convert(run, "r0001.zarr", to="zarr", workers=2)  # doctest: +SKIP
    """

    name: ClassVar[str] = "zarr"
    description: ClassVar[str] = "Zarr v3 arrays, one group per source, labelled for xarray"
    suffix: ClassVar[str] = ".zarr"
    output_is_directory: ClassVar[bool] = True
    options_type: ClassVar[type] = ZarrOptions

    def plan(self, data: Any, options: ZarrOptions) -> ZarrPlan:
        """Groups, arrays and the blocks of whole chunks to write."""
        collection = getattr(data, "data", data)
        plan = ZarrPlan(data, options)
        plain = set(collection.all_sources)
        if options.stack_detectors:
            if isinstance(data, MultimodDetectorBase):
                dets = [data]
            else:
                with warnings.catch_warnings():
                    # Raw detector data is stacked as it is.
                    warnings.simplefilter("ignore", RawDataWarning)
                    dets = [cls(collection, name) for name, cls in sorted(
                        identify_multimod_detectors(collection), key=lambda x: x[0])]
            for det in dets:
                _plan_detector(det, options, plan)
                plain -= set(det.source_to_modno)
        for source in sorted(plain):
            _plan_source(collection, source, options, plan)
        prov = provenance(data, self.name)
        plan.root_attrs = {**prov, "train_ids": collection.train_id_array.tolist()}
        plan.total = sum(w.nbytes for w in plan.items) + sum(
            s.values.nbytes for s in plan.arrays if s.values is not None)
        return plan

    def write_plan(self, plan: ZarrPlan, path: Path, progress: ProgressCallback) -> None:
        """Create the groups and arrays, write the blocks, consolidate the metadata."""
        import zarr

        from .zarr_parallel import create_arrays, own_io_threads, run_writes, stop_io
        with own_io_threads():
            try:
                store = zarr.storage.LocalStore(str(path))
                done = create_arrays(store, plan, lambda n: progress(n, plan.total))
                run_writes(str(path), plan.items, plan.options,
                           lambda n: progress(done + n, plan.total))
                with warnings.catch_warnings():
                    # Consolidated metadata is not (yet) in the v3 spec; xarray uses it.
                    warnings.filterwarnings("ignore", message="Consolidated metadata")
                    zarr.consolidate_metadata(store)
            except BaseException:
                stop_io()  # no write may land in the store after it is removed
                raise
