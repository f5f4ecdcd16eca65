"""Structural checks of EuXFEL files and runs (``xfconvert validate``).

Checked for each file: it opens as HDF5 and has METADATA (source names as strings) and
INDEX; train IDs are integers, have no zeros except padding at the end and strictly
increase; every index has integer first/count (or legacy first/last/status) with as many
entries as the real trains or as the zero-padded INDEX/trainId (both are valid), no
negative counts, starts at the beginning of the data and points to successive entries
without gaps or overlaps, and never past the end of a dataset; datasets of a source group
agree on their length; control timestamps have no zeros before the last entry and never
decrease; every virtual dataset's source files exist and open, and hold source datasets
long enough for the mapped selections (HDF5 returns fill values, or fails, where they do
not). For runs: every ``.h5`` file opens and at least one is usable; no source holds a
train twice (in two files, or twice in one); run-map cache entries that match a file's
size and time agree with its contents.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert.readers.validation import validate
>>> import tempfile, pathlib
>>> validate(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=3))
[]
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np

from ..exceptions import FileStructureError
from .file_access import FileAccess, FileFormatWarning
from .run_map import RunMap, decode_train_ranges
from .source_files import find_duplicate_trains

__all__ = ["Problem", "validate", "validate_file"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file."""

    filename: str
    message: str
    source: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.filename
        if self.source:
            where += f": {self.source}"
        if self.key:
            where += f" {self.key}"
        return f"{where}: {self.message}"


def _read_index(group: h5py.Group) -> tuple[np.ndarray, np.ndarray]:
    names = ("first", "count") if "count" in group else ("first", "last", "status")
    for name in names:
        ds = group[name]
        if ds.dtype.kind not in "ui" or ds.ndim != 1:
            raise TypeError(f"{name} is {ds.ndim}-D {ds.dtype}, not 1-D integers")
    first = group["first"][()].astype(np.int64)
    if "count" in group:
        count = group["count"][()].astype(np.int64)
    else:
        last = group["last"][()].astype(np.int64)
        status = group["status"][()]
        n = min(first.size, last.size, status.size)
        count = np.where(status[:n] != 0, last[:n] - first[:n] + 1, 0)
    if first.size != count.size:
        raise TypeError(f"first has {first.size} entries, count {count.size}")
    return first, count


def _index_groups(f: h5py.File, source: str, is_control: bool) -> Iterator[tuple[str, str]]:
    """(index path, data path) pairs of one source."""
    if is_control:
        yield f"INDEX/{source}", f"CONTROL/{source}"
        return
    base = f.get(f"INDEX/{source}")
    if base is None:
        yield f"INDEX/{source}", f"INSTRUMENT/{source}"
        return
    for name, obj in base.items():
        if isinstance(obj, h5py.Group):
            yield f"INDEX/{source}/{name}", f"INSTRUMENT/{source}/{name}"


def _dataset_lengths(group: h5py.Group) -> dict[str, int]:
    lengths: dict[str, int] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            lengths[name] = obj.shape[0] if obj.shape else 0
    group.visititems(visit)
    return lengths


def _check_index(fname: str, source: str, first: np.ndarray, count: np.ndarray,
                 n_trains: tuple[int, int], lengths: dict[str, int], is_control: bool
                 ) -> list[Problem]:
    problems = []
    n_used, n_raw = n_trains
    if count.size not in (n_used, n_raw):
        padded = f" ({n_raw} with padding)" if n_raw != n_used else ""
        return [Problem(fname, f"index has {count.size} entries but INDEX/trainId has "
                        f"{n_used} trains{padded}", source)]
    first, count = first[:n_used], count[:n_used]
    if (count < 0).any():
        problems.append(Problem(fname, "negative counts in index", source))
        return problems
    nz = np.flatnonzero(count)
    if nz.size:
        f, c = first[nz], count[nz]
        if f[0] != 0:
            problems.append(Problem(fname, f"index starts at entry {f[0]}, not 0 "
                                    f"(train position {nz[0]})", source))
        expected = f[:-1] + c[:-1]
        gaps = np.flatnonzero(f[1:] > expected)
        overlaps = np.flatnonzero(f[1:] < expected)
        if gaps.size:
            i = gaps[0]
            problems.append(Problem(fname, f"gap in index: train position {nz[i + 1]} starts "
                                    f"at entry {f[i + 1]}, expected {expected[i]} "
                                    f"({gaps.size} gap(s))", source))
        if overlaps.size:
            i = overlaps[0]
            problems.append(Problem(fname, f"overlap in index: train position {nz[i + 1]} "
                                    f"starts at entry {f[i + 1]}, expected {expected[i]} "
                                    f"({overlaps.size} overlap(s))", source))
        end = int((f + c).max())
        for key, length in sorted(lengths.items()):
            if is_control and not key.endswith(("value", "timestamp")):
                continue
            if end > length:
                problems.append(Problem(fname, f"index points past the end of the data: "
                                        f"entries up to {end} but the dataset has {length}",
                                        source, key.replace("/", ".")))
    return problems


def validate_file(path) -> list[Problem]:
    """Check one EuXFEL file; returns the problems found (empty list: all good)."""
    fname = os.path.abspath(os.fspath(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FileFormatWarning)
            fa = FileAccess(fname)
    except FileStructureError as err:
        return [Problem(fname, err.problem, err.source, err.key)]
    problems = []
    f = fa.file
    tid_dtype = f["INDEX/trainId"].dtype
    if tid_dtype.kind not in "ui":
        problems.append(Problem(fname, f"INDEX/trainId is stored as {tid_dtype}, not as "
                                "integers"))
    tid_problems = replace(fa.train_id_problems,
                           flagged_positions=np.zeros(0, dtype=np.int64))
    if tid_problems:
        problems.append(Problem(fname, tid_problems.describe()))
    nonzero = np.flatnonzero(fa.raw_train_ids)
    n_trains = (int(nonzero[-1]) + 1 if nonzero.size else 0, fa.raw_train_ids.size)
    for source in sorted(fa.all_sources):
        is_control = source in fa.control_sources
        for index_path, data_path in _index_groups(f, source, is_control):
            if index_path not in f:
                problems.append(Problem(fname, f"no index group {index_path}", source))
                continue
            if data_path not in f:
                problems.append(Problem(fname, f"no data group {data_path}", source))
                continue
            try:
                first, count = _read_index(f[index_path])
            except KeyError as err:
                problems.append(Problem(fname, f"incomplete index {index_path} ({err})", source))
                continue
            except TypeError as err:
                problems.append(Problem(fname, f"unusable index {index_path}: {err}", source))
                continue
            lengths = _dataset_lengths(f[data_path])
            problems += _check_index(fname, source, first, count, n_trains, lengths,
                                     is_control)
            if is_control:
                problems += _check_timestamps(fname, source, f[data_path])
            else:
                distinct = set(lengths.values())
                if len(distinct) > 1:
                    problems.append(Problem(fname, f"datasets in {data_path} have different "
                                            f"lengths: {sorted(distinct)}", source))
    problems += _check_virtual_sources(fname, f)
    return problems


def _check_timestamps(fname: str, source: str, group: h5py.Group) -> list[Problem]:
    """Control timestamps: zeros only after the last real entry, never decreasing."""
    problems = []
    stamps: list[tuple[str, h5py.Dataset]] = []
    group.visititems(lambda name, obj: stamps.append((name, obj))
                     if isinstance(obj, h5py.Dataset) and name.endswith("timestamp")
                     else None)
    for name, ds in stamps:
        if ds.dtype.kind not in "uif" or ds.ndim != 1:
            continue
        ts = ds[()]
        key = name.replace("/", ".")
        zeros = np.flatnonzero(ts == 0)
        if zeros.size and (ts[zeros[0]:] != 0).any():
            problems.append(Problem(fname, "timestamp is 0 before the last entry", source, key))
        real = ts[:zeros[0]] if zeros.size else ts
        down = np.flatnonzero(real[1:] < real[:-1])
        if down.size:
            i = int(down[0])
            problems.append(Problem(fname, f"timestamp is decreasing at entry {i + 1} "
                                    f"({real[i + 1]} < {real[i]}; {down.size} time(s))",
                                    source, key))
    return problems


def _vds_source_path(vds_file: str, stored: str) -> str | None:
    """The file HDF5 would open for a virtual dataset source name, or None if none exists.

    HDF5 tries ``HDF5_VDS_PREFIX`` and then the virtual dataset's own directory for
    relative names, and for absolute names first the name itself, then the same places
    with just the base name.
    """
    if stored == ".":
        return vds_file
    absolute = os.path.isabs(stored)
    name = os.path.basename(stored) if absolute else stored
    candidates = [stored] if absolute else []
    prefix = os.environ.get("HDF5_VDS_PREFIX")
    if prefix:
        candidates.append(os.path.join(prefix, name))
    candidates.append(os.path.join(os.path.dirname(vds_file), name))
    return next((c for c in candidates if os.path.exists(c)), None)


def _virtual_datasets(f: h5py.File) -> list[h5py.Dataset]:
    found: list[h5py.Dataset] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.is_virtual:
            found.append(obj)
    f.visititems(visit)
    return found


def _check_virtual_sources(fname: str, f: h5py.File) -> list[Problem]:
    """Virtual datasets whose source files or datasets are missing, unreadable or short.

    A missing or unreadable file is reported once, naming the first virtual dataset that
    uses it and how many do; missing or short source datasets once per virtual dataset.
    """
    problems: list[Problem] = []
    opened: dict[str, h5py.File | str] = {}  # resolved path -> open file or error text
    file_users: dict[tuple[str, str], list[str]] = {}  # (stored name, problem) -> datasets
    try:
        for vds in _virtual_datasets(f):
            reported: set[str] = set()
            for vmap in vds.virtual_sources():
                stored = vmap.file_name
                path = _vds_source_path(fname, stored)
                if path is None:
                    missing = "is missing" if os.path.isabs(stored) else \
                        f"is missing (looked in {os.path.dirname(fname)})"
                    file_users.setdefault((stored, missing), []).append(vds.name)
                    continue
                src = opened.get(path)
                if src is None:
                    try:
                        src = h5py.File(path, "r") if path != fname else f
                    except OSError as err:
                        src = f"cannot be opened ({str(err).splitlines()[0][:120]})"
                    opened[path] = src
                if isinstance(src, str):
                    file_users.setdefault((stored, src), []).append(vds.name)
                    continue
                where = f"{vmap.dset_name} in {stored}"
                if where in reported:
                    continue
                problem = _source_dataset_problem(src, vmap)
                if problem:
                    reported.add(where)
                    problems.append(Problem(fname, f"virtual dataset {vds.name}: source "
                                            f"dataset {where} {problem}; reads of those "
                                            "entries give fill values or fail"))
    finally:
        for src in opened.values():
            if isinstance(src, h5py.File) and src is not f:
                src.close()
    for (stored, what), users in sorted(file_users.items()):
        users = list(dict.fromkeys(users))
        more = f" (and {len(users) - 1} more virtual datasets)" if len(users) > 1 else ""
        problems.append(Problem(fname, f"virtual dataset {users[0]}{more}: source file "
                                f"{stored} {what}; its entries read as fill values"))
    return problems


def _source_dataset_problem(src: h5py.File, vmap) -> str | None:
    ds = src.get(vmap.dset_name)
    if not isinstance(ds, h5py.Dataset):
        return "is missing"
    space = vmap.src_space
    if space.get_select_type() == h5py.h5s.SEL_ALL:
        # The whole source, whatever its extent: it must fill the mapped region exactly.
        need = vmap.vspace.get_select_npoints()
        return None if ds.size == need else f"has {ds.size} elements, the mapping {need}"
    try:
        _, end = space.get_select_bounds()
    except (ValueError, RuntimeError):
        return None  # unlimited (printf-style) selections have no fixed bounds
    shape = ds.shape
    if len(end) != len(shape):
        return f"has {len(shape)} dimensions, the mapping {len(end)}"
    if any(e >= n for e, n in zip(end, shape)):
        return (f"is too short: the mapping needs shape up to "
                f"{tuple(int(e) + 1 for e in end)}, the dataset has {shape}")
    return None


def validate(path, on_file: Callable[[str], None] | None = None) -> list[Problem]:
    """Check a run directory or a single file.

    Parameters
    ----------
    path : str or Path
        A run directory or one ``.h5`` file.
    on_file : callable, optional
        Called with each file name before it is checked (for progress reporting).

    Returns
    -------
    list of Problem
        Empty when everything passed.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".h5")
        if not files:
            return [Problem(str(path.resolve()), "no .h5 files in run directory")]
    elif path.exists():
        files = [path]
    else:
        return [Problem(str(path.resolve()), "no such file or directory")]
    problems: list[Problem] = []
    usable: list[FileAccess] = []
    for file in files:
        if on_file is not None:
            on_file(str(file))
        found = validate_file(file)
        problems += found
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FileFormatWarning)
                usable.append(FileAccess(file))
        except FileStructureError:
            continue
    if path.is_dir():
        if not usable:
            problems.append(Problem(str(path.resolve()), "the run has no usable file"))
        problems += _check_run(path, usable)
    return problems


def _check_run(run_dir: Path, files: list[FileAccess]) -> list[Problem]:
    """Trains held twice by a source, and run-map cache entries that disagree with files."""
    problems = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FileFormatWarning)
            duplicates = find_duplicate_trains(files)
    except FileStructureError as err:
        return [Problem(err.filename, err.problem, err.source, err.key)]
    for d in duplicates:
        problems.append(Problem(d.other.filename, d.describe(), d.source))
    cached = RunMap(run_dir).load()
    for fa in files:
        entry = cached.get(os.path.basename(fa.filename))
        if entry is None or not RunMap.entry_matches(entry, os.stat(fa.filename)):
            continue
        tids = decode_train_ranges(entry["train_id_ranges"])
        if (set(entry["control_sources"]) != fa.control_sources
                or set(entry["instrument_sources"]) != fa.instrument_sources
                or not np.array_equal(tids, fa.metadata()["train_ids"])):
            problems.append(Problem(fa.filename, f"run-map cache entry in "
                                    f"{RunMap(run_dir).candidates[0].name} disagrees with the "
                                    "file (delete the cache to rebuild it)"))
    return problems
