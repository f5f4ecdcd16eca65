"""One object per EuXFEL HDF5 file on disk.

:class:`FileAccess` reads a file's METADATA (which sources it holds) and INDEX (train IDs,
and per source the first/count of its entries for each train) once, for every format
version, and keeps them as numpy arrays. The h5py handle is opened lazily, read-only, and
closed again by a least-recently-used limiter, so runs with thousands of files never hit
the operating system's limit on open files.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert.readers.file_access import FileAccess
>>> import tempfile, pathlib
>>> run_dir = make_run(pathlib.Path(tempfile.mkdtemp()) / "r0001", n_trains=5)
>>> fa = FileAccess(sorted(run_dir.glob("*DA01*"))[0])
>>> fa.train_ids.tolist()
[10000, 10001, 10002, 10003, 10004]
"""
from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..exceptions import FileStructureError, PropertyNameError, SourceNameError

log = logging.getLogger(__name__)

__all__ = ["FileAccess", "set_open_files_limit", "get_open_files_limit", "TrainIDProblems"]

_DEFAULT_OPEN_FILES = 128


class _OpenFilesLimiter:
    """Keeps at most ``limit`` h5py handles open, closing the least recently used."""

    def __init__(self, limit: int):
        self.limit = limit
        self._open: OrderedDict[int, FileAccess] = OrderedDict()
        self._lock = threading.RLock()

    def touch(self, fa: FileAccess) -> None:
        with self._lock:
            self._open[id(fa)] = fa
            self._open.move_to_end(id(fa))
            while len(self._open) > self.limit:
                _, oldest = self._open.popitem(last=False)
                oldest.close()

    def forget(self, fa: FileAccess) -> None:
        with self._lock:
            self._open.pop(id(fa), None)

    def set_limit(self, limit: int) -> None:
        with self._lock:
            self.limit = limit
            while len(self._open) > self.limit:
                _, oldest = self._open.popitem(last=False)
                oldest.close()


def _limit_from_env() -> int:
    value = os.environ.get("XFCONVERT_MAX_OPEN_FILES", "")
    return int(value) if value.isdigit() and int(value) > 0 else _DEFAULT_OPEN_FILES


_limiter = _OpenFilesLimiter(_limit_from_env())


def set_open_files_limit(limit: int) -> None:
    """Set how many HDF5 files xfconvert keeps open at once (default 128, or the
    ``XFCONVERT_MAX_OPEN_FILES`` environment variable).

    Examples
    --------
    >>> from xfconvert.readers.file_access import set_open_files_limit, get_open_files_limit
    >>> set_open_files_limit(64); get_open_files_limit()
    64
    >>> set_open_files_limit(128)
    """
    if int(limit) < 1:
        raise ValueError(f"The open files limit must be at least 1, got {limit}.")
    _limiter.set_limit(int(limit))


def get_open_files_limit() -> int:
    """The current limit on simultaneously open HDF5 files."""
    return _limiter.limit


def _decode(values) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


@dataclass(frozen=True)
class TrainIDProblems:
    """What is wrong with a file's INDEX/trainId (empty when nothing is)."""

    zero_positions: np.ndarray       # zeros that are not trailing padding
    out_of_order_positions: np.ndarray

    def __bool__(self) -> bool:
        return bool(self.zero_positions.size or self.out_of_order_positions.size)

    def describe(self) -> str:
        parts = []
        if self.zero_positions.size:
            parts.append(f"train ID 0 at position(s) {_few(self.zero_positions)} "
                         "(zeros are only allowed as padding at the end)")
        if self.out_of_order_positions.size:
            parts.append(f"train IDs out of order at position(s) "
                         f"{_few(self.out_of_order_positions)}")
        return "; ".join(parts)


def _few(positions: np.ndarray) -> str:
    text = ", ".join(str(p) for p in positions[:5])
    return text + (f" ... ({positions.size} in all)" if positions.size > 5 else "")


def classify_train_ids(raw: np.ndarray) -> tuple[np.ndarray, TrainIDProblems]:
    """Split INDEX/trainId into usable trains and problems.

    Trailing zeros are padding and silently dropped. Of the remaining trains, those
    that break strictly increasing order are found by two vectorised passes (trains not
    above everything before them; trains not below everything after them); the pass
    flagging fewer trains wins, so one wild value (huge or tiny) costs one train.

    Returns the boolean mask of usable positions and a :class:`TrainIDProblems`.
    """
    raw = np.asarray(raw, dtype=np.uint64)
    n = raw.size
    nonzero = np.flatnonzero(raw)
    n_used = int(nonzero[-1]) + 1 if nonzero.size else 0
    zero = np.flatnonzero(raw[:n_used] == 0)
    keep = np.zeros(n, dtype=bool)
    keep[:n_used] = raw[:n_used] != 0
    tids = raw[keep]
    pos = np.flatnonzero(keep)
    bad = np.zeros(tids.size, dtype=bool)
    if tids.size > 1 and not np.all(tids[1:] > tids[:-1]):
        prefix_max = np.maximum.accumulate(tids)
        not_above_before = np.zeros(tids.size, dtype=bool)
        not_above_before[1:] = tids[1:] <= prefix_max[:-1]
        suffix_min = np.minimum.accumulate(tids[::-1])[::-1]
        not_below_after = np.zeros(tids.size, dtype=bool)
        not_below_after[:-1] = tids[:-1] >= suffix_min[1:]
        bad = (not_above_before if not_above_before.sum() <= not_below_after.sum()
               else not_below_after)
        keep[pos[bad]] = False
    return keep, TrainIDProblems(zero, pos[bad])


class FileAccess:
    """Access to one EuXFEL HDF5 file, shared by every collection that uses it.

    Creating ``FileAccess(path)`` twice for the same unchanged file returns the same
    object. METADATA and INDEX/trainId are read on creation (or taken from a run-map
    cache entry); per-source indexes and key lists are read on first use and kept.

    Parameters
    ----------
    filename : str or Path
        Path of the HDF5 file.

    Attributes
    ----------
    filename : str
        Absolute path of the file.
    format_version : str
        EuXFEL file format version ('0.5' when the file does not say).
    train_ids : numpy.ndarray
        Sorted uint64 train IDs of usable trains (padding and out-of-order trains removed).
    train_id_problems : TrainIDProblems
        Zeros and out-of-order train IDs found in INDEX/trainId.
    control_sources, instrument_sources : frozenset of str
    """

    _instances: "weakref.WeakValueDictionary[tuple, FileAccess]" = weakref.WeakValueDictionary()
    _instances_lock = threading.Lock()

    def __new__(cls, filename, _cached: dict | None = None):
        path = os.path.abspath(os.fspath(filename))
        try:
            st = os.stat(path)
        except FileNotFoundError as err:
            raise FileStructureError(path, "file not found") from err
        except OSError as err:
            raise FileStructureError(path, f"cannot access file ({err.strerror})") from err
        cache_key = (path, st.st_size, st.st_mtime_ns)
        with cls._instances_lock:
            existing = cls._instances.get(cache_key)
            if existing is not None:
                return existing
            self = super().__new__(cls)
            try:
                self._init(path, st, _cached)
            except BaseException:
                self.close()
                raise
            cls._instances[cache_key] = self
            return self

    def __reduce__(self):
        # Re-open by path in another process (dask workers) instead of pickling handles.
        return (FileAccess, (self.filename,))

    def _init(self, path: str, st: os.stat_result, cached: dict | None) -> None:
        self.filename = path
        self.size = st.st_size
        self.mtime = st.st_mtime
        self._file: h5py.File | None = None
        self._lock = threading.RLock()
        self._index_cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._keys_cache: dict[str, frozenset[str]] = {}
        self._dset_info: dict[tuple[str, str], tuple[tuple[int, ...], np.dtype]] = {}
        self._raw_train_ids: np.ndarray | None = None
        self._positions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._group_plans: dict[tuple[str, str], tuple] = {}  # used by chunks.plan_chunks
        if cached is not None:
            self._init_from_cache(cached)
        else:
            self._read_metadata()

    # ---- metadata --------------------------------------------------------------------
    def _init_from_cache(self, cached: dict) -> None:
        self.format_version = cached["format_version"]
        self.train_ids = np.asarray(cached["train_ids"], dtype=np.uint64)
        self.control_sources = frozenset(cached["control_sources"])
        self.instrument_sources = frozenset(cached["instrument_sources"])
        problems = cached.get("train_id_problems", {})
        self.train_id_problems = TrainIDProblems(
            np.asarray(problems.get("zero_positions", []), dtype=np.int64),
            np.asarray(problems.get("out_of_order_positions", []), dtype=np.int64),
        )
        self._keep_mask: np.ndarray | None = None  # read with INDEX/trainId on first index use

    def _read_metadata(self) -> None:
        f = self.file
        if "METADATA" not in f:
            raise FileStructureError(self.filename, "no METADATA group; not a EuXFEL data file?")
        if "INDEX" not in f or "trainId" not in f["INDEX"]:
            raise FileStructureError(self.filename, "no INDEX/trainId; not a EuXFEL data file?")
        meta = f["METADATA"]
        try:
            if "dataFormatVersion" in meta:
                self.format_version = _decode(meta["dataFormatVersion"][()].ravel())[0]
            else:
                self.format_version = "0.5"
            group = meta["dataSources"] if "dataSources" in meta else meta
            data_source_ids = _decode(group["dataSourceId"][()])
        except (KeyError, OSError, IndexError) as err:
            raise FileStructureError(self.filename, f"unreadable METADATA ({err})") from err
        control, instrument = set(), set()
        for entry in data_source_ids:
            if not entry:
                continue  # padding
            root, _, rest = entry.partition("/")
            if root == "CONTROL":
                control.add(rest)
            elif root == "INSTRUMENT":
                instrument.add(rest.rpartition("/")[0])
        self.control_sources = frozenset(control)
        self.instrument_sources = frozenset(instrument)
        self._load_train_ids()

    def _load_train_ids(self) -> None:
        try:
            raw = self.file["INDEX/trainId"][()]
        except OSError as err:
            raise FileStructureError(self.filename, f"unreadable INDEX/trainId ({err})") from err
        self._raw_train_ids = np.asarray(raw, dtype=np.uint64).ravel()
        self._keep_mask, self.train_id_problems = classify_train_ids(self._raw_train_ids)
        self.train_ids = self._raw_train_ids[self._keep_mask]

    def metadata(self) -> dict[str, Any]:
        """The per-file facts a run-map cache stores."""
        return {
            "format_version": self.format_version,
            "train_ids": self.train_ids,
            "control_sources": sorted(self.control_sources),
            "instrument_sources": sorted(self.instrument_sources),
            "train_id_problems": {
                "zero_positions": self.train_id_problems.zero_positions.tolist(),
                "out_of_order_positions": self.train_id_problems.out_of_order_positions.tolist(),
            },
        }

    @property
    def all_sources(self) -> frozenset[str]:
        return self.control_sources | self.instrument_sources

    @property
    def raw_train_ids(self) -> np.ndarray:
        """INDEX/trainId exactly as stored (including padding and bad values)."""
        if self._raw_train_ids is None:
            self._load_train_ids()
        return self._raw_train_ids

    @property
    def keep_mask(self) -> np.ndarray:
        """Boolean mask over INDEX/trainId of the positions kept in :attr:`train_ids`."""
        if self._keep_mask is None:
            self._load_train_ids()
        return self._keep_mask

    # ---- h5py handle -----------------------------------------------------------------
    @property
    def file(self) -> h5py.File:
        """The open, read-only h5py.File (opened on demand, closed by the limiter)."""
        with self._lock:
            if self._file is None:
                try:
                    self._file = h5py.File(self.filename, "r")
                except OSError as err:
                    raise FileStructureError(
                        self.filename, f"cannot open as HDF5 ({_short_h5_error(err)})"
                    ) from err
            _limiter.touch(self)
            return self._file

    def dataset(self, path: str) -> h5py.Dataset:
        """The h5py dataset at ``path`` (opened on each call: keeping handles would keep
        HDF5's per-dataset sieve buffers alive, thousands of them on slow-data runs)."""
        return self.file[path]

    def close(self) -> None:
        """Close the h5py handle (it is reopened on demand)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            _limiter.forget(self)

    # ---- sources, keys, indexes --------------------------------------------------------
    def _check_source(self, source: str) -> None:
        if source not in self.control_sources and source not in self.instrument_sources:
            raise SourceNameError(source, f"(file {self.filename})")

    def get_keys(self, source: str) -> frozenset[str]:
        """All keys of a source in this file (control keys end in .value/.timestamp)."""
        self._check_source(source)
        keys = self._keys_cache.get(source)
        if keys is None:
            root = "CONTROL" if source in self.control_sources else "INSTRUMENT"
            found: list[str] = []

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    key = name.replace("/", ".")
                    found.append(key)
                    # The dataset is open anyway: keep its shape and dtype for later.
                    self._dset_info[(source, key)] = (tuple(obj.shape), obj.dtype)

            try:
                self.file[f"{root}/{source}"].visititems(visit)
            except KeyError as err:
                raise FileStructureError(
                    self.filename, f"listed in METADATA but no {root} group", source
                ) from err
            keys = frozenset(found)
            self._keys_cache[source] = keys
        return keys

    def has_key(self, source: str, key: str) -> bool:
        return key in self.get_keys(source)

    def dataset_path(self, source: str, key: str) -> str:
        root = "CONTROL" if source in self.control_sources else "INSTRUMENT"
        return f"{root}/{source}/{key.replace('.', '/')}"

    def get_dataset(self, source: str, key: str) -> h5py.Dataset:
        """The h5py dataset of a (source, key)."""
        if not self.has_key(source, key):
            raise PropertyNameError(key, source)
        return self.file[self.dataset_path(source, key)]

    def dataset_info(self, source: str, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """(shape, dtype) of a key's dataset, cached."""
        info = self._dset_info.get((source, key))
        if info is None:
            ds = self.get_dataset(source, key)
            info = (tuple(ds.shape), ds.dtype)
            self._dset_info[(source, key)] = info
        return info

    def positions_in(self, train_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where this file's trains sit in sorted ``train_ids``: ``(positions, found)``.

        The last result is kept, keyed by the identity of ``train_ids``: every key of a
        collection shares one train array, so thousands of keys reuse one computation.
        """
        cached = self._positions
        if cached is not None and cached[0] is train_ids:
            return cached[1], cached[2]
        ftids = self.train_ids
        n = len(train_ids)
        pos = np.searchsorted(train_ids, ftids)
        if n:
            found = (pos < n) & (train_ids[np.minimum(pos, n - 1)] == ftids)
        else:
            found = np.zeros(len(ftids), dtype=bool)
        self._positions = (train_ids, pos, found)
        return pos, found

    @staticmethod
    def index_group(source_is_control: bool, key: str) -> str:
        """The INDEX subgroup for a key: '' for control data, the key's first part otherwise."""
        return "" if source_is_control else key.partition(".")[0]

    def get_index(self, source: str, group: str) -> tuple[np.ndarray, np.ndarray]:
        """``(first, count)`` uint64 arrays aligned with :attr:`train_ids`.

        Handles both the first/count layout and the legacy first/last/status layout.
        """
        self._check_source(source)
        cached = self._index_cache.get((source, group))
        if cached is not None:
            return cached
        path = f"INDEX/{source}" + (f"/{group}" if group else "")
        try:
            ix = self.file[path]
            if "count" in ix:
                first = ix["first"][()].astype(np.uint64).ravel()
                count = ix["count"][()].astype(np.uint64).ravel()
            elif "status" in ix:
                first = ix["first"][()].astype(np.uint64).ravel()
                last = ix["last"][()].astype(np.uint64).ravel()
                status = ix["status"][()].ravel()
                count = np.where(status != 0, last - first + np.uint64(1), np.uint64(0))
                count = count.astype(np.uint64)
            else:
                raise KeyError("neither first/count nor first/last/status")
        except KeyError as err:
            raise FileStructureError(self.filename, f"no usable index at {path} ({err})",
                                     source) from err
        n_raw = self.raw_train_ids.size
        if first.size != n_raw or count.size != n_raw:
            raise FileStructureError(
                self.filename,
                f"index {path} has {count.size} entries but INDEX/trainId has {n_raw}",
                source,
            )
        keep = self.keep_mask
        result = (first[keep], count[keep])
        self._index_cache[(source, group)] = result
        return result

    def __repr__(self) -> str:
        return f"<FileAccess {self.filename}>"


def _short_h5_error(err: OSError) -> str:
    text = str(err)
    for hint in ("truncated file", "file signature not found", "bad object header",
                 "Permission denied", "No such file"):
        if hint.lower() in text.lower():
            return hint
    return text.splitlines()[0][:200]
