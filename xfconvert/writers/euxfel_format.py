"""The EuXFEL file skeleton shared by the HDF5 writers: METADATA, INDEX and RUN copies.

Both the ``euxfel`` writer (real datasets) and the ``virtual`` writer (virtual datasets)
produce files the reader opens as EuXFEL data; everything but the datasets themselves is
written here, once.

Examples
--------
>>> import h5py, numpy as np, tempfile
>>> with h5py.File(tempfile.mkdtemp() + "/skeleton.h5", "w") as f:
...     write_metadata(f, ["CONTROL/SA1_XTD2_XGM/DOOCS/MAIN"], files=())
...     write_train_index(f, np.arange(10, 13, dtype=np.uint64), files=())
...     write_source_index(f.require_group("INDEX/SA1_XTD2_XGM/DOOCS/MAIN"), np.ones(3))
...     f["INDEX/SA1_XTD2_XGM/DOOCS/MAIN/first"][()].tolist()
[0, 1, 2]
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from ..exceptions import FileStructureError
from ..readers.file_access import FileAccess

__all__ = ["FORMAT_VERSION", "fixed_strings", "write_metadata", "write_train_index",
           "write_source_index", "copy_run_values", "train_facts"]

FORMAT_VERSION = "1.0"
_RUN_IN_NAME = re.compile(r"-R(\d+)-")


def fixed_strings(values: Sequence[str]) -> np.ndarray:
    """Fixed-length byte strings, as EuXFEL files store METADATA."""
    encoded = [v.encode("utf-8") for v in values]
    return np.array(encoded, dtype=f"S{max((len(e) for e in encoded), default=1) or 1}")


def run_facts(files: Sequence[FileAccess]) -> dict[str, int]:
    """proposalNumber and runNumber from the first input file recording them."""
    facts: dict[str, int] = {}
    for fa in files:
        meta = fa.file.get("METADATA")
        for name in ("proposalNumber", "runNumber"):
            if name not in facts and meta is not None and name in meta:
                facts[name] = int(np.asarray(meta[name][()]).ravel()[0])
        if len(facts) == 2:
            break
    if "runNumber" not in facts:  # format 0.5 files record it only in their names
        for fa in files:
            match = _RUN_IN_NAME.search(Path(fa.filename).name)
            if match:
                facts["runNumber"] = int(match.group(1))
                break
    return facts


def train_facts(files: Sequence[FileAccess], train_ids: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """INDEX/timestamp, flag and origin of ``train_ids`` from the inputs.

    Defaults where no input says: timestamp 0, flag 1, origin -1. Files are read only
    until every train is covered.
    """
    n = len(train_ids)
    timestamp = np.zeros(n, dtype=np.uint64)
    flag = np.ones(n, dtype=np.int32)
    origin = np.full(n, -1, dtype=np.int32)
    covered = np.zeros(n, dtype=bool)
    for fa in dict.fromkeys(files):
        if covered.all():
            break
        if not len(fa.train_ids) or not n:
            continue
        pos = np.minimum(np.searchsorted(train_ids, fa.train_ids), n - 1)
        new = (train_ids[pos] == fa.train_ids) & ~covered[pos]
        if not new.any():
            continue
        covered[pos[new]] = True
        try:
            index = fa.file["INDEX"]
            for name, out in (("timestamp", timestamp), ("flag", flag), ("origin", origin)):
                if name in index and index[name].shape == fa.raw_train_ids.shape:
                    out[pos[new]] = index[name][()][fa.raw_positions][new]
        except (KeyError, OSError) as err:
            raise FileStructureError(fa.filename, f"unreadable INDEX ({err})") from err
    return timestamp, flag, origin


def write_metadata(root: h5py.Group, data_sources: Sequence[str],
                   files: Sequence[FileAccess], sequence: int = 0) -> None:
    """METADATA of format 1.0: version, data sources, dates, writer, run facts."""
    meta = root.require_group("METADATA")
    meta["dataFormatVersion"] = fixed_strings([FORMAT_VERSION])
    sources = meta.require_group("dataSources")
    sources["dataSourceId"] = fixed_strings(data_sources)
    sources["root"] = fixed_strings([s.partition("/")[0] for s in data_sources])
    sources["deviceId"] = fixed_strings([s.partition("/")[2] for s in data_sources])
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    meta["creationDate"] = fixed_strings([now])
    meta["updateDate"] = fixed_strings([now])
    meta["dataWriter"] = fixed_strings(["xfconvert"])
    for name, value in run_facts(files).items():
        meta[name] = np.array([value], dtype=np.uint32)
    meta["sequenceNumber"] = np.array([sequence], dtype=np.uint32)


def write_train_index(root: h5py.Group, train_ids: np.ndarray,
                      files: Sequence[FileAccess]) -> None:
    """INDEX/trainId with timestamp, flag and origin taken from the inputs."""
    timestamp, flag, origin = train_facts(files, train_ids)
    index = root.require_group("INDEX")
    index["trainId"] = np.asarray(train_ids, dtype=np.uint64)
    index["timestamp"] = timestamp
    index["flag"] = flag
    index["origin"] = origin


def write_source_index(group: h5py.Group, counts: np.ndarray) -> None:
    """``first``/``count`` of one source (or index group) from entries per train."""
    counts = np.asarray(counts).astype(np.uint64)
    group["first"] = np.cumsum(counts, dtype=np.uint64) - counts
    group["count"] = counts


def copy_run_values(root: h5py.Group, fa: FileAccess, paths: Sequence[str],
                    source: str, key: str | None = None) -> None:
    """Copy RUN datasets or groups (the run-start values) from an input file."""
    src = fa.file
    for path in paths:
        try:
            src.copy(src[path], root, name=path)
        except (KeyError, OSError, RuntimeError) as err:
            raise FileStructureError(fa.filename, f"cannot copy {path} ({err})",
                                     source, key) from err
