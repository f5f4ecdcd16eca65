"""A JSON cache of per-file metadata, so reopening a run need not open every file.

The cache lives in the run directory (``xfconvert_run_map.json``) or, when that is not
writable, in the user's cache directory (``$XFCONVERT_CACHE_DIR``, else
``$XDG_CACHE_HOME/xfconvert/run_maps``, else ``~/.cache/xfconvert/run_maps``). Each
entry records a file's size and modification time; an entry that no longer matches its
file is ignored. A cache that cannot be decoded (not UTF-8, not JSON, fails the JSON Schema
``xfconvert/schemas/run_map.json``, or holds more trains than its file could) is ignored
with a warning: sizes are checked before anything is allocated. A cache of an older
schema version is ignored quietly. Writing the cache is best-effort and atomic
(temporary name, then rename).

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert.readers.run_map import RunMap
>>> import tempfile, pathlib
>>> run_dir = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=3)
>>> from xfconvert import RunDirectory
>>> _ = RunDirectory(run_dir)            # writes the cache
>>> len(RunMap(run_dir).load()) > 0
True
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .file_access import FileAccess

log = logging.getLogger(__name__)

__all__ = ["RunMap", "encode_train_ranges", "decode_train_ranges"]

CACHE_FILENAME = "xfconvert_run_map.json"
SCHEMA_VERSION = 2
_MAX_TRAIN_ID = 2**64 - 1
# Every train costs at least 8 bytes of INDEX/trainId in its file.
_BYTES_PER_TRAIN = 8


@lru_cache(maxsize=1)
def _validator():
    import jsonschema
    schema = json.loads(resources.files("xfconvert.schemas").joinpath("run_map.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def encode_train_ranges(train_ids: np.ndarray) -> list[list[int]]:
    """Sorted train IDs as ``[first, length]`` runs of consecutive IDs."""
    tids = np.asarray(train_ids, dtype=np.uint64)
    if tids.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(tids) != 1) + 1
    starts = np.concatenate(([0], breaks))
    lengths = np.diff(np.concatenate((starts, [tids.size])))
    return [[int(tids[s]), int(n)] for s, n in zip(starts, lengths)]


def decode_train_ranges(ranges: list[list[int]], max_trains: int | None = None) -> np.ndarray:
    """Inverse of :func:`encode_train_ranges`.

    Raises
    ------
    ValueError
        If a range is malformed or out of the uint64 range, or (with ``max_trains``)
        the ranges hold more trains than that, checked before allocating.

    Examples
    --------
    >>> decode_train_ranges([[5, 3], [10, 1]]).tolist()
    [5, 6, 7, 10]
    """
    if not ranges:
        return np.zeros(0, dtype=np.uint64)
    try:
        firsts_list = [int(r[0]) for r in ranges]
        lengths_list = [int(r[1]) for r in ranges]
    except (TypeError, ValueError, IndexError) as err:
        raise ValueError(f"malformed train ID range ({err})") from err
    total = sum(lengths_list)
    if min(lengths_list) < 1 or min(firsts_list) < 0:
        raise ValueError("train ID ranges need first >= 0 and length >= 1")
    if max(f + n for f, n in zip(firsts_list, lengths_list)) - 1 > _MAX_TRAIN_ID:
        raise ValueError("train ID range beyond 2**64 - 1")
    if max_trains is not None and total > max_trains:
        raise ValueError(f"{total} trains where at most {max_trains} fit the file")
    firsts = np.array(firsts_list, dtype=np.uint64)
    lengths = np.array(lengths_list, dtype=np.int64)
    offsets = np.arange(total, dtype=np.uint64) - np.repeat(
        (np.cumsum(lengths) - lengths).astype(np.uint64), lengths)
    return np.repeat(firsts, lengths) + offsets


def _check_entry(entry: dict[str, Any]) -> None:
    """Raise ValueError if an entry holds more than its file could (before decoding)."""
    max_trains = entry["size"] // _BYTES_PER_TRAIN
    n = sum(int(r[1]) for r in entry["train_id_ranges"])
    if n > max_trains:
        raise ValueError(f"entry {entry['filename']}: {n} trains in a file of "
                         f"{entry['size']} bytes")
    for first, length in entry["train_id_ranges"]:
        if first + length - 1 > _MAX_TRAIN_ID:
            raise ValueError(f"entry {entry['filename']}: train ID beyond 2**64 - 1")
    positions = [p for v in entry["train_id_problems"].values() for p in v]
    if positions and max(positions) >= max_trains + len(
            entry["train_id_problems"]["zero_positions"]):
        raise ValueError(f"entry {entry['filename']}: train position out of range")


def user_cache_dir() -> Path:
    if os.environ.get("XFCONVERT_CACHE_DIR"):
        return Path(os.environ["XFCONVERT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xfconvert" / "run_maps"


class RunMap:
    """The run-map cache of one run directory.

    Parameters
    ----------
    run_dir : str or Path
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir).resolve()
        digest = hashlib.sha1(str(self.run_dir).encode()).hexdigest()[:16]
        self.candidates = [self.run_dir / CACHE_FILENAME,
                           user_cache_dir() / f"{self.run_dir.name}-{digest}.json"]

    def load(self) -> dict[str, dict[str, Any]]:
        """Entries by file name, from the first valid cache found (empty if none)."""
        for path in self.candidates:
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as err:
                log.warning("Ignoring unreadable run-map cache %s: %s", path, err)
                continue
            try:
                doc = json.loads(raw.decode("utf-8"))
                if isinstance(doc, dict) and isinstance(doc.get("schema_version"), int) \
                        and doc["schema_version"] < SCHEMA_VERSION:
                    log.debug("Ignoring run-map cache %s of schema version %s", path,
                              doc["schema_version"])
                    continue
                errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.path))
                if errors:
                    raise ValueError(errors[0].message)
                for entry in doc["files"]:
                    _check_entry(entry)
            except (ValueError, RecursionError, OverflowError) as err:
                # UnicodeDecodeError and JSONDecodeError are ValueErrors.
                log.warning("Ignoring malformed run-map cache %s: %s", path,
                            str(err).splitlines()[0][:200])
                continue
            if doc["run_path"] != str(self.run_dir):
                log.warning("Ignoring run-map cache %s made for %s", path, doc["run_path"])
                continue
            return {entry["filename"]: entry for entry in doc["files"]}
        return {}

    @staticmethod
    def entry_matches(entry: dict[str, Any], st: os.stat_result) -> bool:
        return entry["size"] == st.st_size and entry["mtime"] == st.st_mtime

    @staticmethod
    def file_args(entry: dict[str, Any]) -> dict[str, Any]:
        """What :class:`FileAccess` takes from a cache entry."""
        return {
            "format_version": entry["format_version"],
            "train_ids": decode_train_ranges(entry["train_id_ranges"],
                                             entry["size"] // _BYTES_PER_TRAIN),
            "control_sources": entry["control_sources"],
            "instrument_sources": entry["instrument_sources"],
            "train_id_problems": entry["train_id_problems"],
        }

    def save(self, files: list[FileAccess]) -> Path | None:
        """Write the cache for these files; returns where, or None if nowhere was writable."""
        entries = []
        for fa in files:
            meta = fa.metadata()
            entries.append({
                "filename": os.path.basename(fa.filename),
                "size": fa.size,
                "mtime": fa.mtime,
                "format_version": meta["format_version"],
                "train_id_ranges": encode_train_ranges(meta["train_ids"]),
                "control_sources": meta["control_sources"],
                "instrument_sources": meta["instrument_sources"],
                "train_id_problems": meta["train_id_problems"],
            })
        doc = {"schema_version": SCHEMA_VERSION, "run_path": str(self.run_dir), "files": entries}
        text = json.dumps(doc)
        for path in self.candidates:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", dir=path.parent)
            except OSError:
                continue
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
                os.replace(tmp, path)
                return path
            except OSError as err:
                log.debug("Could not write run-map cache %s: %s", path, err)
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        return None
