"""SourceData: one source (device or output channel) of a selection.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=4))
>>> xgm = run["SA1_XTD2_XGM/DOOCS/MAIN"]
>>> "beamPosition.ixPos.value" in xgm.keys(), "beamPosition.ixPos" in xgm.keys(False)
(True, True)
>>> xgm["beamPosition.ixPos"].shape, xgm.section, xgm.aggregator
((4,), 'CONTROL', 'DA01')
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any, Iterator

import numpy as np

from ..exceptions import NoDataError, OptionError, PropertyNameError
from . import run_values as _run
from .file_access import FileAccess
from .keydata import KeyData, split_slices
from .selection import TrainSelection, select_train_ids

__all__ = ["SourceData"]


_WILDCARDS = re.compile(r"[*?\[]")


def _key_order(key: str) -> list[str]:
    # HDF5 lists group members by name, depth first: compare keys part by part.
    return key.split(".")


class SourceData:
    """The data of one source for a selection of trains and keys.

    Made by indexing a collection: ``run[source]``. Immutable: every ``select*`` returns
    a new object sharing the same files.

    Attributes
    ----------
    source : str
    files : tuple of FileAccess
    is_control : bool
        True for control (slow) data, False for instrument (fast) data.
    """

    def __init__(self, source: str, *, train_ids: np.ndarray, files: tuple[FileAccess, ...],
                 is_control: bool, selected_keys: frozenset[str] | None,
                 single_run: bool = True):
        self.source = source
        self.files = tuple(files)
        self.is_control = is_control
        self._train_ids = np.asarray(train_ids, dtype=np.uint64)
        self._selected_keys = selected_keys
        self._single_run = single_run
        self._first: FileAccess | None = None

    def _derive(self, *, train_ids: np.ndarray | None = None,
                selected_keys: frozenset[str] | None | type(...) = ...) -> "SourceData":
        return SourceData(self.source,
                          train_ids=self._train_ids if train_ids is None else train_ids,
                          files=self.files, is_control=self.is_control,
                          selected_keys=(self._selected_keys if selected_keys is ...
                                         else selected_keys),
                          single_run=self._single_run)

    def __repr__(self) -> str:
        kind = "control" if self.is_control else "instrument"
        return f"<SourceData {self.source!r} ({kind}) for {len(self._train_ids)} trains>"

    # ---- what this source is ----------------------------------------------------------
    @property
    def train_ids(self) -> list[int]:
        return self._train_ids.tolist()

    @property
    def train_id_array(self) -> np.ndarray:
        return self._train_ids

    @property
    def section(self) -> str:
        """'CONTROL' or 'INSTRUMENT': the part of the files holding this source."""
        return "CONTROL" if self.is_control else "INSTRUMENT"

    @property
    def is_instrument(self) -> bool:
        """True for instrument (fast) data."""
        return not self.is_control

    @property
    def is_legacy(self) -> bool:
        """Whether this name is a legacy alias of another source (never, here: xfconvert
        lists sources under the names the files give them)."""
        return False

    @property
    def is_run_only(self) -> bool:
        """A control source with RUN values but no keys recorded per train."""
        return self.is_control and self.one_key() is None

    @property
    def storage_class(self) -> str | None:
        """'raw', 'proc', ... from the EuXFEL directory layout; None elsewhere."""
        return _run.storage_class(self.files[0].filename)

    @property
    def data_category(self) -> str | None:
        """'RAW', 'CORR', ... from the file name; None for other names."""
        return _run.file_name_facts(self.files[0].filename).data_category

    @property
    def aggregator(self) -> str | None:
        """The aggregator ('DA01', 'AGIPD07', ...) from the file name; None for other names."""
        return _run.file_name_facts(self.files[0].filename).aggregator

    @property
    def device_class(self) -> str | None:
        """The Karabo class of a control source (its RUN value ``classId``), else None."""
        try:
            return self.run_value("classId", allow_multi_run=True)
        except (PropertyNameError, NoDataError):
            return None

    @property
    def index_groups(self) -> frozenset[str]:
        """INDEX groups of the selected keys ({''} for control sources)."""
        if self.is_control:
            return frozenset({""})
        return frozenset(FileAccess.index_group(False, k) for k in self.keys())

    # ---- keys ---------------------------------------------------------------------------
    def keys(self, inc_timestamps: bool = True) -> frozenset[str]:
        """The selected keys.

        Control keys are stored as pairs ending in ``.value`` and ``.timestamp``; with
        ``inc_timestamps=False`` each property is listed once, without the suffix.
        """
        if self._selected_keys is not None:
            keys = self._selected_keys
        else:
            keys = self._first_file().get_keys(self.source)
        if not inc_timestamps and self.is_control:
            keys = frozenset(k[:-6] for k in keys if k.endswith(".value"))
        return keys

    def _first_file(self) -> FileAccess:
        # Any file whose train range overlaps the selection will do: files of one source
        # share their keys. Cached: key lookups happen once per key on big runs.
        if self._first is None:
            tids = self._train_ids
            self._first = self.files[0]
            if len(tids):
                for fa in self.files:
                    ft = fa.train_ids
                    if len(ft) and ft[0] <= tids[-1] and ft[-1] >= tids[0]:
                        self._first = fa
                        break
        return self._first

    def resolve_key(self, key: str) -> str:
        """The stored key name: control properties get ``.value`` appended."""
        keys = self.keys()
        if key in keys:
            return key
        if self.is_control and f"{key}.value" in keys:
            return f"{key}.value"
        raise PropertyNameError(key, self.source)

    def __contains__(self, key: str) -> bool:
        try:
            self.resolve_key(key)
        except KeyError:
            return False
        return True

    def __getitem__(self, item) -> "KeyData | SourceData":
        """``sd[key]`` gives a KeyData (control keys with or without ``.value``);
        ``sd[train_selection]`` selects trains."""
        if isinstance(item, str):
            return KeyData(self.source, self.resolve_key(item), train_ids=self._train_ids,
                           files=self.files, is_control=self.is_control)
        return self.select_trains(item)

    # Indexing selects trains, so Python's fallback iteration would never end.
    __iter__ = None

    def one_key(self, index_group: str | None = None) -> str | None:
        """One selected key (of ``index_group`` if given): the first in file order.

        Returns None for a control source that has only RUN values.

        Raises
        ------
        OptionError
            If no selected key belongs to ``index_group``.
        """
        keys: Iterable[str] = self.keys()
        if index_group:
            prefix = index_group + "."
            keys = [k for k in keys if k.startswith(prefix)]
            if not keys:
                raise OptionError(f"{self.source} has no selected key in index group "
                                  f"{index_group!r} (groups: {sorted(self.index_groups)}).")
        return min(keys, key=_key_order, default=None)

    # ---- counts and coordinates -----------------------------------------------------------
    def _group_counts(self, index_group: str | None) -> list[np.ndarray]:
        groups = sorted(self.index_groups) if index_group is None else [index_group]
        keys = [self.one_key(g) for g in groups]
        return [self[k].data_counts(labelled=False) for k in keys if k is not None]

    def data_counts(self, labelled: bool = True, index_group: str | None = None):
        """Entries per selected train.

        Parameters
        ----------
        labelled : bool
            True: an int64 pandas Series indexed by train ID; False: a uint64 array.
        index_group : str, optional
            Count only this INDEX group (e.g. 'image'); by default the largest count of
            any group in each train (for detector modules: frames).
        """
        per_group = self._group_counts(index_group)
        counts = (np.max(per_group, axis=0) if per_group
                  else np.zeros(len(self._train_ids), dtype=np.uint64))
        if not labelled:
            return counts
        import pandas as pd
        return pd.Series(counts.astype(np.int64), index=pd.Index(self._train_ids))

    def train_id_coordinates(self, index_group: str | None = None) -> np.ndarray:
        """The train ID of every entry (of ``index_group``; by default of the one group
        all keys share).

        Raises
        ------
        OptionError
            Without ``index_group``, if the groups have different counts.
        """
        if index_group is None:
            per_group = self._group_counts(None)
            if any(not np.array_equal(c, per_group[0]) for c in per_group[1:]):
                raise OptionError(f"The index groups of {self.source} "
                                  f"({sorted(self.index_groups)}) have different entry "
                                  "counts; choose one with index_group=.")
            counts = per_group[0] if per_group else np.zeros(len(self._train_ids), np.uint64)
        else:
            counts = self.data_counts(labelled=False, index_group=index_group)
        return np.repeat(self._train_ids, counts.astype(np.int64))

    # ---- selections -------------------------------------------------------------------------
    def _glob_keys(self, pattern: str) -> frozenset[str]:
        if self.is_control and not pattern.endswith((".value", "*")):
            pattern += ".value"
        if pattern == "*":
            return self.keys()
        if not _WILDCARDS.search(pattern):
            matched = frozenset({pattern}) if pattern in self.keys() else frozenset()
        else:
            matched = frozenset(k for k in self.keys() if fnmatch.fnmatchcase(k, pattern))
        if not matched:
            raise PropertyNameError(pattern, self.source)
        return matched

    def select_keys(self, keys: str | Iterable[str] | None) -> "SourceData":
        """A new SourceData with only some keys.

        Parameters
        ----------
        keys : str, iterable of str or None
            A glob pattern (``'beamPosition.*'``; control properties without a
            wildcard get ``.value``), a set of key names (control keys with or without
            ``.value``), or None/empty for every key. Intersected with the current
            selection.

        Raises
        ------
        PropertyNameError
            If a name or pattern matches no key.
        """
        if isinstance(keys, str):
            chosen: frozenset[str] | None = self._glob_keys(keys)
        elif keys:
            chosen = frozenset(self.resolve_key(k) for k in keys)
        else:
            chosen = None
        if chosen is None:
            chosen = self._selected_keys
        elif self._selected_keys is not None:
            chosen = self._selected_keys & chosen
        return self._derive(selected_keys=chosen)

    def select_trains(self, trains: TrainSelection) -> "SourceData":
        """A new SourceData for a subset of trains."""
        return self._derive(train_ids=select_train_ids(self._train_ids, trains))

    def drop_empty_trains(self, index_group: str | None = None) -> "SourceData":
        """A new SourceData without the trains that have no data (in ``index_group``, or
        in any group)."""
        counts = self.data_counts(labelled=False, index_group=index_group)
        return self._derive(train_ids=self._train_ids[counts > 0])

    def split_trains(self, parts: int | None = None,
                     trains_per_part: int | None = None) -> Iterator["SourceData"]:
        """Split into consecutive pieces by train (boundaries as
        :meth:`DataCollection.split_trains`)."""
        for sl in split_slices(len(self._train_ids), parts, trains_per_part):
            yield self._derive(train_ids=self._train_ids[sl])

    def union(self, *others: "SourceData") -> "SourceData":
        """This source's data combined with the same source from other selections
        (or other runs): the trains, files and keys of all of them."""
        everything = (self, *others)
        if len({sd.source for sd in everything}) > 1:
            raise OptionError("SourceData.union() needs the same source in every part, got "
                              f"{sorted({sd.source for sd in everything})}.")
        selections = [sd._selected_keys for sd in everything]
        keys = None if any(k is None for k in selections) else frozenset().union(*selections)
        files = {fa: None for sd in everything for fa in sd.files}
        ordered = sorted(files, key=lambda fa: (int(fa.train_ids[0]) if len(fa.train_ids)
                                                else 0, fa.filename))
        train_ids = np.unique(np.concatenate([sd._train_ids for sd in everything]))
        single = (all(sd._single_run for sd in everything)
                  and _run.same_run([sd.files[0] for sd in everything]))
        return SourceData(self.source, train_ids=train_ids, files=tuple(ordered),
                          is_control=self.is_control, selected_keys=keys, single_run=single)

    def __or__(self, other: "SourceData") -> "SourceData":
        return self.union(other)

    # ---- run-level values ----------------------------------------------------------------
    def _check_single_run(self) -> None:
        if not self._single_run:
            raise OptionError(f"{self.source} combines data from several runs; get RUN "
                              "values and run metadata before union().")

    def run_metadata(self) -> dict[str, Any]:
        """METADATA of the run (creationDate, proposalNumber, runNumber, ...; format 0.5
        files give only dataFormatVersion)."""
        self._check_single_run()
        return _run.file_metadata(self.files[0])

    def run_keys(self, inc_timestamps: bool = True) -> frozenset[str]:
        """Keys of the RUN section (not affected by key selection); with
        ``inc_timestamps=False`` property names without ``.value``."""
        self._check_single_run()
        keys = _run.run_keys(self.files[0], self.source)
        if not inc_timestamps:
            return frozenset(k[:-6] for k in keys if k.endswith(".value"))
        return frozenset(keys)

    def run_value(self, key: str, *, allow_multi_run: bool = False) -> Any:
        """The value of a property at the start of the run, from the RUN section.

        Works for properties only recorded there (e.g. ``classId``); ``key`` may omit
        ``.value``. Strings come back as ``str``.

        Raises
        ------
        NoDataError
            If the source has no RUN section (instrument sources).
        PropertyNameError
            If it has no such key.
        """
        if not allow_multi_run:
            self._check_single_run()
        return _run.run_value(self.files[0], self.source, key)

    def run_values(self, inc_timestamps: bool = True) -> dict[str, Any]:
        """Every RUN value of the source, keyed ``prop.value``/``prop.timestamp``; with
        ``inc_timestamps=False`` only values, keyed by property name."""
        self._check_single_run()
        values = _run.run_values(self.files[0], self.source)
        if not inc_timestamps:
            return {k[:-6]: v for k, v in values.items() if k.endswith(".value")}
        return values
