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
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import NoDataError, SourceNameError, TrainNotFoundError
from .aliases import AliasIndexer, aliased_pairs, merge_aliases, parse_alias_defs
from .file_access import FileAccess
from .keydata import KeyData, split_slices
from .selection import ByIndex, SourceKeyPatterns, TrainSelection, has_wildcards, \
    is_train_selection, match_keys, normalise_selection, select_train_ids, trains_with_data
from .sourcedata import SourceData

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    import xarray as xr

__all__ = ["DataCollection"]

_DETECTOR_MODULE = re.compile(r"^(.+)/DET/(\d+)CH0:xtdf$")
# XTDF detector modules (raw DET and 2026 corrected CORR names), as EXtra-data finds them.
_DETECTOR_SOURCE = re.compile(r"(.+/(?:DET|CORR))/(\d+)CH")


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
    aliases : dict, optional
        Normalised alias -> source name or ``(source, key)`` (see :meth:`with_aliases`).
    alias_files : iterable of Path, optional
        The files those aliases were read from.
    """

    def __init__(self, files: Iterable[FileAccess], selection: dict | None = None,
                 train_ids: np.ndarray | None = None, run_path: str | None = None, *,
                 aliases: dict | None = None, alias_files: Iterable = ()):
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
        self._aliases: dict[str, str | tuple[str, str]] = dict(aliases or {})
        self._alias_files: tuple = tuple(alias_files)

    def _derive(self, selection: dict | None = None, train_ids: np.ndarray | None = None,
                aliases: dict | None = None, alias_files: tuple | None = None
                ) -> "DataCollection":
        new = object.__new__(DataCollection)
        new.files = self.files
        new._source_files = self._source_files
        new._control = self._control
        new._selection = self._selection if selection is None else selection
        new._train_ids = self._train_ids if train_ids is None else train_ids
        new.run_path = self.run_path
        new._aliases = self._aliases if aliases is None else aliases
        new._alias_files = self._alias_files if alias_files is None else alias_files
        return new

    @classmethod
    def from_path(cls, path, *, inc_suspect_trains: bool = True) -> "DataCollection":
        """Open one EuXFEL HDF5 file (as :func:`H5File` does).

        Parameters
        ----------
        path : str or Path
        inc_suspect_trains : bool
            Keep trains whose IDs look wrong (see :func:`RunDirectory`).
        """
        from .open import paths_collection
        return paths_collection([path], inc_suspect_trains=inc_suspect_trains)

    @classmethod
    def from_paths(cls, paths: Iterable, *, inc_suspect_trains: bool = True,
                   strict: bool = False) -> "DataCollection":
        """Open a set of EuXFEL HDF5 files as one collection.

        Parameters
        ----------
        paths : iterable of str or Path
        inc_suspect_trains : bool
            Keep trains whose IDs look wrong (see :func:`RunDirectory`).
        strict : bool
            Raise on an unreadable file instead of skipping it with a warning.
        """
        from .open import paths_collection
        return paths_collection(list(paths), inc_suspect_trains=inc_suspect_trains,
                                strict=strict)

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
    def detector_sources(self) -> set[str]:
        """Instrument sources of multi-module XTDF detectors (raw ``/DET/`` or corrected
        ``/CORR/`` module names)."""
        return {s for s in self.instrument_sources if _DETECTOR_SOURCE.match(s)}

    @property
    def selection(self) -> dict[str, frozenset[str] | None]:
        """source -> selected keys (None: all keys). A copy."""
        return dict(self._selection)

    @property
    def alias(self) -> AliasIndexer:
        """Sources and keys by alias: ``run.alias['xgm']``, ``run.alias['xgm', key]``.

        See :meth:`with_aliases`.
        """
        return AliasIndexer(self)

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

    def __getitem__(self, item) -> "SourceData | KeyData | DataCollection":
        """``data[source]``, ``data[source, key]``, or ``data[trains]`` (any train
        selection :meth:`select_trains` takes)."""
        if isinstance(item, tuple) and len(item) == 2 and all(isinstance(i, str) for i in item):
            source, key = item
            return self[source][key]
        if isinstance(item, str):
            self._check_source(item)
            return SourceData(item, train_ids=self._train_ids, files=self._source_files[item],
                              is_control=item in self._control,
                              selected_keys=self._selection[item])
        if is_train_selection(item):
            return self.select_trains(item)
        raise TypeError("Expected data[source], data[source, key] or data[train_selection], "
                        f"got {type(item).__name__}.")

    def __contains__(self, item) -> bool:
        if isinstance(item, tuple):
            source, key = item
            return source in self._selection and key in self[source]
        return item in self._selection

    def keys_for_source(self, source: str) -> frozenset[str]:
        """The selected keys of a source (control keys end in .value and .timestamp)."""
        return self[source].keys()

    def get_dtype(self, source: str, key: str) -> np.dtype:
        """The numpy dtype of one (source, key)."""
        return self[source, key].dtype

    def get_entry_shape(self, source: str, key: str) -> tuple[int, ...]:
        """The shape of one entry (e.g. one frame) of a (source, key)."""
        return self[source, key].entry_shape

    def get_data_counts(self, source: str, key: str) -> "pd.Series":
        """Entries per train of a (source, key), as an int64 pandas Series indexed by
        train ID (as EXtra-data gives it: no index or series name)."""
        import pandas as pd
        kd = self[source, key]
        counts = kd.data_counts(labelled=False).astype(np.int64)
        return pd.Series(counts, index=pd.Index(kd.train_id_array))

    def get_array(self, source: str, key: str, extra_dims=None, roi=(),
                  name: str | None = None) -> "xr.DataArray":
        """Read one key into an xarray DataArray labelled with train IDs.

        ``roi`` selects part of each entry: slices (``np.s_[:, 10:20]``) or, as in
        karabo_data, ``by_index[:, 10:20]``.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from xfconvert.testing import make_run
        >>> from xfconvert import RunDirectory, by_index
        >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r", n_trains=10))
        >>> arr = run.get_array("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD",
        ...                     roi=by_index[:10])
        >>> arr.dims, arr.shape
        (('trainId', 'dim_0'), (10, 10))
        """
        if isinstance(roi, ByIndex):
            roi = roi.value
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
            Include a ``.timestamp`` column for each selected control timestamp.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from xfconvert.testing import make_run
        >>> from xfconvert import RunDirectory, by_index
        >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r", n_trains=10))
        >>> df = run.get_dataframe(fields=[("*_XGM/*", "*.i[xy]Pos")])
        >>> list(df.columns), len(df)
        (['SA1_XTD2_XGM/DOOCS/MAIN/beamPosition.ixPos', 'SA1_XTD2_XGM/DOOCS/MAIN/beamPosition.iyPos'], 10)
        """
        from .tabular import read_dataframe
        data = self if fields is None else self.select(fields)
        return read_dataframe(data, timestamps=timestamps)

    def trains(self, devices=None, train_range: TrainSelection | None = None, *,
               require_all: bool = False, flat_keys: bool = False,
               keep_dims: bool = False) -> Iterator[tuple[int, dict]]:
        """Iterate over trains, yielding ``(train_id, data)``.

        ``data`` maps source -> {key: value}, with a ``'metadata'`` entry for every
        selected source, even one with no data in that train. A key appears only where
        it has data. Control values are single values; instrument keys with one entry
        in a train give that entry, several entries give an array (entries first).

        Parameters
        ----------
        devices : optional
            A selection in any form :meth:`select` takes.
        train_range : optional
            A train selection as for :meth:`select_trains`.
        require_all : bool
            Skip trains that lack any selected key.
        flat_keys : bool
            Yield one flat dict keyed by ``(source, key)`` instead of nested dicts.
        keep_dims : bool
            Keep the entry axis of instrument keys with one entry in a train.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from xfconvert.testing import make_run
        >>> from xfconvert import RunDirectory, by_index
        >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r", n_trains=10))
        >>> for tid, data in run.select("*_XGM/*:output", "data.xTD").trains(
        ...         train_range=by_index[:2], flat_keys=True, keep_dims=True):
        ...     print(tid, data["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.xTD"].shape)
        10000 (1, 1000)
        10001 (1, 1000)
        """
        from .trains import iterate_trains
        data = self if devices is None else self.select(devices)
        if train_range is not None:
            data = data.select_trains(train_range)
        return iterate_trains(data, require_all=require_all, flat_keys=flat_keys,
                              keep_dims=keep_dims)

    def train_from_id(self, train_id: int, devices=None, *, flat_keys: bool = False,
                      keep_dims: bool = False) -> tuple[int, dict]:
        """``(train_id, data)`` of one train, as :meth:`trains` yields it.

        Raises
        ------
        TrainNotFoundError
            If the train is not in this data (also a KeyError).
        """
        tid = int(train_id)
        pos = int(np.searchsorted(self._train_ids, np.uint64(tid)))
        if pos >= len(self._train_ids) or int(self._train_ids[pos]) != tid:
            raise TrainNotFoundError(f"Train ID {tid} is not in this data "
                                     f"({len(self._train_ids)} trains).")
        data = self._derive(train_ids=self._train_ids[pos:pos + 1])
        return next(data.trains(devices, flat_keys=flat_keys, keep_dims=keep_dims))

    def train_from_index(self, train_index: int, devices=None, *, flat_keys: bool = False,
                         keep_dims: bool = False) -> tuple[int, dict]:
        """``(train_id, data)`` of the n-th train of this data (negative: from the end).

        Raises
        ------
        TrainNotFoundError
            If the index is out of range (also a KeyError).
        """
        n = len(self._train_ids)
        index = int(train_index)
        if not -n <= index < n:
            raise TrainNotFoundError(f"Train index {index} out of range for data with "
                                     f"{n} trains.")
        return self.train_from_id(int(self._train_ids[index]), devices, flat_keys=flat_keys,
                                  keep_dims=keep_dims)

    def train_timestamps(self, labelled: bool = False, *, pydatetime: bool = False,
                         euxfel_local_time: bool = False):
        """Approximate time of each train (UTC), from ``INDEX/timestamp``.

        Files older than format 1.0 have no timestamps: those trains get NaT (None with
        ``pydatetime``). See :func:`xfconvert.readers.run_metadata.train_timestamps`.
        """
        from .run_metadata import train_timestamps
        return train_timestamps(self, labelled=labelled, pydatetime=pydatetime,
                                euxfel_local_time=euxfel_local_time)

    def run_metadata(self) -> dict[str, Any]:
        """The METADATA of the run (proposalNumber, runNumber, creationDate, ...).

        See :func:`xfconvert.readers.run_metadata.run_metadata`.
        """
        from .run_metadata import run_metadata
        return run_metadata(self)

    def get_run_value(self, source: str, key: str) -> Any:
        """The value of a control key at the start of the run (the RUN section)."""
        return self[source].run_value(key)

    def get_run_values(self, source: str) -> dict[str, Any]:
        """All RUN values of a control source, as :meth:`SourceData.run_values` gives them."""
        return self[source].run_values()

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
        if isinstance(seln_or_source_glob, DataCollection):
            seln_or_source_glob = seln_or_source_glob.selection
        elif isinstance(seln_or_source_glob, SourceData):
            sd = seln_or_source_glob
            keys = sd.keys()
            # All keys of the source stays "all keys" (None), as for the source itself.
            seln_or_source_glob = {sd.source: set() if keys == self._all_keys(sd.source)
                                   else set(keys)}
        elif isinstance(seln_or_source_glob, KeyData):
            seln_or_source_glob = {seln_or_source_glob.source: {seln_or_source_glob.key}}
        seln = normalise_selection(seln_or_source_glob, key_glob)
        if isinstance(seln, SourceKeyPatterns):
            return self._resolve_patterns(seln)
        result: dict[str, frozenset[str] | None] = {}
        for src, keys in seln.items():
            self._check_source(src)
            if not keys:
                result[src] = self._selection[src]
                continue
            sd = self[src]
            result[src] = frozenset(sd.resolve_key(key) for key in keys)
        return result

    def _resolve_patterns(self, seln: SourceKeyPatterns) -> dict[str, frozenset[str] | None]:
        result: dict[str, frozenset[str] | None] = {}
        for src_glob, key_glob in seln.pairs:
            matched = SourceKeyPatterns([(src_glob, key_glob)]).sources_matching(self._selection)
            found = False
            for src in matched:
                if key_glob == "*":
                    keys = self._selection[src]
                else:
                    keys = frozenset(match_keys(self._all_keys(src), [key_glob],
                                                src in self._control))
                    if not keys:
                        continue
                found = True
                if src in result:
                    prev = result[src]
                    result[src] = None if prev is None or keys is None else prev | keys
                else:
                    result[src] = keys
            if not found:
                raise NoDataError(f"No matches for pattern {(src_glob, key_glob)!r}"
                                  + self._pattern_hint(src_glob))
        return result

    def _pattern_hint(self, src_glob: str) -> str:
        if has_wildcards(src_glob) or src_glob in self._selection:
            return "."
        close = [s for s in self._selection if s.lower() == src_glob.lower()]
        if close:
            return f": this data has no source {src_glob!r}. Did you mean {close[0]!r}?"
        return f": this data has no source {src_glob!r}."

    def select(self, seln_or_source_glob, key_glob: str = "*", require_all: bool = False,
               require_any: bool = False, *, warn_drop_trains_frac: float = 1.0
               ) -> "DataCollection":
        """Select a subset of sources and keys.

        Four forms: two glob patterns (``select('*_XGM/*', '*.i[xy]Pos')``), an iterable of
        source globs or ``(source_glob, key_glob)`` pairs, a dict of exact source names to
        sets of keys (an empty set or None means all keys), or another DataCollection,
        SourceData or KeyData. For control sources a key pattern that names properties
        (``beamPosition.ixPos``, ``*Pos``) selects their ``.value``; a pattern ending in
        ``*``, ``.value`` or ``.timestamp`` is matched against the stored names.

        Parameters
        ----------
        require_all, require_any : bool
            Keep only the trains where all (any) of the selected sources and index
            groups have data.
        warn_drop_trains_frac : float
            With ``require_all``, warn when one source drops at least this fraction of
            the remaining trains (default 1: only when it leaves none).

        Raises
        ------
        NoDataError
            A pattern pair that matches nothing (also a ValueError; the message names
            the pattern).
        SourceNameError
            A source named in a dict selection that is not in the data.
        PropertyNameError
            A key named in a dict selection that the source does not have.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from xfconvert.testing import make_run
        >>> from xfconvert import RunDirectory
        >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r", n_trains=3))
        >>> sorted(run.select("*_XGM/DOOCS/MAIN", "*Pos").keys_for_source("SA1_XTD2_XGM/DOOCS/MAIN"))
        ['beamPosition.ixPos.value', 'beamPosition.iyPos.value']
        """
        selection = self._resolve(seln_or_source_glob, key_glob)
        new = self._derive(selection=selection)
        if require_all or require_any:
            new = new._derive(train_ids=trains_with_data(new, require_all,
                                                         warn_drop_trains_frac))
        return new

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
        """Select trains by ID (``by_id[...]``), by position (``by_index[...]``, slices,
        lists of ints) or with a boolean mask (numpy, or xarray with a ``trainId``
        coordinate).

        IDs that are not in the data are ignored (a warning if none of a list is
        found); the result may have no trains.

        Raises
        ------
        TrainNotFoundError
            Positions out of range.
        TrainIDError
            A boolean mask of the wrong length.
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
        """Join this collection with others (more sources and/or more trains).

        Aliases are merged (conflicting definitions raise ValueError).
        """
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
        aliases = merge_aliases([dc._aliases for dc in collections])
        alias_files = tuple(sorted({p for dc in collections for p in dc._alias_files}))
        return DataCollection(files, selection, train_ids, run_path=run_path,
                              aliases=aliases, alias_files=alias_files)

    def __or__(self, other: "DataCollection") -> "DataCollection":
        return self.union(other)

    # ---- aliases ---------------------------------------------------------------------
    def with_aliases(self, *alias_defs) -> "DataCollection":
        """A collection with aliases for sources and (source, key) pairs.

        Each definition is a dict (alias -> source, or alias -> ``(source, key)``) or
        the path of an alias file (``.json``, ``.toml``, ``.yaml``/``.yml`` if PyYAML is
        installed). See :mod:`xfconvert.readers.aliases`. Aliases are case-insensitive
        and treat ``_`` and ``-`` alike.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from xfconvert.testing import make_run
        >>> from xfconvert import RunDirectory
        >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r", n_trains=3))
        >>> run = run.with_aliases({"xgm": "SA1_XTD2_XGM/DOOCS/MAIN",
        ...                         "x-pos": ("SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos")})
        >>> run.alias["XGM"].source, run.alias["x_pos"].key
        ('SA1_XTD2_XGM/DOOCS/MAIN', 'beamPosition.ixPos.value')
        """
        new, files = parse_alias_defs(alias_defs)
        aliases = merge_aliases([self._aliases, *new])
        alias_files = tuple(sorted(set(self._alias_files) | set(files)))
        return self._derive(aliases=aliases, alias_files=alias_files)

    def only_aliases(self, *alias_defs, strict: bool = False,
                     require_all: bool = False) -> "DataCollection":
        """Apply aliases (as :meth:`with_aliases`) and select only the aliased data.

        Parameters
        ----------
        strict : bool
            Raise for aliased sources or keys that are not in the data (default: they
            are ignored).
        require_all : bool
            Keep only trains where every selected source and key has data.
        """
        data = self.with_aliases(*alias_defs)
        pairs = aliased_pairs(data._aliases, None if strict else self)
        return data.select(pairs, require_all=require_all)

    def drop_aliases(self) -> "DataCollection":
        """The same data without any aliases."""
        return self._derive(aliases={}, alias_files=())

    # ---- description ---------------------------------------------------------------
    def detector_modules(self) -> dict[str, list[str]]:
        """XTDF detector module sources grouped by detector name."""
        detectors: dict[str, list[tuple[int, str]]] = {}
        for src in self.detector_sources:
            m = _DETECTOR_SOURCE.match(src)
            detectors.setdefault(m.group(1), []).append((int(m.group(2)), src))
        return {name: [s for _, s in sorted(mods)] for name, mods in sorted(detectors.items())}

    def detector_info(self, source: str) -> dict[str, Any]:
        """Pixel dimensions and frame counts of one XTDF detector module source.

        Returns
        -------
        dict
            ``dims`` (the last two entry dimensions of ``image.data``),
            ``frames_per_train`` (the largest count per train), ``total_frames``
            (``frames_per_train`` times the number of trains, an upper bound).
        """
        from .info import detector_info
        return detector_info(self, source)

    def train_info(self, train_id: int) -> None:
        """Show which sources have data in one train."""
        import sys
        from .info import train_info_text
        sys.stdout.write(train_info_text(self, train_id) + "\n")

    def info_text(self, details_for_sources: Iterable[str] = (), **options) -> str:
        """The text :meth:`info` shows (a string, for programs and the CLI)."""
        from .info import info_text
        return info_text(self, details_for_sources, **options)

    def info(self, details_for_sources: Iterable[str] = (), *, counts: bool = False,
             group_sources: bool = True, with_aggregators: bool = False) -> None:
        """Show an overview of the selected data (trains, detectors, sources).

        Parameters
        ----------
        details_for_sources : iterable of str
            Source glob patterns for which to list every key with dtype and shape.
        counts : bool
            Show how many trains have data for each instrument source.
        group_sources : bool
            Show similar source names as one line (``XGM/{1-3}``), unless other
            options ask for one line per source.
        with_aggregators : bool
            Show the data aggregator that saved each source.
        """
        import sys
        sys.stdout.write(self.info_text(
            details_for_sources, counts=counts, group_sources=group_sources,
            with_aggregators=with_aggregators) + "\n")

    def plot_missing_data(self, min_saved_pct: float = 95, expand_instrument: bool = False):
        """Plot which trains are missing for sources with gaps (needs matplotlib).

        See :func:`xfconvert.readers.missing_data_plot.plot_missing_data`.
        """
        from .missing_data_plot import plot_missing_data
        return plot_missing_data(self, min_saved_pct=min_saved_pct,
                                 expand_instrument=expand_instrument)

    def __repr__(self) -> str:
        return (f"<xfconvert.DataCollection for {len(self._selection)} sources and "
                f"{len(self._train_ids)} trains>")


def _first_train(fa: FileAccess) -> int:
    return int(fa.train_ids[0]) if len(fa.train_ids) else 0
