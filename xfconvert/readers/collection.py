"""DataCollection: an immutable selection of sources, keys and trains over EuXFEL files.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory, by_id
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=10))
>>> sel = run.select("*_XGM/*", "*.ixPos").select_trains(by_id[10002:10005])
>>> sorted(sel.all_sources), sel.train_ids
(['SA1_XTD2_XGM/DOOCS/MAIN'], [10002, 10003, 10004])
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import PropertyNameError, SourceNameError
from .file_access import FileAccess
from .keydata import KeyData, split_slices
from .selection import SourceKeyPatterns, TrainSelection, by_id, by_index, match_keys, \
    normalise_selection, select_train_ids
from .sourcedata import SourceData

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    import xarray as xr

__all__ = ["DataCollection"]

# Selection of one source: None means every key of the source.
KeySelection = "frozenset[str] | None"
_GLOB_CHARS = re.compile(r"[*?\[]")
_DETECTOR_MODULE = re.compile(r"^(.+)/DET/(\d+)CH0:xtdf$")


class DataCollection:
    """Sources, keys and trains from a set of EuXFEL files.

    Normally made by :func:`RunDirectory`, :func:`H5File` or :func:`open_run`. Every
    selection method returns a new collection sharing the same :class:`FileAccess` objects.

    Parameters
    ----------
    files : iterable of FileAccess
    selection : dict, optional
        source -> frozenset of keys, or None for all keys; default: every source, all keys.
    train_ids : array of uint64, optional
        Default: every train of every file.
    run_path : str, optional
        Where the data came from (used in provenance and messages).
    """

    def __init__(self, files: Iterable[FileAccess], selection: dict | None = None,
                 train_ids: np.ndarray | None = None, run_path: str | None = None):
        self.files: tuple[FileAccess, ...] = tuple(dict.fromkeys(files))
        source_files: dict[str, list[FileAccess]] = {}
        control: set[str] = set()
        for fa in self.files:
            for src in fa.control_sources:
                source_files.setdefault(src, []).append(fa)
                control.add(src)
            for src in fa.instrument_sources:
                source_files.setdefault(src, []).append(fa)
        self._source_files = {s: tuple(sorted(f, key=_first_train)) for s, f in source_files.items()}
        self._control = frozenset(control)
        if selection is None:
            selection = {src: None for src in source_files}
        self._selection: dict[str, frozenset[str] | None] = dict(selection)
        if train_ids is None:
            parts = [fa.train_ids for fa in self.files]
            train_ids = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)
        self._train_ids = np.asarray(train_ids, dtype=np.uint64)
        self.run_path = run_path

    def _derive(self, selection: dict | None = None, train_ids: np.ndarray | None = None
                ) -> "DataCollection":
        new = object.__new__(DataCollection)
        new.files = self.files
        new._source_files = self._source_files
        new._control = self._control
        new._selection = self._selection if selection is None else selection
        new._train_ids = self._train_ids if train_ids is None else train_ids
        new.run_path = self.run_path
        return new

    # ---- what is here --------------------------------------------------------------
    @property
    def train_ids(self) -> list[int]:
        """Train IDs in this selection, as a sorted list."""
        return self._train_ids.tolist()

    @property
    def train_id_array(self) -> np.ndarray:
        """Train IDs in this selection, as a sorted uint64 array."""
        return self._train_ids

    @property
    def all_sources(self) -> frozenset[str]:
        return frozenset(self._selection)

    @property
    def control_sources(self) -> frozenset[str]:
        return frozenset(s for s in self._selection if s in self._control)

    @property
    def instrument_sources(self) -> frozenset[str]:
        return frozenset(s for s in self._selection if s not in self._control)

    @property
    def selection(self) -> dict[str, frozenset[str] | None]:
        """source -> selected keys (None: all keys). A copy."""
        return dict(self._selection)

    def is_control(self, source: str) -> bool:
        return source in self._control

    def _check_source(self, source: str) -> None:
        if source not in self._selection:
            close = [s for s in self._selection if s.lower() == source.lower()]
            hint = f"Did you mean {close[0]!r}?" if close else ""
            raise SourceNameError(source, hint)

    def files_for_source(self, source: str) -> tuple[FileAccess, ...]:
        self._check_source(source)
        return self._source_files[source]

    def __getitem__(self, item) -> "SourceData | KeyData":
        if isinstance(item, tuple):
            source, key = item
            return self[source][key]
        self._check_source(item)
        return SourceData(item, train_ids=self._train_ids, files=self._source_files[item],
                          is_control=item in self._control,
                          selected_keys=self._selection[item])

    def __contains__(self, item) -> bool:
        if isinstance(item, tuple):
            source, key = item
            return source in self._selection and key in self[source]
        return item in self._selection

    def keys_for_source(self, source: str) -> frozenset[str]:
        """The selected keys of a source (control keys end in .value and .timestamp)."""
        return self[source].keys()

    def get_data_counts(self, source: str, key: str) -> "pd.Series":
        """Entries per train of a (source, key), as a pandas Series indexed by train ID."""
        return self[source, key].data_counts()

    def get_array(self, source: str, key: str, extra_dims=None, roi=(),
                  name: str | None = None) -> "xr.DataArray":
        """Read one key into an xarray DataArray labelled with train IDs.

        Examples
        --------
        >>> arr = run.get_array("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")  # doctest: +SKIP
        """
        return self[source, key].xarray(extra_dims=extra_dims, roi=roi, name=name)

    def get_series(self, source: str, key: str) -> "pd.Series":
        """Read 1-D data as a pandas Series indexed by train ID."""
        return self[source, key].series()

    def get_dask_array(self, source: str, key: str, labelled: bool = False):
        """A lazy dask array of one key (needs the ``dask`` extra)."""
        return self[source, key].dask_array(labelled=labelled)

    def get_dataframe(self, fields=None, *, timestamps: bool = False) -> "pd.DataFrame":
        """Read 1-D data of many keys into one pandas DataFrame indexed by train ID.

        Columns are named ``source/key`` (control keys without ``.value``); rows are the
        trains where any column has data, and missing values are NaN. Keys with
        several entries per train or multi-dimensional entries are left out.

        Parameters
        ----------
        fields : optional
            A selection in any form :meth:`select` takes; default: everything selected.
        timestamps : bool
            Include a ``.timestamp`` column for each control key.

        Examples
        --------
        >>> df = run.get_dataframe(fields=[("*_XGM/*", "*.i[xy]Pos")])  # doctest: +SKIP
        """
        import pandas as pd
        from .tabular import TrainTable, table_columns
        data = self if fields is None else self.select(fields)
        columns = table_columns(data, timestamps=timestamps)
        values, valid = TrainTable(data, columns).read(data._train_ids)
        any_valid = np.zeros(len(data._train_ids), dtype=bool)
        for mask in valid.values():
            any_valid |= mask
        keep_all = bool(any_valid.all())
        out = {}
        for col in columns:
            arr, mask = values[col.name], valid[col.name]
            if not keep_all:
                arr, mask = arr[any_valid], mask[any_valid]
            if not mask.all():
                if arr.dtype.kind in "fc":
                    arr[~mask] = np.nan
                elif arr.dtype.kind in "iub":
                    arr = arr.astype(np.float64)
                    arr[~mask] = np.nan
                else:
                    arr = arr.astype(object)
                    arr[~mask] = None
            out[col.name] = arr
        index = pd.Index(data._train_ids[any_valid], name="trainId")
        # copy=False: keep each column's array as its own block instead of copying all
        # columns into consolidated 2-D blocks (which doubles peak memory).
        return pd.DataFrame(out, index=index, copy=False)

    def trains(self, devices=None, train_range: TrainSelection | None = None, *,
               require_all: bool = False) -> Iterator[tuple[int, dict]]:
        """Iterate over trains, yielding ``(train_id, data)``.

        ``data`` maps source -> {key: value}; a source or key appears only if it has data
        in that train. Control values are single values; instrument keys with one entry
        per train give that entry, several entries give an array (entries first).

        Parameters
        ----------
        devices : optional
            A selection in any form :meth:`select` takes.
        train_range : optional
            A train selection as for :meth:`select_trains`.
        require_all : bool
            Skip trains that lack any selected key.

        Examples
        --------
        >>> for tid, data in run.select("*/DET/*", "image.data").trains():  # doctest: +SKIP
        ...     frames = data["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"]["image.data"]
        """
        from .trains import iterate_trains
        data = self if devices is None else self.select(devices)
        if train_range is not None:
            data = data.select_trains(train_range)
        return iterate_trains(data, require_all=require_all)

    def train_from_id(self, train_id: int, devices=None) -> tuple[int, dict]:
        """``(train_id, data)`` of one train, as :meth:`trains` yields it.

        Raises
        ------
        TrainIDError
            If the train is not in this data (also a KeyError).
        """
        data = self.select_trains(by_id[[int(train_id)]])
        return next(data.trains(devices))

    def train_from_index(self, train_index: int, devices=None) -> tuple[int, dict]:
        """``(train_id, data)`` of the n-th train of this data."""
        data = self.select_trains(by_index[[int(train_index)]])
        return next(data.trains(devices))

    # ---- writing (through the writer registry; readers never import writer modules) ----
    def convert(self, target, to: str, *, overwrite: bool = False, progress=None,
                **options) -> "Path":
        """Write this data with any installed writer (see ``xfconvert writers``).

        Examples
        --------
        >>> run.select("*_XGM/*").convert("xgm.parquet", to="parquet")  # doctest: +SKIP
        """
        from ..writers import convert
        return convert(self, target, to=to, overwrite=overwrite, progress=progress, **options)

    def write(self, filename, *, overwrite: bool = False, progress=None, **options) -> "Path":
        """Write the selected data to a new EuXFEL-format HDF5 file.

        Refuses to replace an existing file unless ``overwrite=True``. Options: see
        ``docs/euxfel.md`` (e.g. ``compression='zstd'``).

        Examples
        --------
        >>> run.select("*_XGM/*").select_trains(np.s_[:100]).write("xgm.h5")  # doctest: +SKIP
        """
        return self.convert(filename, "euxfel", overwrite=overwrite, progress=progress,
                            **options)

    def write_virtual(self, filename, *, overwrite: bool = False, progress=None,
                      **options) -> "Path":
        """Write an HDF5 file of virtual datasets (one per key, spanning all sequence
        files) that is itself a EuXFEL file. Options: ``relative_paths``.

        Examples
        --------
        >>> run.write_virtual("r0001-virtual.h5")  # doctest: +SKIP
        """
        return self.convert(filename, "virtual", overwrite=overwrite, progress=progress,
                            **options)

    def get_virtual_dataset(self, source: str, key: str, filename=None):
        """An ``h5py.Dataset`` (virtual) spanning all files of one key.

        Written at ``filename`` if given, else in a new temporary file.

        Examples
        --------
        >>> ds = run.get_virtual_dataset(src, "image.data")  # doctest: +SKIP
        """
        from ..writers.virtual import get_virtual_dataset
        return get_virtual_dataset(self, source, key, filename)

    # ---- selections ----------------------------------------------------------------
    def _all_keys(self, source: str) -> frozenset[str]:
        return self[source].keys()

    def _resolve(self, seln_or_source_glob, key_glob: str) -> dict[str, frozenset[str] | None]:
        """Turn any selection form into source -> keys (None: every current key)."""
        seln = normalise_selection(seln_or_source_glob, key_glob)
        result: dict[str, frozenset[str] | None] = {}
        if isinstance(seln, SourceKeyPatterns):
            matching = seln.sources_matching(self._selection)
            for src_glob, _ in seln.pairs:
                if not _GLOB_CHARS.search(src_glob) and src_glob not in self._selection:
                    self._check_source(src_glob)
            for src, key_globs in matching.items():
                if "*" in key_globs:
                    result[src] = self._selection[src]
                    continue
                keys = match_keys(self._all_keys(src), key_globs, src in self._control)
                if keys:
                    result[src] = frozenset(keys)
            return result
        for src, keys in seln.items():
            self._check_source(src)
            if not keys:
                result[src] = self._selection[src]
                continue
            sd = self[src]
            chosen = set()
            for key in keys:
                stored = sd.resolve_key(key)
                chosen.add(stored)
                if stored != key and stored.endswith(".value"):
                    ts = stored[:-6] + ".timestamp"
                    if ts in sd.keys():
                        chosen.add(ts)
            result[src] = frozenset(chosen)
        return result

    def select(self, seln_or_source_glob, key_glob: str = "*") -> "DataCollection":
        """Select a subset of sources and keys.

        Three forms: two glob patterns (``select('*_XGM/*', '*.i[xy]Pos')``), an iterable of
        ``(source_glob, key_glob)`` pairs, or a dict of exact source names to sets of keys
        (an empty set means all keys). For control sources, a key pattern matching a
        property name (``beamPosition.ixPos``) selects its value and timestamp.

        Raises
        ------
        SourceNameError
            A source named without wildcards that is not in the data.
        PropertyNameError
            A key named in a dict selection that the source does not have.
        """
        return self._derive(selection=self._resolve(seln_or_source_glob, key_glob))

    def deselect(self, seln_or_source_glob, key_glob: str = "*") -> "DataCollection":
        """Select everything except the given sources and keys (same forms as select)."""
        dropped = self._resolve(seln_or_source_glob, key_glob)
        selection = {}
        for src, keys in self._selection.items():
            if src not in dropped:
                selection[src] = keys
                continue
            drop = dropped[src]
            if drop is None or drop == keys:
                continue
            remaining = (keys if keys is not None else self._all_keys(src)) - drop
            if remaining:
                selection[src] = frozenset(remaining)
        return self._derive(selection=selection)

    def select_trains(self, train_range: TrainSelection) -> "DataCollection":
        """Select trains by ID (``by_id[...]``) or position (``by_index[...]``, slices,
        lists of ints).

        Raises
        ------
        TrainIDError
            If the selection names trains not in the data, or selects none by ID range.
        """
        return self._derive(train_ids=select_train_ids(self._train_ids, train_range))

    def split_trains(self, parts: int | None = None,
                     trains_per_part: int | None = None) -> Iterator["DataCollection"]:
        """Split into consecutive collections by train.

        Parameters
        ----------
        parts : int, optional
            How many pieces (at least; fewer if there are fewer trains).
        trains_per_part : int, optional
            Maximum trains in each piece.
        """
        for sl in split_slices(len(self._train_ids), parts, trains_per_part):
            yield self._derive(train_ids=self._train_ids[sl])

    def union(self, *others: "DataCollection") -> "DataCollection":
        """Join this collection with others (more sources and/or more trains)."""
        collections = (self, *others)
        files = [fa for dc in collections for fa in dc.files]
        selection: dict[str, frozenset[str] | None] = {}
        for dc in collections:
            for src, keys in dc._selection.items():
                if src in selection:
                    prev = selection[src]
                    selection[src] = None if prev is None or keys is None else prev | keys
                else:
                    selection[src] = keys
        train_ids = np.unique(np.concatenate([dc._train_ids for dc in collections]))
        paths = {dc.run_path for dc in collections if dc.run_path}
        run_path = paths.pop() if len(paths) == 1 else None
        return DataCollection(files, selection, train_ids, run_path=run_path)

    # ---- description ---------------------------------------------------------------
    def detector_modules(self) -> dict[str, list[str]]:
        """XTDF detector module sources grouped by detector name."""
        detectors: dict[str, list[tuple[int, str]]] = {}
        for src in self.instrument_sources:
            m = _DETECTOR_MODULE.match(src)
            if m:
                detectors.setdefault(m.group(1), []).append((int(m.group(2)), src))
        return {name: [s for _, s in sorted(mods)] for name, mods in sorted(detectors.items())}

    def info_text(self, details_for_sources: Iterable[str] = ()) -> str:
        """The text :meth:`info` shows (a string, for programs and the CLI)."""
        lines = []
        tids = self._train_ids
        lines.append(f"# of trains:    {len(tids)}")
        if len(tids):
            span = timedelta(seconds=int(tids[-1] - tids[0] + 1) / 10)
            lines.append(f"Duration:       {_format_duration(span)}")
            lines.append(f"First train ID: {tids[0]}")
            lines.append(f"Last train ID:  {tids[-1]}")
        lines.append("")
        detector_sources = set()
        for name, sources in self.detector_modules().items():
            detector_sources.update(sources)
            lines.append(f"{len(sources)} detector modules ({name})")
            kd = self[sources[0]]
            if "image.data" in kd:
                data = kd["image.data"]
                shape = data.entry_shape[-2:]
                counts = data.data_counts(labelled=False)
                nz = counts[counts > 0]
                modno = _DETECTOR_MODULE.match(sources[0]).group(2)
                lines.append(f"  e.g. module {name} {modno} : {shape[0]} x {shape[1]} pixels")
                lines.append(f"  {sources[0]}")
                per_train = int(nz.max()) if nz.size else 0
                lines.append(f"  {per_train} frames per train, up to {int(counts.sum())} frames total")
            lines.append("")
        others = sorted(self.instrument_sources - detector_sources)
        lines.append(f"{len(others)} instrument sources (excluding detectors):")
        lines += [f"  - {s}" for s in others]
        lines.append("")
        controls = sorted(self.control_sources)
        lines.append(f"{len(controls)} control sources:")
        lines += [f"  - {s}" for s in controls]
        patterns = list(details_for_sources)
        if patterns:
            lines.append("")
            detailed = sorted(normalise_selection([(p, "*") for p in patterns])
                              .sources_matching(self._selection))
            for src in detailed:
                lines.append(f"{src}:")
                sd = self[src]
                for key in sorted(sd.keys(inc_timestamps=False)):
                    kd = sd[key]
                    counts = kd.data_counts(labelled=False)
                    shape = "x".join(str(d) for d in kd.entry_shape) or "scalar"
                    lines.append(f"  - {key}: {kd.dtype} {shape} per entry, "
                                 f"{int(counts.sum())} entries in {int((counts > 0).sum())} trains")
        return "\n".join(lines)

    def info(self, details_for_sources: Iterable[str] = ()) -> None:
        """Show an overview of the selected data (trains, detectors, sources).

        Parameters
        ----------
        details_for_sources : iterable of str
            Source glob patterns for which to list every key with dtype, shape and counts.
        """
        import sys
        sys.stdout.write(self.info_text(details_for_sources) + "\n")

    def __repr__(self) -> str:
        return (f"<xfconvert.DataCollection for {len(self._selection)} sources and "
                f"{len(self._train_ids)} trains>")


def _first_train(fa: FileAccess) -> int:
    return int(fa.train_ids[0]) if len(fa.train_ids) else 0


def _format_duration(span: timedelta) -> str:
    total = span.total_seconds()
    hours, rem = divmod(total, 3600)
    minutes, seconds = divmod(rem, 60)
    return f"{int(hours)}:{int(minutes):02d}:{seconds:04.1f}"
