"""One object per EuXFEL HDF5 file on disk.

:class:`FileAccess` reads a file's METADATA (which sources it holds) and INDEX (train IDs,
and per source the first/count of its entries for each train) once, for every format
version, and keeps them as numpy arrays. The h5py handle is opened lazily, read-only, and
closed again by a least-recently-used limiter, so runs with thousands of files never hit
the operating system's limit on open files.

What a file holds is parsed once per file (:class:`_FileState`); a :class:`FileAccess` is
that state seen with one choice of trains: with or without suspect trains
(``inc_suspect_trains``), and optionally with some entries of some sources left out
(duplicates of trains that another file of the run already holds).

Layouts accepted as the DAQ writes them: ``INDEX/trainId`` ending in zeros (padding),
per-source indexes as long as the real trains or as the padded array, datasets longer
than their indexed entries (never-written chunks read as fill values).

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
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

import h5py
import numpy as np

from ..exceptions import (DataNotFoundError, FileStructureError, PropertyNameError,
                          SourceNameError)

log = logging.getLogger(__name__)

__all__ = ["FileAccess", "FileFormatWarning", "set_open_files_limit", "get_open_files_limit",
           "TrainIDProblems", "classify_train_ids", "guess_suspect_trains"]

_DEFAULT_OPEN_FILES = 128


class FileFormatWarning(UserWarning):
    """Data that is read although ``xfconvert validate`` would report it."""


class _OpenFilesLimiter:
    """Keeps at most ``limit`` h5py handles open, closing the least recently used."""

    def __init__(self, limit: int):
        self.limit = limit
        self._open: OrderedDict[int, Any] = OrderedDict()  # id(state) -> state or holder
        self._lock = threading.RLock()

    def touch(self, state: _FileState, holder: Any = None) -> None:
        """Mark ``state``'s handle as used; ``holder`` (a FileAccess using it, closed on
        eviction) is kept alive with it, so it stays findable while its file is open."""
        with self._lock:
            self._open[id(state)] = state if holder is None else holder
            self._open.move_to_end(id(state))
            while len(self._open) > self.limit:
                _, oldest = self._open.popitem(last=False)
                oldest.close()

    def forget(self, state: _FileState) -> None:
        with self._lock:
            self._open.pop(id(state), None)

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


def _few(positions: np.ndarray) -> str:
    text = ", ".join(str(p) for p in positions[:5])
    return text + (f" ... ({positions.size} in all)" if positions.size > 5 else "")


@dataclass(frozen=True)
class TrainIDProblems:
    """What is odd in a file's INDEX/trainId (false when nothing is).

    All fields are positions in INDEX/trainId. ``zero_positions`` are zeros that are not
    trailing padding (never trains); ``out_of_order_positions`` break increasing order;
    ``flagged_positions`` have ``INDEX/flag`` saying the ID did not come from the time
    server. ``suspect_positions`` are the trains ``inc_suspect_trains=False`` leaves out:
    the flagged ones where the file has a flag, else the out-of-order ones.
    """

    zero_positions: np.ndarray
    out_of_order_positions: np.ndarray
    flagged_positions: np.ndarray
    suspect_positions: np.ndarray

    def __bool__(self) -> bool:
        return bool(self.zero_positions.size or self.out_of_order_positions.size
                    or self.flagged_positions.size)

    def describe(self) -> str:
        parts = []
        if self.zero_positions.size:
            parts.append(f"train ID 0 at position(s) {_few(self.zero_positions)} "
                         "(zeros are only allowed as padding at the end)")
        if self.out_of_order_positions.size:
            parts.append(f"train IDs out of order at position(s) "
                         f"{_few(self.out_of_order_positions)}")
        if self.flagged_positions.size:
            parts.append(f"INDEX/flag marks train(s) at position(s) "
                         f"{_few(self.flagged_positions)} as not from the time server")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, list[int]]:
        return {name: getattr(self, name).tolist() for name in _PROBLEM_FIELDS}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "TrainIDProblems":
        return cls(*(np.asarray(doc.get(name, []), dtype=np.int64) for name in _PROBLEM_FIELDS))


_PROBLEM_FIELDS = ("zero_positions", "out_of_order_positions", "flagged_positions",
                   "suspect_positions")


def guess_suspect_trains(tids: np.ndarray) -> np.ndarray:
    """Which train IDs break increasing order, for files without ``INDEX/flag``.

    At each step down in ``tids`` (a train ID not above the one before), the trains on
    one side of the step that conflict with the other side are suspect: the side needing
    fewer of them (the later side on a tie), as EXtra-data 1.25 decides. Work is one
    vectorised pass per step down; real files have a handful.

    Returns a boolean mask, True for suspect trains.

    Examples
    --------
    >>> import numpy as np
    >>> guess_suspect_trains(np.array([10, 11, 99, 13, 14], np.uint64)).tolist()
    [False, False, True, False, False]
    """
    tids = np.asarray(tids, dtype=np.uint64)
    suspect = np.zeros(tids.size, dtype=bool)
    for ix in np.flatnonzero(tids[1:] <= tids[:-1]):
        before = tids[:ix + 1] >= tids[ix + 1]
        after = tids[ix + 1:] <= tids[ix]
        if np.count_nonzero(before) < np.count_nonzero(after):
            suspect[:ix + 1] |= before
        else:
            suspect[ix + 1:] |= after
    return suspect


def classify_train_ids(raw: np.ndarray, flag: np.ndarray | None = None
                       ) -> tuple[np.ndarray, TrainIDProblems]:
    """Find padding, zeros, out-of-order and flagged train IDs in INDEX/trainId.

    Parameters
    ----------
    raw : numpy.ndarray
        INDEX/trainId as stored.
    flag : numpy.ndarray, optional
        Good-train flags (``INDEX/flag`` as booleans, True = from the time server);
        without it, out-of-order trains are the suspect ones.

    Returns
    -------
    nonzero : numpy.ndarray
        Positions of non-zero train IDs (the trains; zeros are never trains).
    problems : TrainIDProblems

    Examples
    --------
    >>> import numpy as np
    >>> pos, problems = classify_train_ids(np.array([5, 0, 7, 3, 8, 0, 0], np.uint64))
    >>> pos.tolist(), problems.zero_positions.tolist(), problems.suspect_positions.tolist()
    ([0, 2, 3, 4], [1], [3])
    """
    raw = np.asarray(raw, dtype=np.uint64)
    nonzero = np.flatnonzero(raw)
    n_used = int(nonzero[-1]) + 1 if nonzero.size else 0
    zero = np.flatnonzero(raw[:n_used] == 0)
    out_of_order = nonzero[guess_suspect_trains(raw[nonzero])]
    if flag is None:
        flagged = np.zeros(0, dtype=np.int64)
        suspect = out_of_order
    else:
        good = np.ones(raw.size, dtype=bool)
        n = min(raw.size, len(flag))
        good[:n] = np.asarray(flag[:n], dtype=bool)
        flagged = nonzero[~good[nonzero]]
        suspect = flagged
    return nonzero, TrainIDProblems(zero, out_of_order, flagged, suspect)


def _train_id_array(fname: str, values: np.ndarray) -> np.ndarray:
    """INDEX/trainId as uint64, refusing dtypes that cannot hold train IDs."""
    values = np.asarray(values)
    if values.ndim != 1:
        values = values.reshape(-1) if values.ndim > 1 else None
    if values is None:
        raise FileStructureError(fname, "INDEX/trainId is a scalar, not an array of train IDs")
    kind = values.dtype.kind
    if kind in "ui":
        return values.astype(np.uint64)
    if kind == "f":
        finite = np.isfinite(values)
        if finite.all() and (values >= 0).all() and (values == np.floor(values)).all():
            warnings.warn(f"{fname}: INDEX/trainId is stored as {values.dtype}; reading its "
                          "whole-number values as train IDs", FileFormatWarning, stacklevel=4)
            return values.astype(np.uint64)
        raise FileStructureError(fname, f"INDEX/trainId holds {values.dtype} values that are "
                                 "not whole numbers, not train IDs")
    raise FileStructureError(fname, f"INDEX/trainId has dtype {values.dtype}, not integer "
                             "train IDs")


class _FileState:
    """What one file on disk holds, parsed once and shared by its FileAccess views."""

    def __init__(self, path: str, st: os.stat_result, cached: Mapping[str, Any] | None):
        self.filename = path
        self.size = st.st_size
        self.mtime = st.st_mtime
        self._file: h5py.File | None = None
        self._lock = threading.RLock()
        self.raw_index: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self.keys: dict[str, frozenset[str]] = {}
        self.dset_info: dict[tuple[str, str], tuple[tuple[int, ...], np.dtype]] = {}
        self._raw_train_ids: np.ndarray | None = None
        if cached is not None:
            self.format_version = cached["format_version"]
            self.nonzero_ids = np.asarray(cached["train_ids"], dtype=np.uint64)
            self.control_sources = frozenset(cached["control_sources"])
            self.instrument_sources = frozenset(cached["instrument_sources"])
            self.problems = TrainIDProblems.from_dict(cached["train_id_problems"])
            n = self.nonzero_ids.size + self.problems.zero_positions.size
            self.nonzero = np.setdiff1d(np.arange(n), self.problems.zero_positions)
        else:
            try:
                self._read_metadata()
            except BaseException:
                self.close()
                raise

    @property
    def file(self) -> h5py.File:
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

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            _limiter.forget(self)

    def _read_metadata(self) -> None:
        f = self.file
        if "METADATA" not in f:
            raise FileStructureError(self.filename, "no METADATA group; not a EuXFEL data file?")
        if "INDEX" not in f or "trainId" not in f["INDEX"]:
            raise FileStructureError(self.filename, "no INDEX/trainId; not a EuXFEL data file?")
        meta = f["METADATA"]
        try:
            if "dataFormatVersion" in meta:
                self.format_version = _decode(np.ravel(meta["dataFormatVersion"][()]))[0]
            else:
                self.format_version = "0.5"
            group = meta["dataSources"] if "dataSources" in meta else meta
            ids = group["dataSourceId"]
            if ids.dtype.kind not in "SUO":
                raise FileStructureError(self.filename, "METADATA dataSourceId holds "
                                         f"{ids.dtype} values, not source names")
            data_source_ids = _decode(np.ravel(ids[()]))
        except (KeyError, OSError, IndexError) as err:
            raise FileStructureError(self.filename, f"unreadable METADATA ({err})") from err
        control, instrument = set(), set()
        for entry in data_source_ids:
            root, _, rest = entry.partition("/")
            if root == "CONTROL":
                control.add(rest)
            elif root == "INSTRUMENT":
                instrument.add(rest.rpartition("/")[0])
        self.control_sources = frozenset(control)
        self.instrument_sources = frozenset(instrument)
        raw = self.raw_train_ids
        flag = None
        if self.format_version != "0.5" and "flag" in f["INDEX"]:
            try:
                flag = np.ravel(f["INDEX/flag"][()]).astype(bool)
            except (OSError, TypeError, ValueError) as err:
                raise FileStructureError(self.filename, f"unreadable INDEX/flag ({err})") from err
            if self.format_version == "1.1":
                flag = ~flag  # format 1.1 stored an index there: 0 meant the time server
        self.nonzero, self.problems = classify_train_ids(raw, flag)
        self.nonzero_ids = raw[self.nonzero]

    @property
    def raw_train_ids(self) -> np.ndarray:
        if self._raw_train_ids is None:
            try:
                raw = self.file["INDEX/trainId"][()]
            except (OSError, KeyError) as err:
                raise FileStructureError(self.filename,
                                         f"unreadable INDEX/trainId ({err})") from err
            self._raw_train_ids = _train_id_array(self.filename, raw)
        return self._raw_train_ids

    def index(self, source: str, group: str) -> tuple[np.ndarray, np.ndarray]:
        """``(first, count)`` uint64 over every position of INDEX/trainId."""
        cached = self.raw_index.get((source, group))
        if cached is None:
            cached = self.raw_index[(source, group)] = self._read_index(source, group)
        return cached

    def _read_index(self, source: str, group: str) -> tuple[np.ndarray, np.ndarray]:
        path = f"INDEX/{source}" + (f"/{group}" if group else "")
        try:
            ix = self.file[path]
            if "count" in ix:
                first, count = _int_array(ix["first"]), _int_array(ix["count"])
            elif "status" in ix:
                first, last = _int_array(ix["first"]), _int_array(ix["last"])
                status = np.ravel(ix["status"][()])
                n = min(first.size, last.size, status.size)
                first = first[:n]
                count = np.where(status[:n] != 0, last[:n] - first + 1, 0)
            else:
                raise KeyError("neither first/count nor first/last/status")
        except KeyError as err:
            raise FileStructureError(self.filename, f"no usable index at {path} ({err})",
                                     source) from err
        except (TypeError, ValueError) as err:
            raise FileStructureError(self.filename, f"index {path}: {err}", source) from err
        n_raw = self.raw_train_ids.size
        n_used = int(self.nonzero[-1]) + 1 if self.nonzero.size else 0
        n = min(first.size, count.size)
        if n < n_used:
            raise FileStructureError(
                self.filename, f"index {path} has {n} entries but INDEX/trainId has "
                f"{n_used} trains", source)
        # Either as many entries as trains or as the padded INDEX/trainId: both occur.
        first = np.resize(first[:n], n_raw) if n != n_raw else first[:n]
        count = np.resize(count[:n], n_raw) if n != n_raw else count[:n]
        first[n:] = 0
        count[n:] = 0
        count[self._not_trains()] = 0
        if (count < 0).any() or (first < 0).any():
            bad = np.flatnonzero((count < 0) | (first < 0))
            warnings.warn(f"{self.filename}: source {source}: index {path} has negative "
                          f"first/count at train position(s) {_few(bad)}; reading no data "
                          "for those trains", FileFormatWarning, stacklevel=5)
            count[bad] = 0
        nz = np.flatnonzero(count)
        ends = first[nz] + count[nz]
        if nz.size > 1 and (first[nz][1:] < ends[:-1]).any():
            warnings.warn(f"{self.filename}: source {source}: index {path} has overlapping "
                          "entries; trains share data", FileFormatWarning, stacklevel=5)
        return first.astype(np.uint64), count.astype(np.uint64)

    def _not_trains(self) -> np.ndarray:
        mask = np.ones(self.raw_train_ids.size, dtype=bool)
        mask[self.nonzero] = False
        return mask


def _int_array(ds: h5py.Dataset) -> np.ndarray:
    if ds.dtype.kind not in "ui":
        raise TypeError(f"{ds.name} has dtype {ds.dtype}, not integers")
    return np.ravel(ds[()]).astype(np.int64)


class FileAccess:
    """Access to one EuXFEL HDF5 file, shared by every collection that uses it.

    Creating ``FileAccess(path)`` twice for the same unchanged file, with the same
    ``inc_suspect_trains``, returns the same object. METADATA and INDEX/trainId are read
    on creation (or taken from a run-map cache entry); per-source indexes and key lists
    are read on first use and kept.

    Parameters
    ----------
    filename : str or Path
        Path of the HDF5 file.
    inc_suspect_trains : bool
        Include trains whose ID may be wrong (``INDEX/flag == 0``, or out of order in
        files without a flag). Zeros are never trains.

    Attributes
    ----------
    filename : str
        Absolute path of the file.
    format_version : str
        EuXFEL file format version ('0.5' when the file does not say).
    train_ids : numpy.ndarray
        Sorted, unique uint64 train IDs of the trains used.
    raw_positions : numpy.ndarray
        Where each of ``train_ids`` sits in INDEX/trainId.
    repeated_positions : numpy.ndarray
        Positions of train IDs that repeat an earlier one in this file (left out;
        ``repeated_of`` holds the positions they repeat).
    train_id_problems : TrainIDProblems
        Zeros, out-of-order and flagged train IDs found in INDEX/trainId.
    control_sources, instrument_sources : frozenset of str
    """

    _instances: "weakref.WeakValueDictionary[tuple, FileAccess]" = weakref.WeakValueDictionary()
    _states: "weakref.WeakValueDictionary[tuple, _FileState]" = weakref.WeakValueDictionary()
    _instances_lock = threading.Lock()

    def __new__(cls, filename, _cached: dict | None = None, *,
                inc_suspect_trains: bool = True):
        path = os.path.abspath(os.fspath(filename))
        try:
            st = os.stat(path)
        except FileNotFoundError as err:
            raise DataNotFoundError(path, "file not found") from err
        except OSError as err:
            raise FileStructureError(path, f"cannot access file ({err.strerror})") from err
        file_key = (path, st.st_size, st.st_mtime_ns)
        key = file_key + (bool(inc_suspect_trains),)
        with cls._instances_lock:
            existing = cls._instances.get(key)
            if existing is not None:
                return existing
            # The limiter keeps open states alive: reuse one rather than open a second handle.
            state = cls._states.get(file_key)
            if state is None:
                state = _FileState(path, st, _cached)
                cls._states[file_key] = state
            self = cls._view(state, bool(inc_suspect_trains), {})
            cls._instances[key] = self
            if state._file is not None:
                _limiter.touch(state, self)
            return self

    @classmethod
    def _view(cls, state: _FileState, inc_suspect: bool,
              excluded: dict[str, np.ndarray]) -> "FileAccess":
        self = super().__new__(cls)
        self._state = state
        self.inc_suspect_trains = inc_suspect
        self._excluded = excluded
        self._index_cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._positions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._group_plans: dict[tuple[str, str], tuple] = {}  # used by chunks.plan_chunks
        positions = state.nonzero
        if not inc_suspect:
            positions = np.setdiff1d(positions, state.problems.suspect_positions)
        tids = state.raw_train_ids[positions] if state._raw_train_ids is not None else None
        if tids is None:
            tids = state.nonzero_ids[np.searchsorted(state.nonzero, positions)]
        order = np.argsort(tids, kind="stable")
        tids, positions = tids[order], positions[order]
        first_of = np.ones(tids.size, dtype=bool)
        first_of[1:] = tids[1:] != tids[:-1]
        # A repeated ID: keep its first occurrence in the file; the caller compares data.
        starts = np.maximum.accumulate(np.where(first_of, np.arange(tids.size), 0))
        self.repeated_positions = positions[~first_of]
        self.repeated_of = positions[starts[~first_of]]
        self.train_ids = tids[first_of]
        self.raw_positions = positions[first_of]
        return self

    def excluding(self, excluded: Mapping[str, np.ndarray]) -> "FileAccess":
        """This file with no entries for some trains of some sources.

        Parameters
        ----------
        excluded : mapping
            source -> positions in INDEX/trainId whose entries are left out (their
            counts read as 0). Used for trains another file of the run already holds.
        """
        merged = dict(self._excluded)
        for source, positions in excluded.items():
            merged[source] = np.union1d(merged.get(source, np.zeros(0, np.int64)),
                                        np.asarray(positions, dtype=np.int64))
        return FileAccess._view(self._state, self.inc_suspect_trains, merged)

    def __reduce__(self):
        # Re-open by path in another process (dask workers) instead of pickling handles.
        return (_reopen, (self.filename, self.inc_suspect_trains, self._excluded))

    # ---- facts of the file ------------------------------------------------------------
    filename = property(lambda self: self._state.filename)
    size = property(lambda self: self._state.size)
    mtime = property(lambda self: self._state.mtime)
    format_version = property(lambda self: self._state.format_version)
    control_sources = property(lambda self: self._state.control_sources)
    instrument_sources = property(lambda self: self._state.instrument_sources)
    train_id_problems = property(lambda self: self._state.problems)
    _file = property(lambda self: self._state._file)

    @property
    def all_sources(self) -> frozenset[str]:
        return self.control_sources | self.instrument_sources

    @property
    def raw_train_ids(self) -> np.ndarray:
        """INDEX/trainId exactly as stored (including padding and bad values)."""
        return self._state.raw_train_ids

    @property
    def keep_mask(self) -> np.ndarray:
        """Boolean mask over INDEX/trainId of the positions used for :attr:`train_ids`
        (in file order; :attr:`raw_positions` gives the order of ``train_ids``)."""
        mask = np.zeros(self.raw_train_ids.size, dtype=bool)
        mask[self.raw_positions] = True
        return mask

    def metadata(self) -> dict[str, Any]:
        """The per-file facts a run-map cache stores (train IDs: every non-zero one,
        in file order)."""
        state = self._state
        return {
            "format_version": state.format_version,
            "train_ids": state.nonzero_ids,
            "control_sources": sorted(state.control_sources),
            "instrument_sources": sorted(state.instrument_sources),
            "train_id_problems": state.problems.as_dict(),
        }

    # ---- h5py handle -----------------------------------------------------------------
    @property
    def file(self) -> h5py.File:
        """The open, read-only h5py.File (opened on demand, closed by the limiter)."""
        f = self._state.file
        _limiter.touch(self._state, self)
        return f

    def dataset(self, path: str) -> h5py.Dataset:
        """The h5py dataset at ``path`` (opened on each call: keeping handles would keep
        HDF5's per-dataset sieve buffers alive, thousands of them on slow-data runs)."""
        return self.file[path]

    def close(self) -> None:
        """Close the h5py handle (it is reopened on demand)."""
        self._state.close()

    # ---- sources, keys, indexes --------------------------------------------------------
    def _check_source(self, source: str) -> None:
        if source not in self.control_sources and source not in self.instrument_sources:
            raise SourceNameError(source, f"(file {self.filename})")

    def get_keys(self, source: str) -> frozenset[str]:
        """All keys of a source in this file (control keys end in .value/.timestamp)."""
        self._check_source(source)
        state = self._state
        keys = state.keys.get(source)
        if keys is None:
            root = "CONTROL" if source in self.control_sources else "INSTRUMENT"
            found: list[str] = []

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    key = name.replace("/", ".")
                    found.append(key)
                    # The dataset is open anyway: keep its shape and dtype for later.
                    state.dset_info[(source, key)] = (tuple(obj.shape), obj.dtype)

            try:
                self.file[f"{root}/{source}"].visititems(visit)
            except KeyError as err:
                raise FileStructureError(
                    self.filename, f"listed in METADATA but no {root} group", source
                ) from err
            keys = frozenset(found)
            state.keys[source] = keys
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
        info = self._state.dset_info.get((source, key))
        if info is None:
            ds = self.get_dataset(source, key)
            info = (tuple(ds.shape), ds.dtype)
            self._state.dset_info[(source, key)] = info
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

    def raw_index(self, source: str, group: str) -> tuple[np.ndarray, np.ndarray]:
        """``(first, count)`` uint64 over every position of INDEX/trainId (padding and
        trains not used have count 0)."""
        self._check_source(source)
        return self._state.index(source, group)

    def get_index(self, source: str, group: str) -> tuple[np.ndarray, np.ndarray]:
        """``(first, count)`` uint64 arrays aligned with :attr:`train_ids`.

        Handles both the first/count layout and the legacy first/last/status layout.
        """
        cached = self._index_cache.get((source, group))
        if cached is not None:
            return cached
        first, count = self.raw_index(source, group)
        first, count = first[self.raw_positions], count[self.raw_positions]
        excluded = self._excluded.get(source)
        if excluded is not None and excluded.size:
            count[np.isin(self.raw_positions, excluded)] = 0
        self._index_cache[(source, group)] = (first, count)
        return first, count

    def __repr__(self) -> str:
        return f"<FileAccess {self.filename}>"


def _reopen(filename: str, inc_suspect: bool, excluded: dict[str, np.ndarray]) -> FileAccess:
    fa = FileAccess(filename, inc_suspect_trains=inc_suspect)
    return fa.excluding(excluded) if excluded else fa


def _short_h5_error(err: OSError) -> str:
    text = str(err)
    for hint in ("truncated file", "file signature not found", "bad object header",
                 "Permission denied", "No such file"):
        if hint.lower() in text.lower():
            return hint
    return text.splitlines()[0][:200]
