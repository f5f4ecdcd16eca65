"""Write one mock EuXFEL HDF5 file from a list of devices and train IDs.

Values are a pure function of ``(seed, source, key, train ID, entry within the train)``:
each key has its own Philox counter-based random stream, and an entry's values sit at a
fixed position in it.  A train therefore gets the same values whichever sequence file it
is written to, and files can be generated in blocks without per-train Python loops.

Examples
--------
>>> import tempfile, h5py, numpy as np
>>> from xfconvert.testing.devices import Motor
>>> d = tempfile.mkdtemp()
>>> p = write_file(f'{d}/RAW-R0001-DA01-S00000.h5', [Motor('M/MOTOR/X')], np.arange(100, 103))
>>> with h5py.File(p) as f:
...     f['INDEX/trainId'][:].tolist(), f['INDEX/M/MOTOR/X/count'][:].tolist()
([100, 101, 102], [1, 1, 1])
"""
from __future__ import annotations

import fnmatch
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import h5py
import numpy as np

from ..exceptions import OptionError
from .devices import Device, Key

FORMAT_VERSIONS = ("0.5", "1.0", "1.2", "1.3")

# How data datasets are chunked: 'default' keeps small keys contiguous and big per-entry
# keys one entry a chunk; 'frame' gives every INSTRUMENT/CONTROL dataset one entry a chunk,
# uncompressed, as the DAQ (and EXtra-data's mock generator) write them.
CHUNKINGS = ("default", "frame")

# Per-source INDEX first/count as long as INDEX/trainId ('padded') or only as long as the
# real trains ('real'); the DAQ writes both.
INDEX_LENGTHS = ("padded", "real")

# Entries per chunk of otherwise contiguous datasets when they are preallocated.
PREALLOC_CHUNK_ENTRIES = 4

# Mixed into the seed of the values of 'conflicting' duplicate trains.
_CONFLICT_SEED = 0x5EED

# Train 0 is at the start of 2024; trains are 100 ms apart.
EPOCH_NS = 1_704_067_200 * 10 ** 9
TRAIN_PERIOD_NS = 100_000_000

# Empty strings appended to METADATA/dataSources arrays, as the DAQ preallocates them.
METADATA_PADDING = 3

# Upper bound on random values drawn at once, to bound memory for big detector data.
_BLOCK_ELEMENTS = 2 ** 23

_PULSE_ID_STEP = 4

# Shape and dtype of CONTROL timestamps (their values come from train_timestamps).
_TIMESTAMP = Key("timestamp", "uint64")


def file_name(tag: str, sequence: int = 0, run_number: int = 1, corrected: bool = False) -> str:
    """EuXFEL file name for aggregator or module ``tag``.

    Examples
    --------
    >>> file_name('DA01', 2, run_number=7)
    'RAW-R0007-DA01-S00002.h5'
    >>> file_name('AGIPD03', corrected=True)
    'CORR-R0001-AGIPD03-S00000.h5'
    """
    prefix = "CORR" if corrected else "RAW"
    return f"{prefix}-R{run_number:04d}-{tag}-S{sequence:05d}.h5"


def train_timestamps(train_ids: np.ndarray) -> np.ndarray:
    """Timestamps (ns since the epoch) the mock data gives to ``train_ids``.

    Examples
    --------
    >>> int(train_timestamps(np.array([1]))[0] - train_timestamps(np.array([0]))[0])
    100000000
    """
    return EPOCH_NS + np.asarray(train_ids, dtype=np.uint64) * np.uint64(TRAIN_PERIOD_NS)


def _stream_key(seed: int, source: str, key: str) -> np.ndarray:
    # Two independent CRCs make collisions between thousands of keys negligible.
    mixed = (zlib.crc32(source.encode()) << 32) | zlib.crc32(key.encode())
    return np.array([mixed, seed & 0xFFFF_FFFF_FFFF_FFFF], dtype=np.uint64)


def _raw(stream: np.ndarray, start: int, n: int) -> np.ndarray:
    # Philox yields 4 uint64 per counter value, so position p is counter p // 4, word p % 4.
    counter, skip = divmod(start, 4)
    gen = np.random.Philox(counter=np.array([counter, 0, 0, 0], dtype=np.uint64), key=stream)
    return gen.random_raw(n + skip)[skip:]


def _to_dtype(raw: np.ndarray, key: Key) -> np.ndarray:
    dtype = np.dtype(key.dtype)
    if dtype.kind == "f":
        # Box-Muller on the two 32-bit halves: one raw word per normal value.
        u1 = ((raw >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0 ** -32
        u2 = (raw & np.uint64(0xFFFF_FFFF)).astype(np.float64) * 2.0 ** -32
        normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)
        return (key.offset + key.scale * normal).astype(dtype)
    if dtype.kind in "iu":
        high = key.high or min(int(np.iinfo(dtype).max) + 1, 10_000)
        return (raw % np.uint64(high)).astype(dtype)
    raise TypeError(f"No mock values for dtype {dtype} (key {key.name!r})")


def _entry_values(key: Key, stream: np.ndarray, train_ids: np.ndarray,
                  per_train: int) -> np.ndarray:
    """Values of ``key`` for every entry of ``train_ids`` (a block of trains with data).

    The result has ``len(train_ids) * per_train`` entries, in the order of ``train_ids``.
    """
    n_entries = len(train_ids) * per_train
    out_shape = (n_entries, *key.shape)
    if key.fill == "random":
        size = int(np.prod(key.shape, dtype=np.int64))
        first, last = int(train_ids.min()), int(train_ids.max())
        span = last - first + 1
        raw = _raw(stream, first * per_train * size, span * per_train * size)
        raw = raw.reshape(span, per_train * size)[(train_ids - first).astype(np.intp)]
        return _to_dtype(raw.reshape(out_shape), key)
    dtype = np.dtype(key.dtype)
    if key.fill == "constant":
        return np.broadcast_to(np.asarray(key.constant, dtype=dtype), out_shape).copy()
    entry_train = np.repeat(train_ids.astype(np.uint64), per_train)
    frame = np.tile(np.arange(per_train, dtype=np.uint64), len(train_ids))
    if key.fill in ("train_id", "frame", "pulse_id"):
        per_entry = {"train_id": entry_train, "frame": frame,
                     "pulse_id": frame * np.uint64(_PULSE_ID_STEP)}[key.fill]
        per_entry = per_entry.reshape((n_entries,) + (1,) * len(key.shape))
        return np.broadcast_to(per_entry, out_shape).astype(dtype)
    cells = np.arange(key.shape[-1], dtype=np.uint64)
    if key.fill == "cell_index":
        return np.broadcast_to(cells, out_shape).astype(dtype)
    # frame_number: a counter running over all cells of all trains (1-D entries only).
    return (entry_train[:, None] * np.uint64(key.shape[-1]) + cells).astype(dtype)


def _train_blocks(train_ids: np.ndarray, per_train: int, key: Key) -> list[np.ndarray]:
    # Blocks sit on a fixed grid of train IDs so no draw exceeds _BLOCK_ELEMENTS.
    entry_size = max(int(np.prod(key.shape, dtype=np.int64)), 1) * per_train
    trains_per_block = max(_BLOCK_ELEMENTS // entry_size, 1)
    block = train_ids // trains_per_block
    starts = np.flatnonzero(np.diff(block)) + 1
    return np.split(train_ids, starts)


@dataclass(frozen=True)
class _Layout:
    """How a file's data datasets are stored (see :func:`write_file`)."""

    chunking: str = "default"
    pad_entries: int = 0
    conflict_trains: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    conflict_seed: int = 0

    def create(self, group: h5py.Group, path: str, key: Key, n_entries: int,
               preallocate: bool) -> h5py.Dataset:
        pad = self.pad_entries if preallocate else 0
        shape = (n_entries + pad, *key.shape)
        if key.chunked or self.chunking == "frame":
            chunks: tuple[int, ...] | None = (1, *key.shape)
        elif pad:
            chunks = (PREALLOC_CHUNK_ENTRIES, *key.shape)
        else:
            chunks = None
        if chunks is None:
            return group.create_dataset(path, shape=shape, dtype=key.dtype)
        return group.create_dataset(path, shape=shape, dtype=key.dtype, chunks=chunks,
                                    maxshape=(None, *key.shape))


def _write_key(group: h5py.Group, path: str, key: Key, stream: np.ndarray,
               train_ids: np.ndarray, per_train: int, with_units: bool,
               layout: _Layout = _Layout(), preallocate: bool = False) -> h5py.Dataset:
    n_entries = len(train_ids) * per_train
    ds = layout.create(group, path, key, n_entries, preallocate)
    if n_entries:
        pos = 0
        for block in _train_blocks(train_ids, per_train, key):
            values = _entry_values(key, stream, block, per_train)
            ds[pos:pos + len(values)] = values
            pos += len(values)
        if key.fill == "random" and len(layout.conflict_trains):
            _overwrite_conflicts(ds, key, stream, train_ids, per_train, layout)
    if with_units and key.unit is not None:
        ds.attrs["unitName"] = key.unit.name
        ds.attrs["unitSymbol"] = key.unit.symbol
        ds.attrs["metricPrefixSymbol"] = key.unit.prefix
    return ds


def _overwrite_conflicts(ds: h5py.Dataset, key: Key, stream: np.ndarray,
                         train_ids: np.ndarray, per_train: int, layout: _Layout) -> None:
    # Conflicting duplicates: the same train IDs, values from another stream.
    chosen = np.flatnonzero(np.isin(train_ids, layout.conflict_trains))
    if not len(chosen):
        return
    other = stream.copy()
    other[1] ^= np.uint64(layout.conflict_seed)
    values = _entry_values(key, other, train_ids[chosen], per_train)
    for i, pos in enumerate(chosen):
        ds[pos * per_train:(pos + 1) * per_train] = values[i * per_train:(i + 1) * per_train]


def _write_index(index: h5py.Group, source_path: str, counts: np.ndarray, pad_trains: int,
                 legacy: bool) -> None:
    counts = np.concatenate([counts, np.zeros(pad_trains)]).astype(np.uint64)
    first = np.zeros_like(counts)
    np.cumsum(counts[:-1], out=first[1:])
    grp = index.require_group(source_path)
    grp["first"] = first
    if legacy:
        has_data = counts > 0
        grp["last"] = np.where(has_data, first + counts - np.uint64(1), first)
        grp["status"] = has_data.astype(np.int32)
    else:
        grp["count"] = counts


def _strings(values: Sequence[str], padding: int = 0) -> np.ndarray:
    return np.array([v.encode() for v in values] + [b""] * padding, dtype="S")


def _write_metadata(f: h5py.File, sources: list[str], format_version: str,
                    train_ids: np.ndarray, run_number: int, proposal: int,
                    sequence: int) -> None:
    roots = [s.split("/", 1)[0] for s in sources]
    device_ids = [s.split("/", 1)[1] for s in sources]
    meta = f.create_group("METADATA")
    if format_version == "0.5":
        meta["dataSourceId"] = _strings(sources, METADATA_PADDING)
        meta["deviceId"] = _strings(device_ids, METADATA_PADDING)
        meta["root"] = _strings(roots, METADATA_PADDING)
        return
    meta["dataFormatVersion"] = _strings([format_version])
    ds = meta.create_group("dataSources")
    ds["dataSourceId"] = _strings(sources, METADATA_PADDING)
    ds["deviceId"] = _strings(device_ids, METADATA_PADDING)
    ds["root"] = _strings(roots, METADATA_PADDING)
    start_ns = int(train_timestamps(train_ids[:1])[0]) if len(train_ids) else EPOCH_NS
    created = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start_ns // 10 ** 9))
    meta["creationDate"] = _strings([created])
    meta["daqLibrary"] = _strings(["1.9.0"])
    meta["karaboFramework"] = _strings(["2.15.0"])
    meta["proposalNumber"] = np.array([proposal], dtype=np.uint32)
    meta["runNumber"] = np.array([run_number], dtype=np.uint32)
    meta["sequenceNumber"] = np.array([sequence], dtype=np.uint32)
    if format_version in ("1.2", "1.3"):
        meta["runType"] = _strings([""])
        meta["sample"] = _strings([""])


def _with_data(source: str, train_ids: np.ndarray,
               missing_trains: Mapping[str, np.ndarray]) -> np.ndarray:
    mask = np.ones(len(train_ids), dtype=bool)
    for pattern, missing in missing_trains.items():
        if fnmatch.fnmatchcase(source, pattern):
            mask &= ~np.isin(train_ids, missing)
    return mask


def _check_args(devices: Sequence[Device], train_ids: np.ndarray, format_version: str,
                pad_trains: int, control_every: int, out_of_order: bool, chunking: str,
                index_length: str, pad_entries: int) -> None:
    if format_version not in FORMAT_VERSIONS:
        raise OptionError(f"format_version must be one of {FORMAT_VERSIONS}, "
                          f"not {format_version!r}")
    if chunking not in CHUNKINGS:
        raise OptionError(f"chunking must be one of {CHUNKINGS}, not {chunking!r}")
    if index_length not in INDEX_LENGTHS:
        raise OptionError(f"index_length must be one of {INDEX_LENGTHS}, not {index_length!r}")
    if len(train_ids) and (train_ids.min() == 0 or len(np.unique(train_ids)) < len(train_ids)):
        raise OptionError("train_ids must be positive and unique")
    if not out_of_order and np.any(np.diff(train_ids.astype(np.int64)) <= 0):
        raise OptionError("train_ids must be strictly increasing (unless out_of_order=True)")
    if pad_trains < 0 or pad_entries < 0 or control_every < 1:
        raise OptionError("pad_trains and pad_entries must be >= 0 and control_every >= 1")
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise OptionError(f"Device names must be unique: {names}")


def write_file(path: str | Path, devices: Sequence[Device], train_ids: Iterable[int], *,
               format_version: str = "1.0", legacy_index: bool = False, pad_trains: int = 0,
               seed: int = 0, missing_trains: Mapping[str, Iterable[int]] | None = None,
               control_every: int = 1, run_number: int = 1, proposal: int = 700000,
               sequence: int = 0, run_start_train: int | None = None,
               index_length: str = "padded", pad_entries: int = 0, chunking: str = "default",
               flag_zero_trains: Iterable[int] = (), out_of_order: bool = False,
               conflict_trains: Iterable[int] = ()) -> Path:
    """Write one EuXFEL HDF5 file holding ``devices`` for ``train_ids``.

    Parameters
    ----------
    path : str or Path
        File to create (overwritten if it exists).
    devices : sequence of Device
        Sources in the file; control keys go to CONTROL and RUN, channels to INSTRUMENT.
    train_ids : iterable of int
        Positive, strictly increasing train IDs of this file.
    format_version : {'0.5', '1.0', '1.2', '1.3'}
        File format version; 1.3 adds unit attributes.
    legacy_index : bool
        Write ``first/last/status`` index datasets instead of ``first/count``.
    pad_trains : int
        Zero train IDs appended to ``INDEX/trainId``, as the DAQ preallocates it.
    seed : int
        Seed of the random values.
    missing_trains : mapping of str to iterable of int, optional
        ``{source glob: train IDs}``: matching sources (device names for control data,
        ``'<device>:<channel>'`` for instrument data) have no data in those trains.
    control_every : int
        Control devices have an entry only in trains whose ID is a multiple of this.
    run_number, proposal, sequence : int
        Written to METADATA (format >= 1.0).
    run_start_train : int, optional
        Train whose control values are stored in the RUN section; default the first of
        ``train_ids``.  Pass the run's first train so all sequence files agree.
    index_length : {'padded', 'real'}
        Per-source ``INDEX/.../first|count`` as long as the padded ``INDEX/trainId``
        (count 0 in the padding) or only as long as the real trains.
    pad_entries : int
        Preallocate every CONTROL and INSTRUMENT data dataset this many entries past its
        data, chunked, and leave the chunks past the last written one unwritten.
    chunking : {'default', 'frame'}
        'default': big per-entry keys one entry a chunk, the rest contiguous; 'frame':
        every data dataset one entry a chunk, uncompressed (the DAQ's layout).
    flag_zero_trains : iterable of int
        Trains marked suspect with ``INDEX/flag == 0`` (format >= 1.0).
    out_of_order : bool
        Accept ``train_ids`` that are not increasing (suspect trains as the DAQ writes
        them when a train ID comes from outside the time server).
    conflict_trains : iterable of int
        Trains whose random values are drawn from another stream, so that the same train
        in another file of the same source holds different data.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from xfconvert.testing.devices import XGM
    >>> d = tempfile.mkdtemp()
    >>> p = write_file(f'{d}/RAW-R0001-DA01-S00000.h5', [XGM('SA1_XTD2_XGM/DOOCS/MAIN')],
    ...                [10, 11, 12], format_version='1.3', pad_trains=1)
    >>> with h5py.File(p) as f:
    ...     f['INSTRUMENT/SA1_XTD2_XGM/DOOCS/MAIN:output/data/trainId'][:].tolist()
    [10, 11, 12]

    A DAQ-like layout: padded index, per-source index only as long as the real trains,
    a preallocated dataset whose last chunks were never written:

    >>> p = write_file(f'{d}/RAW-R0001-DA02-S00000.h5', [XGM('SA1_XTD2_XGM/DOOCS/MAIN')],
    ...                [10, 11, 12], pad_trains=5, index_length='real', pad_entries=5,
    ...                chunking='frame')
    >>> with h5py.File(p) as f:
    ...     ds = f['INSTRUMENT/SA1_XTD2_XGM/DOOCS/MAIN:output/data/trainId']
    ...     (len(f['INDEX/trainId']), len(f['INDEX/SA1_XTD2_XGM/DOOCS/MAIN/count']),
    ...      ds.shape, ds.id.get_chunk_info_by_coord((7,)).byte_offset is None)
    (8, 3, (8,), True)
    """
    path = Path(path)
    tids = np.fromiter(train_ids, dtype=np.uint64)
    devices = list(devices)
    missing_trains = {pattern: np.fromiter(ids, dtype=np.uint64)
                      for pattern, ids in (missing_trains or {}).items()}
    _check_args(devices, tids, format_version, pad_trains, control_every, out_of_order,
                chunking, index_length, pad_entries)
    if run_start_train is None and len(tids):
        run_start_train = int(tids[0])
    with_units = format_version == "1.3"
    zeros = np.zeros(pad_trains, dtype=np.uint64)
    index_pad = pad_trains if index_length == "padded" else 0
    layout = _Layout(chunking, pad_entries, np.fromiter(conflict_trains, dtype=np.uint64),
                     (seed ^ _CONFLICT_SEED) or _CONFLICT_SEED)
    flag_zero = np.fromiter(flag_zero_trains, dtype=np.uint64)

    sources = sorted(f"CONTROL/{d.name}" for d in devices if d.control_keys())
    sources += sorted(f"INSTRUMENT/{d.name}:{ch}/{grp}" for d in devices
                      for ch, groups in d.channels().items() for grp in groups)

    with h5py.File(path, "w") as f:
        _write_metadata(f, sources, format_version, tids, run_number, proposal, sequence)
        index = f.create_group("INDEX")
        index["trainId"] = np.concatenate([tids, zeros])
        if format_version != "0.5":
            index["timestamp"] = np.concatenate([train_timestamps(tids), zeros])
            # Padding entries are not real trains, so they are not flagged good.
            good = np.concatenate([~np.isin(tids, flag_zero), np.zeros(pad_trains, bool)])
            index["flag"] = good.astype(np.int32)
            index["origin"] = np.full(len(tids) + pad_trains, -1, dtype=np.int32)

        for dev in devices:
            keys = dev.control_keys()
            if not keys:
                continue
            has_data = _with_data(dev.name, tids, missing_trains)
            has_data &= tids % np.uint64(control_every) == 0
            data_tids = tids[has_data]
            _write_index(index, dev.name, has_data, index_pad, legacy_index)
            timestamps = train_timestamps(data_tids)
            for key in keys:
                stream = _stream_key(seed, dev.name, key.name)
                path_in = f"{dev.name}/{key.name.replace('.', '/')}"
                _write_key(f, f"CONTROL/{path_in}/value", key, stream, data_tids, 1,
                           with_units, layout, preallocate=True)
                ts = layout.create(f, f"CONTROL/{path_in}/timestamp", _TIMESTAMP,
                                   len(timestamps), preallocate=True)
                if len(timestamps):
                    ts[:len(timestamps)] = timestamps
                if run_start_train is not None:
                    start = np.array([run_start_train], dtype=np.uint64)
                    _write_key(f, f"RUN/{path_in}/value", key, stream, start, 1, with_units)
                    f[f"RUN/{path_in}/timestamp"] = train_timestamps(start)

        for dev in devices:
            for channel, groups in dev.channels().items():
                src = f"{dev.name}:{channel}"
                has_data = _with_data(src, tids, missing_trains)
                data_tids = tids[has_data]
                for grp, keys in groups.items():
                    per_train = dev.entries_per_train(grp)
                    _write_index(index, f"{src}/{grp}", has_data * per_train, index_pad,
                                 legacy_index)
                    for key in keys:
                        full_key = f"{grp}.{key.name}"
                        _write_key(f, f"INSTRUMENT/{src}/{full_key.replace('.', '/')}", key,
                                   _stream_key(seed, src, full_key), data_tids, per_train,
                                   with_units, layout, preallocate=True)
    return path
