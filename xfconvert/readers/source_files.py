"""The same train of one source in two places: find it, compare the data, resolve it.

A run may hold a train of a source twice: in two files (a sequence file written again)
or at two positions of one file's INDEX/trainId. Where the data are identical the train
is read once (with a warning); where they differ nothing can say which is right, and
opening the run raises. The search works on train IDs first (one sort per group of
files sharing sources) and reads values only for trains that collide.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert.readers.file_access import FileAccess
>>> from xfconvert.readers.source_files import find_duplicate_trains
>>> import tempfile, pathlib
>>> run_dir = make_run(pathlib.Path(tempfile.mkdtemp()) / "r0001", n_trains=4)
>>> find_duplicate_trains([FileAccess(p) for p in sorted(run_dir.glob("*.h5"))])
[]
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import h5py
import numpy as np

from ..exceptions import FileStructureError
from .file_access import FileAccess, FileFormatWarning

log = logging.getLogger(__name__)

__all__ = ["Duplicate", "find_duplicate_trains", "resolve_duplicate_trains"]


@dataclass(frozen=True)
class Duplicate:
    """Trains of one source held twice: at ``positions`` of ``other`` and at
    ``original_positions`` of ``original`` (positions in INDEX/trainId)."""

    source: str
    original: FileAccess
    other: FileAccess
    train_ids: np.ndarray
    original_positions: np.ndarray
    positions: np.ndarray
    identical: bool

    def describe(self) -> str:
        tids = ", ".join(str(t) for t in self.train_ids[:5])
        more = f" ... ({self.train_ids.size} in all)" if self.train_ids.size > 5 else ""
        where = ("again in the same file" if self.original is self.other
                 else f"also in {self.original.filename}")
        kind = "identical data" if self.identical else "different data"
        return f"train(s) {tids}{more} {where}, with {kind}"


def find_duplicate_trains(files: list[FileAccess]) -> list[Duplicate]:
    """Every train held twice by a source of ``files`` (earlier files are the originals).

    Parameters
    ----------
    files : list of FileAccess
        In their run order (file names sorted).

    Returns
    -------
    list of Duplicate
    """
    found: list[Duplicate] = []
    for fa in files:
        if fa.repeated_positions.size:
            tids = fa.raw_train_ids[fa.repeated_positions]
            for source in sorted(fa.all_sources):
                found.append(_compare(source, fa, fa.repeated_of, fa, fa.repeated_positions,
                                      tids))
    by_source: dict[str, list[int]] = {}
    for i, fa in enumerate(files):
        for source in fa.all_sources:
            by_source.setdefault(source, []).append(i)
    collisions: dict[tuple[int, ...], list[tuple[int, int, np.ndarray]]] = {}
    for source in sorted(by_source):
        group = tuple(by_source[source])
        if len(group) < 2:
            continue
        if group not in collisions:
            collisions[group] = _collisions([files[i] for i in group])
        for a, b, tids in collisions[group]:
            fa, fb = files[group[a]], files[group[b]]
            pa = fa.raw_positions[np.searchsorted(fa.train_ids, tids)]
            pb = fb.raw_positions[np.searchsorted(fb.train_ids, tids)]
            found.append(_compare(source, fa, pa, fb, pb, tids))
    return found


def _collisions(files: list[FileAccess]) -> list[tuple[int, int, np.ndarray]]:
    """(original file, other file, train IDs) of trains held by more than one file."""
    tids = np.concatenate([fa.train_ids for fa in files])
    owner = np.repeat(np.arange(len(files)), [fa.train_ids.size for fa in files])
    order = np.argsort(tids, kind="stable")
    tids, owner = tids[order], owner[order]
    repeat = np.flatnonzero(tids[1:] == tids[:-1]) + 1
    if not repeat.size:
        return []
    is_first = np.ones(tids.size, dtype=bool)
    is_first[repeat] = False
    first_owner = owner[np.maximum.accumulate(np.where(is_first, np.arange(tids.size), 0))]
    pairs: dict[tuple[int, int], list[int]] = {}
    for i in repeat:
        pairs.setdefault((int(first_owner[i]), int(owner[i])), []).append(int(tids[i]))
    return [(a, b, np.array(t, dtype=np.uint64)) for (a, b), t in sorted(pairs.items())]


def _index_groups(fa: FileAccess, source: str) -> list[str]:
    if source in fa.control_sources:
        return [""]
    group = fa.file.get(f"INDEX/{source}")
    return sorted(k for k, v in group.items() if isinstance(v, h5py.Group)) if group else []


def _compare(source: str, fa: FileAccess, pa: np.ndarray, fb: FileAccess, pb: np.ndarray,
             tids: np.ndarray) -> Duplicate:
    same = _same_data(source, fa, pa, fb, pb)
    return Duplicate(source, fa, fb, tids, pa, pb, same)


def _same_data(source: str, fa: FileAccess, pa: np.ndarray, fb: FileAccess,
               pb: np.ndarray) -> bool:
    groups = _index_groups(fa, source)
    if groups != _index_groups(fb, source) or fa.get_keys(source) != fb.get_keys(source):
        return False
    keys = fa.get_keys(source)
    for group in groups:
        first_a, count_a = fa.raw_index(source, group)
        first_b, count_b = fb.raw_index(source, group)
        if not np.array_equal(count_a[pa], count_b[pb]):
            return False
        prefix = group + "." if group else ""
        for key in sorted(k for k in keys if k.startswith(prefix)):
            if not _same_bytes(_entries(fa, source, key, first_a[pa], count_a[pa]),
                               _entries(fb, source, key, first_b[pb], count_b[pb])):
                return False
    return True


def _entries(fa: FileAccess, source: str, key: str, first: np.ndarray, count: np.ndarray
             ) -> np.ndarray:
    """The entries of the given trains, read as one block per file and picked in numpy."""
    c = count.astype(np.int64)
    if not c.sum():
        return np.zeros(0)
    starts = first.astype(np.int64)
    idx = np.repeat(starts - np.cumsum(c) + c, c) + np.arange(c.sum())
    ds = fa.get_dataset(source, key)
    if ds.ndim == 0 or idx.max() >= ds.shape[0]:
        raise FileStructureError(fa.filename, "index points past the end of the data "
                                 "(while comparing duplicate trains)", source, key)
    lo, hi = int(idx.min()), int(idx.max()) + 1
    return ds[lo:hi][idx - lo]


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "O":
        return all(x == y for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
    return a.tobytes() == b.tobytes()  # NaNs with the same bits are the same data


def resolve_duplicate_trains(files: list[FileAccess]) -> list[FileAccess]:
    """``files`` with every train of a source read once.

    Identical duplicates warn (:class:`FileFormatWarning`, naming source and files) and
    are left out of the later file; repeats inside one file are already read once.

    Raises
    ------
    FileStructureError
        If any source holds a train twice with different data (a ``ValueError``, as
        EXtra-data 1.25 raises); the message names each source and both files.
    """
    duplicates = find_duplicate_trains(files)
    if not duplicates:
        return files
    conflicts = [d for d in duplicates if not d.identical]
    if conflicts:
        sources = sorted({d.source for d in conflicts})
        listed = "\n  ".join(f"{d.source}: {d.describe()}" for d in conflicts[:10])
        raise FileStructureError(
            conflicts[0].other.filename,
            f"{len(sources)} source(s) have conflicting data (same train ID in different "
            f"places):\n  {listed}", conflicts[0].source)
    excluded: dict[int, dict[str, list[np.ndarray]]] = {}
    for d in duplicates:
        warnings.warn(f"{d.other.filename}: source {d.source}: {d.describe()}; reading "
                      "them once", FileFormatWarning, stacklevel=3)
        if d.other is not d.original:
            excluded.setdefault(id(d.other), {}).setdefault(d.source, []).append(d.positions)
    return [fa.excluding({s: np.concatenate(p) for s, p in excluded[id(fa)].items()})
            if id(fa) in excluded else fa for fa in files]
