"""Selecting trains, sources and keys.

Train selections: ``by_id[...]`` selects by train ID, ``by_index[...]`` (or a plain slice,
integer list or array) selects by position within the current data.

Source/key selections take one of three forms (see :meth:`DataCollection.select`): two glob
patterns, an iterable of ``(source_glob, key_glob)`` pairs, or a dict mapping exact source
names to sets of keys.

Examples
--------
>>> import numpy as np
>>> from xfconvert.readers.selection import by_id, by_index, select_train_ids
>>> tids = np.arange(100, 110, dtype=np.uint64)
>>> select_train_ids(tids, by_id[103:106]).tolist()
[103, 104, 105]
>>> select_train_ids(tids, by_index[-2:]).tolist()
[108, 109]
"""
from __future__ import annotations

import fnmatch
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ..exceptions import TrainIDError, TrainNotFoundError

if TYPE_CHECKING:
    from .collection import DataCollection

__all__ = ["by_id", "by_index", "ById", "ByIndex", "select_train_ids", "is_train_selection",
           "SourceKeyPatterns", "normalise_selection", "match_keys", "has_wildcards",
           "trains_with_data"]


@dataclass(frozen=True)
class _TrainSelection:
    value: Any


class ById(_TrainSelection):
    """Trains selected by train ID: a slice (stop exclusive), a list/array of IDs or one ID."""


class ByIndex(_TrainSelection):
    """Trains selected by position: a slice, a list/array of positions or one position."""


class _Indexer:
    def __init__(self, cls):
        self._cls = cls

    def __getitem__(self, item) -> _TrainSelection:
        return self._cls(item)

    def __repr__(self) -> str:
        return "by_id" if self._cls is ById else "by_index"


by_id = _Indexer(ById)
by_index = _Indexer(ByIndex)

TrainSelection = Union[_TrainSelection, slice, int, Iterable[int], np.ndarray]


def _as_int_array(value, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TrainIDError(f"{what} must be integers, got {arr.dtype}.")
    return arr.astype(np.int64 if what == "train indices" else np.uint64, copy=False)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _by_id_slice(train_ids: np.ndarray, value: slice) -> np.ndarray:
    # Start and stop are train IDs (stop exclusive); the step counts trains, as in
    # EXtra-data, so by_id[a:b:2] takes every other train that is present.
    if value.step is not None and (not _is_int(value.step) or value.step < 1):
        raise TrainIDError(f"by_id slice step must be a positive integer, got {value.step!r}.")
    lo = 0 if value.start is None else int(np.searchsorted(train_ids, np.uint64(int(value.start))))
    hi = len(train_ids) if value.stop is None else \
        int(np.searchsorted(train_ids, np.uint64(int(value.stop))))
    return train_ids[lo:hi:value.step]


def _by_id_list(train_ids: np.ndarray, value) -> np.ndarray:
    wanted = np.unique(_as_int_array(value, "train IDs"))
    found = np.intersect1d(wanted, train_ids, assume_unique=True)
    if wanted.size and not found.size:
        warnings.warn(f"None of the {wanted.size} given train IDs are among the "
                      f"{len(train_ids)} trains of this data.", stacklevel=4)
    return found


def _boolean_mask(train_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if mask.shape != train_ids.shape:
        raise TrainIDError(f"A boolean train mask must have one value per train: got "
                           f"{mask.shape[0] if mask.ndim else 'a scalar'} for "
                           f"{len(train_ids)} trains.")
    return train_ids[mask]


def _xarray_mask(train_ids: np.ndarray, mask) -> np.ndarray:
    if mask.dtype != bool:
        raise TrainIDError(f"An xarray train selection must be boolean, got {mask.dtype}.")
    if "trainId" not in mask.coords:
        raise TrainIDError("An xarray train selection needs a 'trainId' coordinate.")
    chosen = np.asarray(mask.trainId.values, dtype=np.uint64)[np.asarray(mask.values)]
    return np.intersect1d(chosen, train_ids)


def is_train_selection(item) -> bool:
    """Whether ``item`` (as in ``data[item]``) selects trains rather than a source."""
    return (isinstance(item, (_TrainSelection, slice, list, np.ndarray)) or _is_int(item)
            or _is_data_array(item))


def _is_data_array(value) -> bool:
    cls = type(value)
    return cls.__name__ == "DataArray" and cls.__module__.startswith("xarray")


def select_train_ids(train_ids: np.ndarray, selection: TrainSelection) -> np.ndarray:
    """Return the subset of sorted ``train_ids`` chosen by ``selection``.

    Parameters
    ----------
    train_ids : numpy.ndarray
        Sorted uint64 train IDs of the data.
    selection : by_id[...], by_index[...], slice, int, list or array of int, boolean mask
        Plain slices, ints and integer sequences select by index. A boolean numpy array
        (one value per train) or a boolean xarray DataArray with a ``trainId``
        coordinate selects the trains where it is True.

    Returns
    -------
    numpy.ndarray
        Sorted, unique uint64 train IDs. ``by_id`` selections keep the train IDs that
        are in the data (a warning if a list matches none); an ID slice that matches
        nothing gives no trains.

    Raises
    ------
    TrainIDError
        A boolean mask of the wrong length, a non-integer selection.
    TrainNotFoundError
        Train positions (``by_index``) out of range.

    Examples
    --------
    >>> tids = np.arange(100, 105, dtype=np.uint64)
    >>> select_train_ids(tids, by_id[[101, 103, 999]]).tolist()
    [101, 103]
    >>> select_train_ids(tids, np.array([True, False, True, False, False])).tolist()
    [100, 102]
    """
    train_ids = np.asarray(train_ids, dtype=np.uint64)
    if isinstance(selection, ById):
        value = selection.value
        if isinstance(value, slice):
            return _by_id_slice(train_ids, value)
        return _by_id_list(train_ids, value)
    value = selection.value if isinstance(selection, ByIndex) else selection
    if isinstance(value, slice):
        return train_ids[value]
    if _is_data_array(value):
        return _xarray_mask(train_ids, value)
    if isinstance(value, np.ndarray) and value.dtype == bool:
        return _boolean_mask(train_ids, value)
    positions = _as_int_array(value, "train indices")
    n = len(train_ids)
    bad = (positions >= n) | (positions < -n)
    if bad.any():
        raise TrainNotFoundError(
            f"Train index {positions[bad][0]} out of range for data with {n} trains."
        )
    return np.unique(train_ids[positions])


def _glob_regex(pattern: str) -> re.Pattern:
    return re.compile(fnmatch.translate(pattern))


class SourceKeyPatterns:
    """An ordered set of ``(source_glob, key_glob)`` pairs, compiled once."""

    def __init__(self, pairs: Iterable[tuple[str, str]]):
        self.pairs = [(s, k) for s, k in pairs]
        self._source_res = [_glob_regex(s) for s, _ in self.pairs]

    def sources_matching(self, sources: Iterable[str]) -> dict[str, list[str]]:
        """Map each matching source to the key globs that apply to it."""
        out: dict[str, list[str]] = {}
        for src in sources:
            for src_re, (_, key_glob) in zip(self._source_res, self.pairs):
                if src_re.fullmatch(src):
                    out.setdefault(src, []).append(key_glob)
        return out


_WILDCARDS = re.compile(r"[*?\[]")


def has_wildcards(pattern: str) -> bool:
    """Whether a glob pattern has any wildcard (``*``, ``?``, ``[``)."""
    return _WILDCARDS.search(pattern) is not None


def match_keys(keys: Iterable[str], key_globs: list[str], is_control: bool) -> set[str]:
    """Keys matching any glob.

    For control sources, a glob ending in ``.value``, ``.timestamp`` or ``*`` is matched
    against the stored names; any other glob names properties (``beamPosition.ixPos``,
    ``*Pos``) and selects only their ``.value``, as EXtra-data does.

    Examples
    --------
    >>> keys = ["a.x.value", "a.x.timestamp", "a.y.value", "a.y.timestamp"]
    >>> sorted(match_keys(keys, ["a.x"], is_control=True))
    ['a.x.value']
    >>> sorted(match_keys(keys, ["a.*"], is_control=True))
    ['a.x.timestamp', 'a.x.value', 'a.y.timestamp', 'a.y.value']
    """
    stored, props = [], []
    for glob in key_globs:
        if is_control and not glob.endswith((".value", ".timestamp", "*")):
            props.append(_glob_regex(glob + ".value"))
        else:
            stored.append(_glob_regex(glob))
    return {key for key in keys
            if any(p.fullmatch(key) for p in stored) or any(p.fullmatch(key) for p in props)}


def normalise_selection(seln_or_source_glob, key_glob: str = "*"):
    """Turn the three accepted selection forms into patterns or an exact dict.

    Returns either a :class:`SourceKeyPatterns` (glob forms) or a dict mapping source names
    to a set of keys (empty set: all keys).
    """
    if isinstance(seln_or_source_glob, str):
        return SourceKeyPatterns([(seln_or_source_glob, key_glob)])
    if isinstance(seln_or_source_glob, Mapping):
        out = {}
        for src, keys in seln_or_source_glob.items():
            if keys is None:
                keys = set()
            if isinstance(keys, str):
                raise TypeError(
                    f"Selection dict values must be sets of keys, got the string {keys!r} "
                    f"for source {src!r}."
                )
            out[src] = set(keys)
        return out
    pairs = []
    for item in seln_or_source_glob:
        if isinstance(item, str):
            pairs.append((item, "*"))
        else:
            src, key = item
            pairs.append((src, key))
    return SourceKeyPatterns(pairs)


def trains_with_data(data: "DataCollection", require_all: bool,
                     warn_frac: float = 1.0) -> np.ndarray:
    """The selected trains where all (``require_all``) or any of the selected sources
    and index groups have data; ``select(require_all=/require_any=)``.

    With ``require_all``, warns when one source drops at least ``warn_frac`` of the
    trains still kept.
    """
    from .file_access import FileAccess
    tids = data.train_id_array
    keep = np.full(len(tids), bool(require_all))
    for src in sorted(data.all_sources):
        sd = data[src]
        groups: dict[str, str] = {}
        for key in sorted(sd.keys()):
            groups.setdefault(FileAccess.index_group(sd.is_control, key), key)
        n_before = int(keep.sum())
        for key in groups.values():
            has_data = sd[key].data_counts(labelled=False) > 0
            keep = keep & has_data if require_all else keep | has_data
        if require_all and n_before:
            n_drop = n_before - int(keep.sum())
            if n_drop / n_before >= warn_frac:
                warnings.warn(f"{n_drop}/{n_before} ({n_drop / n_before:.0%}) trains "
                              f"dropped when filtering by {src}", stacklevel=4)
    return tids[keep]
