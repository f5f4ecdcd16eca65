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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ..exceptions import TrainIDError, TrainNotFoundError

__all__ = ["by_id", "by_index", "ById", "ByIndex", "select_train_ids", "SourceKeyPatterns", "normalise_selection"]


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
    if arr.dtype == bool:
        raise TrainIDError(f"Boolean masks are not accepted as {what}; use np.nonzero(mask)[0].")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TrainIDError(f"{what} must be integers, got {arr.dtype}.")
    return arr.astype(np.int64 if what == "train indices" else np.uint64, copy=False)


def select_train_ids(train_ids: np.ndarray, selection: TrainSelection) -> np.ndarray:
    """Return the subset of sorted ``train_ids`` chosen by ``selection``.

    Parameters
    ----------
    train_ids : numpy.ndarray
        Sorted uint64 train IDs of the data.
    selection : by_id[...], by_index[...], slice, int, list or array of int
        Plain slices, ints and integer sequences select by index.

    Returns
    -------
    numpy.ndarray
        Sorted uint64 train IDs.

    Raises
    ------
    TrainIDError
        If explicitly requested train IDs or indices are not in the data, or a slice by
        train ID selects nothing.
    """
    train_ids = np.asarray(train_ids, dtype=np.uint64)
    if isinstance(selection, ById):
        value = selection.value
        if isinstance(value, slice):
            if value.step not in (None, 1):
                if not isinstance(value.step, int) or value.step < 1:
                    raise TrainIDError(f"by_id slice step must be a positive integer, got {value.step!r}.")
            start = 0 if value.start is None else int(value.start)
            lo = np.searchsorted(train_ids, np.uint64(start), side="left")
            if value.stop is None:
                hi = len(train_ids)
            else:
                hi = np.searchsorted(train_ids, np.uint64(int(value.stop)), side="left")
            sel = train_ids[lo:hi]
            if value.step not in (None, 1):
                sel = sel[(sel - np.uint64(start)) % np.uint64(value.step) == 0]
            if len(sel) == 0 and len(train_ids):
                raise TrainIDError(
                    f"No trains with IDs in [{value.start}, {value.stop}): the data has "
                    f"train IDs {train_ids[0]} to {train_ids[-1]}."
                )
            return sel
        wanted = np.unique(_as_int_array(value, "train IDs"))
        missing = np.setdiff1d(wanted, train_ids)
        if missing.size:
            shown = ", ".join(str(t) for t in missing[:5]) + (" ..." if missing.size > 5 else "")
            raise TrainNotFoundError(f"Train IDs not in the data: {shown}.")
        return wanted
    value = selection.value if isinstance(selection, ByIndex) else selection
    if isinstance(value, slice):
        return train_ids[value]
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


def match_keys(keys: Iterable[str], key_globs: list[str], is_control: bool) -> set[str]:
    """Keys matching any glob.

    For control sources a glob may name the property (``beamPosition.ixPos``): it then
    selects both ``.value`` and ``.timestamp`` of that property.
    """
    patterns = [_glob_regex(g) for g in key_globs]
    matched = set()
    for key in keys:
        prop = key.rsplit(".", 1)[0] if is_control else key
        for pattern in patterns:
            if pattern.fullmatch(key) or (is_control and pattern.fullmatch(prop)):
                matched.add(key)
                break
    return matched


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
