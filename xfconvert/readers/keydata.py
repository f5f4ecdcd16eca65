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
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import h5py
import numpy as np
from h5py import h5s

from ..exceptions import MissingDependencyError, NoDataError, OptionError
from .chunks import DataChunk, plan_chunks
from .file_access import FileAccess
from .selection import TrainSelection, select_train_ids

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

log = logging.getLogger(__name__)

__all__ = ["KeyData", "read_chunk"]


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
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def units(self) -> dict[str, str]:
        """Unit attributes (format 1.3: unitName, unitSymbol, metricPrefixSymbol) if any."""
        for fa in self.files:
            if fa.has_key(self.source, self.key):
                attrs = fa.get_dataset(self.source, self.key).attrs
                return {name: _attr_str(attrs[name]) for name in
                        ("unitName", "unitSymbol", "metricPrefixName", "metricPrefixSymbol")
                        if name in attrs}
        return {}

    def data_counts(self, labelled: bool = True):
        """Number of entries per train.

        Parameters
        ----------
        labelled : bool
            True: a pandas Series indexed by train ID; False: a numpy array.
        """
        counts = self._plan[1]
        if not labelled:
            return counts.copy()
        import pandas as pd
        return pd.Series(counts, index=pd.Index(self._train_ids, name="trainId"),
                         name=f"{self.source}/{self.key}")

    def train_id_coordinates(self) -> np.ndarray:
        """The train ID of every entry, as uint64."""
        return np.repeat(self._train_ids, self._plan[1].astype(np.int64))

    # ---- train selections --------------------------------------------------------------
    def select_trains(self, trains: TrainSelection) -> "KeyData":
        """Select a subset of trains (``by_id``, ``by_index``, slices, lists)."""
        return self._with_trains(select_train_ids(self._train_ids, trains))

    def __getitem__(self, trains: TrainSelection) -> "KeyData":
        return self.select_trains(trains)

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
               name: str | None = None) -> "xr.DataArray":
        """Read into an xarray DataArray with a ``trainId`` coordinate on the first axis."""
        import xarray as xr
        data = self.ndarray(roi=roi)
        return xr.DataArray(data, dims=self._dim_names(extra_dims, data.ndim),
                            coords={"trainId": self.train_id_coordinates()},
                            name=name or self.default_name)

    def series(self) -> "pd.Series":
        """Read 1-D data (one scalar per entry) as a pandas Series indexed by train ID."""
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

    def trains(self) -> Iterator[tuple[int, np.ndarray]]:
        """Iterate ``(train_id, array of this train's entries)`` over trains with data."""
        from .trains import key_trains
        return key_trains(self)

    def as_single_value(self, rtol: float = 1e-5, atol: float = 0.0) -> Any:
        """The one value this key holds, if all entries are (nearly) equal."""
        data = self.ndarray()
        if data.shape[0] == 0:
            raise NoDataError(f"No data for {self.source} {self.key} in the selected trains.")
        first = data[0]
        if np.issubdtype(data.dtype, np.number):
            same = np.allclose(data, first, rtol=rtol, atol=atol)
        else:
            same = bool(np.all(data == first))
        if not same:
            raise OptionError(f"{self.source} {self.key} has more than one value.")
        return first.item() if first.ndim == 0 else first


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
    """Consecutive slices dividing ``n`` items into ``parts`` or pieces of ``per_part``."""
    if parts is None and per_part is None:
        raise OptionError("Give parts or trains_per_part.")
    if parts is not None and parts < 1:
        raise OptionError(f"parts must be >= 1, got {parts}.")
    if per_part is not None and per_part < 1:
        raise OptionError(f"trains_per_part must be >= 1, got {per_part}.")
    n_parts = parts or 1
    if per_part is not None:
        n_parts = max(n_parts, -(-n // per_part))
    n_parts = max(1, min(n_parts, n)) if n else 0
    bounds = np.linspace(0, n, n_parts + 1).round().astype(int) if n_parts else [0]
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _attr_str(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _attr_str(value.ravel()[0])
    return str(value)
