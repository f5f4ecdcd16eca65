"""KeyData: one (source, key) across all the files and trains of a selection.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=4))
>>> kd = run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"]
>>> kd.shape, str(kd.dtype)
((4, 1000), 'float32')
>>> kd.xarray().dims
('trainId', 'dim_0')
"""
from __future__ import annotations

import logging
import weakref
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import h5py
import numpy as np
from h5py import h5s

from ..exceptions import MissingDependencyError, NoDataError, OptionError, TrainNotFoundError
from . import units as _units
from .chunks import DataChunk, plan_chunks
from .file_access import FileAccess
from .labelled import entry_labels, make_xarray
from .reductions import Reduction, single_value
from .run_values import decode_value, run_value
from .selection import TrainSelection, select_train_ids

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    import xarray as xr

log = logging.getLogger(__name__)

# Attributes of each (source, key) per file, read once: xarray() asks for units on every
# call, and opening a dataset to read its attributes costs as much as a small read.
_ATTRIBUTES: "weakref.WeakKeyDictionary[FileAccess, dict]" = weakref.WeakKeyDictionary()

__all__ = ["KeyData", "read_chunk", "read_slab", "split_slices", "decode_strings"]


def normalise_roi(roi) -> tuple:
    """A region of interest as a tuple of slices/ints over the entry dimensions."""
    if roi is None:
        return ()
    if not isinstance(roi, tuple):
        roi = (roi,)
    return roi


def roi_shape(entry_shape: tuple[int, ...], roi: tuple) -> tuple[int, ...]:
    """Shape of one entry after applying ``roi`` (without reading anything)."""
    if len(roi) > len(entry_shape):
        raise OptionError(f"roi has {len(roi)} dimensions but entries have {len(entry_shape)}.")
    return np.empty(entry_shape, dtype=np.bool_)[roi].shape if roi else entry_shape


class KeyData:
    """Data of one source and key, for a selection of trains.

    Made by indexing a collection: ``run[source, key]``. Immutable: train selections
    return new objects sharing the same files.

    Attributes
    ----------
    source, key : str
    files : tuple of FileAccess
        Files that hold this source.
    """

    def __init__(self, source: str, key: str, *, train_ids: np.ndarray,
                 files: tuple[FileAccess, ...], is_control: bool):
        self.source = source
        self.key = key
        self.files = files
        self.is_control = is_control
        self._train_ids = np.asarray(train_ids, dtype=np.uint64)

    def _with_trains(self, train_ids: np.ndarray) -> "KeyData":
        return KeyData(self.source, self.key, train_ids=train_ids, files=self.files,
                       is_control=self.is_control)

    def __repr__(self) -> str:
        return f"<KeyData source={self.source!r} key={self.key!r} for {len(self._train_ids)} trains>"

    # ---- shape & plan ---------------------------------------------------------------
    @cached_property
    def _plan(self) -> tuple[list[DataChunk], np.ndarray]:
        return plan_chunks(self.files, self.source, self.key, self.is_control, self._train_ids)

    def chunk_plan(self) -> list[DataChunk]:
        """The contiguous chunks holding this key's data, in train order.

        See :mod:`xfconvert.readers.chunks`.
        """
        return self._plan[0]

    @cached_property
    def _dataset_info(self) -> tuple[tuple[int, ...], np.dtype]:
        for fa in self.files:
            if fa.has_key(self.source, self.key):
                return fa.dataset_info(self.source, self.key)
        raise NoDataError(f"No file holds {self.source} {self.key}.")

    @property
    def train_id_array(self) -> np.ndarray:
        """The selected train IDs as a uint64 array (some may have no data)."""
        return self._train_ids

    @property
    def train_ids(self) -> list[int]:
        """The selected train IDs as a list (some may have no data)."""
        return self._train_ids.tolist()

    @property
    def entry_shape(self) -> tuple[int, ...]:
        """Shape of one entry (e.g. one frame)."""
        return self._dataset_info[0][1:]

    @property
    def dtype(self) -> np.dtype:
        return self._dataset_info[1]

    @property
    def ndim(self) -> int:
        return 1 + len(self.entry_shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(total entries,) + entry_shape`` for the selected trains."""
        return (int(self._plan[1].sum()),) + self.entry_shape

    @property
    def nbytes(self) -> int:
        """Bytes the selected data takes in memory."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def size_mb(self) -> float:
        """:attr:`nbytes` in megabytes (10**6 bytes)."""
        return self.nbytes / 1e6

    @property
    def size_gb(self) -> float:
        """:attr:`nbytes` in gigabytes (10**9 bytes)."""
        return self.nbytes / 1e9

    @property
    def section(self) -> str:
        """'CONTROL' or 'INSTRUMENT': the part of the file holding this key."""
        return "CONTROL" if self.is_control else "INSTRUMENT"

    @property
    def is_instrument(self) -> bool:
        """True for instrument (fast) data."""
        return not self.is_control

    @property
    def index_group(self) -> str:
        """The INDEX group of this key: '' for control data, the key's first part otherwise."""
        return FileAccess.index_group(self.is_control, self.key)

    @property
    def hdf5_data_path(self) -> str:
        """Absolute path of the key's dataset inside each file."""
        return f"/{self.section}/{self.source}/{self.key.replace('.', '/')}"

    @property
    def source_file_paths(self) -> list["Path"]:
        """Paths of the files holding any of the selected trains of this key, in train order."""
        from pathlib import Path
        hits = []
        for fa in self.files:
            _, found = fa.positions_in(self._train_ids)
            if found.any() and fa.has_key(self.source, self.key):
                hits.append((int(fa.train_ids[found][0]), fa.filename))
        return [Path(name) for _, name in sorted(hits)]

    def attributes(self) -> dict[str, Any]:
        """All HDF5 attributes of this key (for control keys, with its property group's).

        Examples
        --------
        >>> from xfconvert.testing import make_run
        >>> from xfconvert import RunDirectory
        >>> import tempfile, pathlib
        >>> run13 = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r13",
        ...                               n_trains=2, format_version="1.3"))
        >>> flux = run13["SA1_XTD2_XGM/DOOCS/MAIN", "pulseEnergy.photonFlux"]
        >>> flux.attributes()["unitName"], flux.units, flux.units_name
        ('joule', 'μJ', 'joule')
        """
        for fa in self.files:
            if fa.has_key(self.source, self.key):
                per_file = _ATTRIBUTES.setdefault(fa, {})
                attrs = per_file.get((self.source, self.key))
                if attrs is None:
                    attrs = per_file[(self.source, self.key)] = _units.dataset_attributes(
                        fa.get_dataset(self.source, self.key),
                        self.is_control and self.key.endswith(".value"))
                return dict(attrs)
        return {}

    def unit_attributes(self) -> dict[str, str]:
        """The unit attributes (format 1.3: unitName, unitSymbol, metricPrefixName,
        metricPrefixSymbol) that are present, as text; {} for files without units."""
        return _units.unit_attributes(self.attributes())

    @property
    def units(self) -> str | None:
        """The unit symbol with its prefix, e.g. 'μJ', or None when the file has none."""
        return _units.units_symbol(self.attributes())

    @property
    def units_name(self) -> str | None:
        """The unit name with its prefix, e.g. 'microjoule', or None when the file has none."""
        return _units.units_name(self.attributes())

    def run_value(self) -> Any:
        """The RUN-section value of this (control) key: its value at the start of the run.

        Raises
        ------
        NoDataError
            For instrument keys (no RUN section).
        """
        fa = self.files[0]
        return run_value(fa, self.source, self.key)

    def data_counts(self, labelled: bool = True):
        """Number of entries per selected train.

        Parameters
        ----------
        labelled : bool
            True: an int64 pandas Series indexed by train ID; False: a uint64 numpy array.
        """
        counts = self._plan[1]
        if not labelled:
            return counts.copy()
        import pandas as pd
        return pd.Series(counts.astype(np.int64), index=pd.Index(self._train_ids))

    def train_index_bounds(self, labelled: bool = False):
        """Where each train's entries start and stop in :meth:`ndarray`'s first axis.

        Parameters
        ----------
        labelled : bool
            True: a DataFrame with ``start`` and ``stop`` columns indexed by train ID;
            False: a tuple of two uint64 arrays aligned with :attr:`train_ids`.
        """
        counts = self._plan[1]
        stop = np.cumsum(counts, dtype=np.uint64)
        start = stop - counts
        if not labelled:
            return start, stop
        import pandas as pd
        return pd.DataFrame({"start": start.astype(np.int64), "stop": stop.astype(np.int64)},
                            index=pd.Index(self._train_ids))

    def train_id_coordinates(self) -> np.ndarray:
        """The train ID of every entry, as uint64."""
        return np.repeat(self._train_ids, self._plan[1].astype(np.int64))

    # ---- train selections --------------------------------------------------------------
    def select_trains(self, trains: TrainSelection) -> "KeyData":
        """Select a subset of trains (``by_id``, ``by_index``, slices, lists)."""
        return self._with_trains(select_train_ids(self._train_ids, trains))

    def __getitem__(self, trains: TrainSelection) -> "KeyData":
        return self.select_trains(trains)

    # Indexing selects trains, so Python's fallback iteration would never end.
    __iter__ = None

    def split_trains(self, parts: int | None = None,
                     trains_per_part: int | None = None) -> Iterator["KeyData"]:
        """Split into consecutive pieces by train (see DataCollection.split_trains)."""
        for sl in split_slices(len(self._train_ids), parts, trains_per_part):
            yield self._with_trains(self._train_ids[sl])

    def drop_empty_trains(self) -> "KeyData":
        """A KeyData without the trains that have no entries."""
        return self._with_trains(self._train_ids[self._plan[1] > 0])

    # ---- reading ---------------------------------------------------------------------
    def ndarray(self, roi=(), out: np.ndarray | None = None) -> np.ndarray:
        """Read the data into a numpy array, one h5py read per contiguous chunk.

        Parameters
        ----------
        roi : slice or tuple of slices, optional
            Region of interest within each entry, e.g. ``np.s_[:, 10:20]``.
        out : numpy.ndarray, optional
            Preallocated array of the right shape to read into (no extra copy).
        """
        roi = normalise_roi(roi)
        shape = (self.shape[0],) + roi_shape(self.entry_shape, roi)
        if out is None:
            out = np.empty(shape, dtype=self.dtype)
        elif out.shape != shape:
            raise OptionError(f"out has shape {out.shape}, expected {shape}.")
        pos = 0
        for chunk in self.chunk_plan():
            n = chunk.n_entries
            read_chunk(chunk, out[pos:pos + n], roi)
            pos += n
        if out.dtype.hasobject:
            decode_strings(out)
        return out

    def _dim_names(self, extra_dims: Sequence[str] | None, ndim: int) -> list[str]:
        if extra_dims is None:
            extra_dims = [f"dim_{i}" for i in range(ndim - 1)]
        elif len(extra_dims) != ndim - 1:
            raise OptionError(f"extra_dims has {len(extra_dims)} names but the data has "
                              f"{ndim - 1} dimensions after the first.")
        return ["trainId", *extra_dims]

    @property
    def default_name(self) -> str:
        key = self.key[:-6] if self.is_control and self.key.endswith(".value") else self.key
        return f"{self.source}.{key}"

    def xarray(self, extra_dims: Sequence[str] | None = None, roi=(),
               name: str | None = None,
               extra_coords: bool | dict | None = None) -> "xr.DataArray | xr.Dataset":
        """Read into an xarray DataArray with a ``trainId`` coordinate on the first axis.

        Parameters
        ----------
        extra_dims : list of str, optional
            Names of the entry dimensions (default ``dim_0, dim_1, ...``). Naming them
            also gives each a coordinate of the positions read.
        roi : slice or tuple, optional
            Region of interest within each entry, as for :meth:`ndarray`.
        name : str, optional
            Default ``source.key`` (control keys without ``.value``).
        extra_coords : bool or dict, optional
            True: a coordinate of positions for every entry dimension (an integer in
            ``roi`` gives a scalar coordinate); a dict: these coordinates as given.

        Returns
        -------
        xarray.DataArray, or an xarray.Dataset with a variable per field for
        structured data. ``attrs['units']`` holds :attr:`units` where the file has them.

        Examples
        --------
        >>> from xfconvert.testing import make_run
        >>> from xfconvert import RunDirectory
        >>> import tempfile, pathlib
        >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=2))
        >>> arr = run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].xarray(
        ...     extra_dims=["sample"], roi=np.s_[10:13])
        >>> arr.dims, arr.coords["sample"].values.tolist()
        (('trainId', 'sample'), [10, 11, 12])
        """
        roi = normalise_roi(roi)
        data = self.ndarray(roi=roi)
        dims, coords = entry_labels(self.entry_shape, roi, extra_dims, extra_coords)
        units = self.units
        return make_xarray(data, self.train_id_coordinates(), dims, coords,
                           name or self.default_name, {"units": units} if units else {})

    def series(self) -> "pd.Series":
        """Read 1-D data (one scalar per entry) as a pandas Series indexed by train ID.

        Strings come back as ``str``.
        """
        import pandas as pd
        if self.ndim != 1:
            raise OptionError(f"{self.source} {self.key} has {self.ndim}-D data; series() "
                              "needs one scalar per entry. Use xarray() instead.")
        name = self.default_name.replace(f"{self.source}.", f"{self.source}/", 1)
        return pd.Series(self.ndarray(), name=name,
                         index=pd.Index(self.train_id_coordinates(), name="trainId"))

    def dask_array(self, labelled: bool = False, entries_per_chunk: int | None = None):
        """A lazy dask array over the chunk plan (needs the ``dask`` extra).

        Parameters
        ----------
        labelled : bool
            Wrap in an xarray DataArray with a ``trainId`` coordinate.
        entries_per_chunk : int, optional
            Entries per dask chunk; default aims at about 64 MB.
        """
        try:
            import dask.array as da
        except ImportError as err:
            raise MissingDependencyError("dask", "dask_array()", "dask") from err
        entry_bytes = max(1, int(np.prod(self.entry_shape, dtype=np.int64)) * self.dtype.itemsize)
        step = entries_per_chunk or max(1, (64 << 20) // entry_bytes)
        parts = [da.from_array(ChunkArray(c, self.entry_shape, self.dtype),
                               chunks=(step,) + self.entry_shape, asarray=True,
                               name=f"xfconvert-{id(c):x}-{c.dataset_path}-{c.first}")
                 for c in self.chunk_plan()]
        if parts:
            arr = da.concatenate(parts, axis=0)
        else:
            arr = da.zeros((0,) + self.entry_shape, dtype=self.dtype)
        if labelled:
            import xarray as xr
            return xr.DataArray(arr, dims=self._dim_names(None, arr.ndim),
                                coords={"trainId": self.train_id_coordinates()},
                                name=self.default_name)
        return arr

    def trains(self, keep_dims: bool = False,
               include_empty: bool = False) -> Iterator[tuple[int, Any]]:
        """Iterate ``(train_id, data)`` over the selected trains, reading in blocks.

        Parameters
        ----------
        keep_dims : bool
            Always give an array with the entry axis first; by default a train with one
            entry gives that entry alone (a scalar for control keys).
        include_empty : bool
            Also yield trains without data: None, or a length-0 array with ``keep_dims``.

        Examples
        --------
        >>> from xfconvert.testing import make_run
        >>> from xfconvert import RunDirectory
        >>> import tempfile, pathlib
        >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=2))
        >>> [(tid, float(v)) for tid, v in run["SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos"]
        ...  .trains()] == [(t, float(v)) for t, v in zip(run.train_ids, run[
        ...  "SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos"].ndarray())]
        True
        """
        from .trains import key_trains
        decode = self.dtype.hasobject
        empty = np.zeros((0,) + self.entry_shape, dtype=self.dtype) if keep_dims else None
        with_data = key_trains(self)
        if not include_empty:
            for tid, entries in with_data:
                yield tid, self._train_value(entries, keep_dims, decode)
            return
        for tid, count in zip(self._train_ids.tolist(), self._plan[1].tolist()):
            if count == 0:
                yield tid, empty
            else:
                _, entries = next(with_data)
                yield tid, self._train_value(entries, keep_dims, decode)

    @staticmethod
    def _train_value(entries: np.ndarray, keep_dims: bool, decode: bool) -> Any:
        if decode:
            entries = decode_strings(entries.copy())
        return entries if keep_dims or len(entries) != 1 else entries[0]

    def train_from_id(self, train_id: int, keep_dims: bool = False) -> tuple[int, Any]:
        """``(train_id, data)`` of one selected train (a length-0 array if it has no data).

        With one entry the entry itself is returned unless ``keep_dims``.

        Raises
        ------
        TrainNotFoundError
            If the train is not selected (a KeyError).
        """
        tids = self._train_ids
        pos = int(np.searchsorted(tids, train_id))
        if pos >= len(tids) or tids[pos] != train_id:
            raise TrainNotFoundError(f"Train ID {train_id} is not in this data "
                                     f"({self.source} {self.key}).")
        for chunk in self.chunk_plan():
            i = int(np.searchsorted(chunk.train_ids, train_id))
            if i < len(chunk.train_ids) and chunk.train_ids[i] == train_id:
                offset, count = int(chunk.counts[:i].sum()), int(chunk.counts[i])
                data = np.empty((count,) + self.entry_shape, dtype=self.dtype)
                read_chunk(chunk, data, (), slice(offset, offset + count))
                return train_id, self._train_value(data, keep_dims, data.dtype.hasobject)
        return train_id, np.empty((0,) + self.entry_shape, dtype=self.dtype)

    def train_from_index(self, index: int, keep_dims: bool = False) -> tuple[int, Any]:
        """``(train_id, data)`` of the selected train at position ``index`` (negative from
        the end); see :meth:`train_from_id`."""
        n = len(self._train_ids)
        if not -n <= index < n:
            raise TrainNotFoundError(f"Train index {index} is out of range: {self.source} "
                                     f"{self.key} has {n} selected trains.")
        return self.train_from_id(self._train_ids[index], keep_dims=keep_dims)

    def as_single_value(self, rtol: float = 1e-5, atol: float = 0.0,
                        reduce_by: Reduction = None) -> Any:
        """The one value this key holds over the selected trains, within tolerances.

        Parameters
        ----------
        rtol, atol : float
            Tolerances, as in ``numpy.allclose``, of every entry around the reduced value.
        reduce_by : str or callable, optional
            How numbers are reduced: 'median' (default), any numpy function by name,
            'first', or a callable taking the array. Not allowed for strings, which must
            all be equal.

        Examples
        --------
        >>> from xfconvert.testing import make_run
        >>> from xfconvert import RunDirectory
        >>> import tempfile, pathlib
        >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=3))
        >>> kd = run["SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos"]
        >>> bool(kd.as_single_value(rtol=1e3) == np.median(kd.ndarray()))
        True
        """
        return single_value(self.ndarray(), self.source, self.key, rtol=rtol, atol=atol,
                            reduce_by=reduce_by)


class ChunkArray:
    """Array-like view of one DataChunk that dask can slice and pickle."""

    def __init__(self, chunk: DataChunk, entry_shape: tuple[int, ...], dtype: np.dtype):
        self.chunk = chunk
        self.shape = (chunk.n_entries,) + tuple(entry_shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, item):
        if not isinstance(item, tuple):
            item = (item,)
        first, rest = item[0], item[1:]
        start, stop, step = first.indices(self.shape[0]) if isinstance(first, slice) \
            else (first, first + 1, 1)
        base = self.chunk.first
        sel = (slice(base + start, base + stop, step),) + rest
        data = self.chunk.dataset[sel]
        return data if isinstance(first, slice) else data[0]


def read_chunk(chunk: DataChunk, out: np.ndarray, roi: tuple = (),
               entries: slice | None = None) -> None:
    """Read a chunk (or ``entries``, a slice relative to the chunk) into ``out``.

    One HDF5 call straight into ``out`` when possible (``read_direct``); selections
    ``read_direct`` cannot map onto the buffer fall back to reading a copy.
    """
    start, stop, _ = (entries or slice(None)).indices(chunk.n_entries)
    if stop <= start:
        return
    ds = chunk.dataset
    if not roi and out.flags.c_contiguous and out.dtype == ds.dtype and ds.dtype.kind != "O":
        read_slab(ds, chunk.first + start, out)
        return
    source_sel = (slice(chunk.first + start, chunk.first + stop),) + tuple(roi)
    if out.flags.c_contiguous and out.dtype == ds.dtype and not any(
            isinstance(r, (int, np.integer)) for r in roi):
        try:
            ds.read_direct(out, source_sel=source_sel)
            return
        except (TypeError, ValueError) as err:
            log.debug("read_direct of %s failed (%s); reading via a copy", chunk, err)
    out[...] = ds[source_sel]


def read_slab(ds: h5py.Dataset, start: int, out: np.ndarray) -> None:
    """Read entries ``start:start + len(out)`` of ``ds`` into the C-contiguous ``out``.

    Uses h5py's low-level read with one hyperslab: thousands of small slow-data reads
    otherwise spend most of their time building high-level selections.
    """
    fspace = ds.id.get_space()
    fspace.select_hyperslab((start,) + (0,) * (out.ndim - 1), out.shape)
    ds.id.read(h5s.create_simple(out.shape), fspace, out)


def split_slices(n: int, parts: int | None, per_part: int | None) -> list[slice]:
    """Consecutive slices dividing ``n`` items into ``parts`` or pieces of at most ``per_part``.

    ``parts`` alone gives ``min(parts, n)`` pieces; ``per_part`` gives ``ceil(n / per_part)``
    pieces, or more if ``parts`` asks for more. Piece ``i`` is
    ``[i * n // k, (i + 1) * n // k)``, so sizes differ by at most one and larger pieces
    come last (EXtra-data's boundaries).

    Examples
    --------
    >>> [s.stop - s.start for s in split_slices(13, 3, None)]
    [4, 4, 5]
    >>> [s.stop - s.start for s in split_slices(11, None, 8)]
    [5, 6]
    """
    if parts is None and per_part is None:
        raise OptionError("Give parts or trains_per_part.")
    if parts is not None and parts < 1:
        raise OptionError(f"parts must be >= 1, got {parts}.")
    if per_part is not None and per_part < 1:
        raise OptionError(f"trains_per_part must be >= 1, got {per_part}.")
    n_parts = min(parts, n) if parts is not None else 0
    if per_part is not None:
        n_parts = max(n_parts, -(-n // per_part))
    return [slice(i * n // n_parts, (i + 1) * n // n_parts) for i in range(n_parts)]


def decode_strings(arr: np.ndarray) -> np.ndarray:
    """Decode the bytes in an object array to str, in place (returns ``arr``)."""
    values = np.empty(arr.size, dtype=object)
    values[:] = [decode_value(v) for v in arr.ravel().tolist()]
    arr[...] = values.reshape(arr.shape)
    return arr
