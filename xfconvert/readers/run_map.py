"""A JSON cache of per-file metadata, so reopening a run need not open every file.

The cache lives in the run directory (``xfconvert_run_map.json``) or, when that is not
writable, in the user's cache directory (``$XFCONVERT_CACHE_DIR``, else
``$XDG_CACHE_HOME/xfconvert/run_maps``, else ``~/.cache/xfconvert/run_maps``). Each
entry records a file's size and modification time; an entry that no longer matches its
file is ignored. A cache that is malformed or fails the JSON Schema
(``xfconvert/schemas/run_map.json``) is ignored with a warning. Writing the cache is
best-effort and atomic (temporary name, then rename).

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
SCHEMA_VERSION = 1


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


def decode_train_ranges(ranges: list[list[int]]) -> np.ndarray:
    """Inverse of :func:`encode_train_ranges`."""
    if not ranges:
        return np.zeros(0, dtype=np.uint64)
    firsts = np.array([r[0] for r in ranges], dtype=np.uint64)
    lengths = np.array([r[1] for r in ranges], dtype=np.int64)
    offsets = np.arange(lengths.sum(), dtype=np.uint64) - np.repeat(
        (np.cumsum(lengths) - lengths).astype(np.uint64), lengths)
    return np.repeat(firsts, lengths) + offsets


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
                text = path.read_text()
            except FileNotFoundError:
                continue
            except OSError as err:
                log.warning("Ignoring unreadable run-map cache %s: %s", path, err)
                continue
            try:
                doc = json.loads(text)
                errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.path))
                if errors:
                    raise ValueError(errors[0].message)
            except ValueError as err:
                log.warning("Ignoring malformed run-map cache %s: %s", path, err)
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
            "train_ids": decode_train_ranges(entry["train_id_ranges"]),
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
