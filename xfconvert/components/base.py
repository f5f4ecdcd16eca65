"""Shared machinery of the multi-module detector components.

A multi-module detector (AGIPD, LPD, DSSC, JUNGFRAU) stores each module as a separate
source. The components pull the modules together into one array with a leading
``module`` axis. Everything here is independent of the detector type:

* finding the detector's module sources (:func:`find_detector_modules`),
* the component base class (:class:`MultimodDetectorBase`): module selection, train
  selection and splitting, availability, per-key access (:class:`MultimodKeyData`),
* the reading core: every read maps each module's entries to *destination* positions
  along the output's frame axis (``-1`` drops an entry) and reads the module's chunk plan
  into the preallocated output. A run of entries that maps to a contiguous output range
  (the normal case) is one ``read_direct`` call straight into the output.

Per-detector facts (source name pattern, number of modules, main data key) are class
constants of the subclasses in :mod:`.xtdf` and :mod:`.jungfrau`.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import AGIPD1M
>>> path = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="agipd", n_trains=3,
...                 n_modules=2, module_shape=(8, 4), slow_data=False)
>>> det = AGIPD1M(RunDirectory(path))
>>> det["image.data"].shape  # 16 modules, 3 trains x 4 frames, (gain/data, ss, fs)
(16, 12, 2, 8, 4)
"""
from __future__ import annotations

import logging
import math
import re
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Sequence

import numpy as np

from ..exceptions import (MissingDependencyError, NoDataError, OptionError, PropertyNameError,
                          SourceNameError)
from ..readers.chunks import DataChunk
from ..readers.keydata import KeyData, read_chunk, split_slices
from ..readers.selection import TrainSelection, by_id

if TYPE_CHECKING:
    import xarray as xr

    from ..readers.collection import DataCollection

log = logging.getLogger(__name__)

__all__ = ["MultimodDetectorBase", "MultimodKeyData", "find_detector_modules",
           "identify_multimod_detectors"]

# One h5py read costs roughly as much as transferring this many bytes (~50 us at ~2 GB/s):
# reading runs of selected entries one by one pays off only if it skips more than that.
_CALL_COST_BYTES = 100_000
# Upper bound of the temporary buffer used when a sparse selection is read as a slab.
_SLAB_BYTES = 64 << 20
# Target size of one dask chunk (one module, a range of frames).
_DASK_CHUNK_BYTES = 128 << 20


# ---- finding modules ------------------------------------------------------------------
def find_detector_modules(sources, source_re: re.Pattern) -> dict[str, dict[int, str]]:
    """Group the sources matching ``source_re`` by detector name.

    ``source_re`` must have the named groups ``name`` (detector name) and ``modno``.

    Returns
    -------
    dict
        detector name -> {module number as in the source name: source}

    Examples
    --------
    >>> rx = re.compile(r"^(?P<name>.+)/DET/(?P<modno>\\d+)CH0:xtdf$")
    >>> find_detector_modules(["A/DET/1CH0:xtdf", "A/DET/0CH0:xtdf", "X"], rx)
    {'A': {0: 'A/DET/0CH0:xtdf', 1: 'A/DET/1CH0:xtdf'}}
    """
    found: dict[str, dict[int, str]] = {}
    for src in sorted(sources):
        m = source_re.match(src)
        if m:
            mods = found.setdefault(m.group("name"), {})
            modno = int(m.group("modno"))
            if modno in mods:
                raise OptionError(f"Two sources for module {modno} of detector "
                                  f"{m.group('name')}: {mods[modno]} and {src}. "
                                  "Select one of them first (data.select(...)).")
            mods[modno] = src
    return {name: dict(sorted(mods.items())) for name, mods in sorted(found.items())}


# ---- the reading core -----------------------------------------------------------------
def default_fill_value(dtype: np.dtype, fill_value=None):
    """``fill_value`` if given, else NaN for floating point and 0 for other dtypes."""
    if fill_value is not None:
        return fill_value
    return np.nan if np.issubdtype(dtype, np.inexact) else 0


def _normalise_roi(roi) -> tuple:
    if roi is None:
        return ()
    return roi if isinstance(roi, tuple) else (roi,)


def _roi_read_form(entry_shape: tuple[int, ...], roi: tuple) -> tuple[tuple, tuple, tuple]:
    """(roi with ints as length-1 slices, shape read with it, final shape after the roi).

    HDF5 can read ``1:2`` straight into a buffer but not ``1``; the length-1 axes are
    dropped again by reshaping the (contiguous) output, which costs nothing.
    """
    if len(roi) > len(entry_shape):
        raise OptionError(f"roi has {len(roi)} dimensions but entries have "
                          f"{len(entry_shape)}: {entry_shape}.")
    read_roi = []
    for r, n in zip(roi, entry_shape):
        if isinstance(r, (int, np.integer)):
            i = int(r) + n if r < 0 else int(r)
            if not 0 <= i < n:
                raise OptionError(f"roi index {r} out of range for axis of length {n}.")
            read_roi.append(slice(i, i + 1))
        elif isinstance(r, slice):
            read_roi.append(slice(*r.indices(n)))
        else:
            raise OptionError(f"roi may hold only ints and slices, got {r!r}.")
    read_roi = tuple(read_roi)
    probe = np.empty(entry_shape, dtype=np.bool_)
    return read_roi, probe[read_roi].shape, probe[roi].shape


def _read_selected(chunk: DataChunk, local: np.ndarray, dest: np.ndarray, out_m: np.ndarray,
                   read_roi: tuple, read_shape: tuple) -> None:
    """Read entries ``local`` (sorted) of ``chunk`` into ``out_m[dest]``.

    ``out_m`` has the read shape (length-1 axes kept). Runs where both the entries and
    their destinations are consecutive are read directly into the output; a sparse
    selection of small entries is read as bounded slabs and picked out in numpy, because
    h5py point selections (fancy indexing) are about 100 times slower.
    """
    if local.size == 0:
        return
    breaks = np.flatnonzero((np.diff(local) != 1) | (np.diff(dest) != 1)) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [local.size]))
    entry_bytes = max(1, math.prod(read_shape) * out_m.dtype.itemsize)
    skipped = int(local[-1] - local[0] + 1 - local.size)
    if len(starts) == 1 or (len(starts) - 1) * _CALL_COST_BYTES < skipped * entry_bytes:
        for a, b in zip(starts.tolist(), stops.tolist()):
            d = int(dest[a])
            read_chunk(chunk, out_m[d:d + b - a], read_roi,
                       slice(int(local[a]), int(local[a]) + b - a))
        return
    per_slab = max(1, _SLAB_BYTES // entry_bytes)
    lo, hi = int(local[0]), int(local[-1]) + 1
    for s0 in range(lo, hi, per_slab):
        s1 = min(s0 + per_slab, hi)
        a, b = np.searchsorted(local, [s0, s1])
        if a == b:
            continue
        tmp = np.empty((s1 - s0,) + read_shape, dtype=out_m.dtype)
        read_chunk(chunk, tmp, read_roi, slice(s0, s1))
        out_m[dest[a:b]] = tmp[local[a:b] - s0]


def read_module(kd: KeyData, dest: np.ndarray, out_m: np.ndarray, roi=()) -> None:
    """Read one module's entries into ``out_m`` at positions ``dest`` (``-1``: skip).

    Parameters
    ----------
    kd : KeyData
        The module's key; ``dest`` has one value per entry of ``kd`` in chunk-plan order.
    dest : numpy.ndarray
        int64 destination along the first axis of ``out_m`` of each entry.
    out_m : numpy.ndarray
        Output of shape ``(n,) + entry shape after roi``.
    roi : tuple
        Region of interest within each entry.
    """
    read_roi, read_shape, _ = _roi_read_form(kd.entry_shape, _normalise_roi(roi))
    # A contiguous reshape is a view: reads go straight into the caller's array.
    out_r = out_m.reshape((out_m.shape[0],) + read_shape)
    pos = 0
    for chunk in kd.chunk_plan():
        n = chunk.n_entries
        d = dest[pos:pos + n]
        pos += n
        keep = np.flatnonzero(d >= 0)
        _read_selected(chunk, keep, d[keep], out_r, read_roi, read_shape)


def entry_layout(kd: KeyData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entry of ``kd`` (chunk-plan order): train ID, index within the train, and the
    number of entries of that train."""
    plan = kd.chunk_plan()
    if not plan:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), empty, empty
    tids = np.concatenate([c.train_ids for c in plan])
    counts = np.concatenate([c.counts for c in plan]).astype(np.int64)
    starts = np.cumsum(counts) - counts
    within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
    return np.repeat(tids, counts), within, np.repeat(counts, counts)


class ModuleLayout:
    """Where each module's entries of one key go in a stacked output.

    Attributes
    ----------
    kds : list of KeyData or None
        One per position on the module axis; None for a module without data.
    dests : list of numpy.ndarray or None
        Destination of each entry along the frame axis (``-1``: not read).
    n_frames : int
        Length of the frame axis.
    """

    def __init__(self, kds: list[KeyData | None], dests: list[np.ndarray | None],
                 n_frames: int):
        self.kds = kds
        self.dests = dests
        self.n_frames = n_frames

    @property
    def example(self) -> KeyData:
        return next(kd for kd in self.kds if kd is not None)

    def out_shape(self, roi=()) -> tuple[int, ...]:
        final = _roi_read_form(self.example.entry_shape, _normalise_roi(roi))[2]
        return (len(self.kds), self.n_frames) + final

    def _covered(self, i: int) -> bool:
        dest = self.dests[i]
        if dest is None:
            return False
        kept = dest[dest >= 0]
        return kept.size == self.n_frames and np.unique(kept).size == self.n_frames

    def read(self, *, fill_value=None, roi=(), astype=None, out: np.ndarray | None = None
             ) -> np.ndarray:
        """Read every module into one array of shape ``(modules, n_frames, ...)``."""
        dtype = np.dtype(astype) if astype is not None else self.example.dtype
        shape = self.out_shape(roi)
        if out is None:
            out = np.empty(shape, dtype=dtype)
        elif out.shape != shape:
            raise OptionError(f"out has shape {out.shape}, expected {shape}.")
        fill = default_fill_value(out.dtype, fill_value)
        for i, kd in enumerate(self.kds):
            # Only gaps need the fill value; a fully covered module is just read.
            if not self._covered(i):
                _fill(out[i], fill)
            if kd is not None:
                read_module(kd, self.dests[i], out[i], roi)
        return out

    def dask_array(self, *, fill_value=None, astype=None):
        """A lazy dask array of the same layout, chunked by module and frame ranges."""
        try:
            import dask
            import dask.array as da
        except ImportError as err:
            raise MissingDependencyError("dask", "get_dask_array()", "dask") from err
        eg = self.example
        dtype = np.dtype(astype) if astype is not None else eg.dtype
        fill = default_fill_value(dtype, fill_value)
        entry_shape = eg.entry_shape
        frame_bytes = max(1, math.prod(entry_shape) * dtype.itemsize)
        step = max(1, _DASK_CHUNK_BYTES // frame_bytes)
        bounds = list(range(0, self.n_frames, step)) + [self.n_frames]
        rows = []
        for kd, dest in zip(self.kds, self.dests):
            blocks = []
            for a, b in zip(bounds[:-1], bounds[1:]):
                shape = (b - a,) + entry_shape
                if kd is None or not ((dest >= a) & (dest < b)).any():
                    blocks.append(da.full(shape, fill, dtype=dtype))
                    continue
                local = np.where((dest >= a) & (dest < b), dest - a, -1)
                task = dask.delayed(_read_block)(kd, local, shape, dtype, fill)
                blocks.append(da.from_delayed(task, shape, dtype=dtype))
            rows.append(da.concatenate(blocks, axis=0) if blocks
                        else da.zeros((0,) + entry_shape, dtype=dtype))
        return da.stack(rows, axis=0)


def _fill(arr: np.ndarray, fill) -> None:
    try:
        arr.fill(fill)
    except (ValueError, OverflowError) as err:
        raise OptionError(f"fill value {fill!r} does not fit dtype {arr.dtype}; "
                          "pass fill_value= or astype=.") from err


def _read_block(kd: KeyData, dest: np.ndarray, shape: tuple, dtype: np.dtype, fill) -> np.ndarray:
    out = np.empty(shape, dtype=dtype)
    kept = dest[dest >= 0]
    if kept.size != shape[0] or np.unique(kept).size != shape[0]:
        _fill(out, fill)
    read_module(kd, dest, out)
    return out


def extra_dim_names(entry_shape: tuple[int, ...], leading: Sequence[str] = (),
                    roi=()) -> list[str]:
    """Names of the per-entry dimensions: the last two of images are the pixel axes.

    Axes that ``roi`` selects with an integer are dropped, as numpy drops them.
    """
    names = list(leading)
    rest = len(entry_shape) - len(names)
    pixel = ["slow_scan", "fast_scan"] if rest >= 2 else []
    if rest == 3:
        names.append("data_gain")  # raw XTDF frames: (data/gain stage, ss, fs)
    else:
        names += [f"dim_{i}" for i in range(rest - len(pixel))]
    names += pixel
    roi = _normalise_roi(roi)
    return [n for i, n in enumerate(names)
            if not (i < len(roi) and isinstance(roi[i], (int, np.integer)))]


# ---- per-key access -------------------------------------------------------------------
class MultimodKeyData:
    """One key of every module of a detector, modules along the first axis.

    Made by indexing a component: ``det['image.data']``. Frames are placed per train:
    each train gets as many frames as the module with most data in it, and each module's
    frames of a train start at the beginning of that train's block (no pulse alignment;
    use the component's ``get_array`` for that). Gaps are filled with the fill value.

    Examples
    --------
    >>> kd = det["image.data"]                      # doctest: +SKIP
    >>> kd.shape, kd.dimensions                     # doctest: +SKIP
    ((16, 12, 2, 8, 4), ['module', 'trainId', 'dim_0', 'slow_scan', 'fast_scan'])
    >>> arr = kd.select_trains(np.s_[:2]).ndarray()  # doctest: +SKIP
    """

    def __init__(self, det: "MultimodDetectorBase", key: str):
        self.det = det
        self.key = key
        self._kds = det._module_keydata(key)

    def __repr__(self) -> str:
        return (f"<MultimodKeyData {self.key!r} of {self.det.detector_name}: "
                f"{len(self.det.modules)} modules, {len(self.det.train_ids)} trains>")

    @property
    def _example(self) -> KeyData:
        return next(kd for kd in self._kds if kd is not None)

    def _counts(self) -> np.ndarray:
        """(modules with data, trains) entry counts, int64."""
        return np.stack([kd.data_counts(labelled=False).astype(np.int64)
                         for kd in self._kds if kd is not None])

    def _layout(self) -> ModuleLayout:
        tids = self.det.train_id_array
        per_train = self._counts().max(axis=0)
        block_start = np.cumsum(per_train) - per_train
        dests = []
        for kd in self._kds:
            if kd is None:
                dests.append(None)
                continue
            etids, within, _ = entry_layout(kd)
            dests.append(block_start[np.searchsorted(tids, etids)] + within)
        return ModuleLayout(self._kds, dests, int(per_train.sum()))

    @property
    def entry_shape(self) -> tuple[int, ...]:
        return self._example.entry_shape

    @property
    def dtype(self) -> np.dtype:
        return self._example.dtype

    @property
    def ndim(self) -> int:
        return 2 + len(self.entry_shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(modules, frames) + entry_shape``."""
        n_frames = int(self._counts().max(axis=0).sum())
        return (len(self._kds), n_frames) + self.entry_shape

    @property
    def dimensions(self) -> list[str]:
        return ["module", "trainId"] + extra_dim_names(self.entry_shape)

    def train_id_coordinates(self) -> np.ndarray:
        """The train ID of each position along the frame axis (uint64)."""
        return np.repeat(self.det.train_id_array, self._counts().max(axis=0))

    def select_trains(self, trains: TrainSelection) -> "MultimodKeyData":
        """The same key for a subset of trains (``by_id``, ``by_index``, slices...)."""
        return MultimodKeyData(self.det.select_trains(trains), self.key)

    def split_trains(self, parts: int | None = None, trains_per_part: int | None = None,
                     frames_per_part: int | None = None) -> Iterator["MultimodKeyData"]:
        """Split into consecutive pieces by train (see the component's split_trains)."""
        for part in self.det.split_trains(parts, trains_per_part, frames_per_part):
            yield MultimodKeyData(part, self.key)

    def ndarray(self, *, fill_value=None, out: np.ndarray | None = None, roi=(),
                astype=None) -> np.ndarray:
        """Read into a numpy array of shape ``(modules, frames, ...)``.

        Parameters
        ----------
        fill_value : number, optional
            For gaps; default NaN for floats, 0 for integers.
        out : numpy.ndarray, optional
            Preallocated output of the right shape and dtype.
        roi : tuple
            Region of interest within each entry, e.g. ``np.s_[0, :8]``.
        astype : dtype, optional
            Output dtype (default: the stored dtype).
        """
        return self._layout().read(fill_value=fill_value, roi=roi, astype=astype, out=out)

    def _coords(self) -> dict:
        return {"module": self.det.module_axis, "trainId": ("trainId", self.train_id_coordinates())}

    def xarray(self, *, fill_value=None, roi=(), astype=None) -> "xr.DataArray":
        """Read into an xarray DataArray with ``module`` and ``trainId`` coordinates."""
        import xarray as xr
        data = self.ndarray(fill_value=fill_value, roi=roi, astype=astype)
        dims = ["module", "trainId"] + extra_dim_names(self.entry_shape, roi=roi)
        return xr.DataArray(data, dims=dims, coords=self._coords(), name=self.key)

    def dask_array(self, *, labelled: bool = False, fill_value=None, astype=None):
        """A lazy dask array (or, with ``labelled=True``, an xarray over one)."""
        arr = self._layout().dask_array(fill_value=fill_value, astype=astype)
        if not labelled:
            return arr
        import xarray as xr
        return xr.DataArray(arr, dims=self.dimensions, coords=self._coords(), name=self.key)


# ---- the component base ---------------------------------------------------------------
class MultimodDetectorBase:
    """Common part of the detector components; use a subclass such as ``AGIPD1M``.

    Subclasses define the class constants below; everything else is shared.

    Attributes
    ----------
    detector_name : str
    modules : list of int
        Module numbers (as in the source names) that have data.
    module_axis : list of int
        Module numbers along the first axis of arrays: the whole detector, or the modules
        requested. Modules without data are filled, so no module is ever shifted.
    n_modules : int
        Number of modules of the whole detector.
    source_to_modno : dict
        Source name -> module number.
    data : DataCollection
        The module sources, for the trains with at least ``min_modules`` modules.
    """

    _source_re: ClassVar[re.Pattern]
    #: Number of modules of the full detector.
    n_modules: int = 16
    #: Module number of the first module.
    first_modno: int = 0
    #: Key whose entries define which trains (and frames) a module has.
    _main_key: ClassVar[str]

    def __init__(self, data: "DataCollection", detector_name: str | None = None,
                 modules=None, *, min_modules: int = 1):
        self.detector_name = self._find_detector_name(data, detector_name)
        found = find_detector_modules(data.instrument_sources, self._source_re)
        all_sources = found[self.detector_name]
        if modules is not None:
            requested = sorted({int(m) for m in modules})
            self.module_axis = requested
            mod_sources = {m: s for m, s in all_sources.items() if m in requested}
        else:
            self.module_axis = list(range(self.first_modno, self.first_modno + self.n_modules))
            mod_sources = dict(all_sources)
        if not mod_sources:
            raise SourceNameError(f"{self.detector_name}/DET/*",
                                  f"None of modules {modules} of {self.detector_name} "
                                  f"have data (present: {sorted(all_sources)}).")
        outside = sorted(set(mod_sources) - set(self.module_axis))
        if outside:
            raise OptionError(f"Modules {outside} of {self.detector_name} are outside "
                              f"{self.first_modno}..{self.first_modno + self.n_modules - 1}; "
                              "pass n_modules/first_modno or modules=.")
        self._requested_modules = modules
        self._min_modules = min_modules
        self.modules = sorted(mod_sources)
        self.source_to_modno = {s: m for m, s in mod_sources.items()}
        self._modno_to_source = mod_sources

        selected = data.select([(s, "*") for s in mod_sources.values()])
        counts = self._main_counts(selected)
        with_data = (counts > 0).sum(axis=0) >= min_modules
        if not with_data.all():
            selected = selected.select_trains(by_id[selected.train_id_array[with_data]])
            counts = counts[:, with_data]
        self.data = selected
        self._counts = counts

    # -- construction helpers --
    @classmethod
    def _find_detector_name(cls, data: "DataCollection", detector_name: str | None) -> str:
        names = list(find_detector_modules(data.instrument_sources, cls._source_re))
        if detector_name is not None:
            if detector_name not in names:
                raise SourceNameError(detector_name, f"No {cls.__name__} module sources for "
                                      f"this detector name; found: {names or 'none'}.")
            return detector_name
        if not names:
            raise SourceNameError(f"{cls.__name__} modules",
                                  f"No {cls.__name__} detector found in the data.")
        if len(names) > 1:
            raise OptionError(f"Several {cls.__name__} detectors in the data: "
                              f"{', '.join(names)}. Pass detector_name=.")
        return names[0]

    def _main_counts(self, data: "DataCollection") -> np.ndarray:
        """(present modules, trains of ``data``) entry counts of the main key."""
        rows = []
        for src in self._modno_to_source.values():
            if self._main_key not in data[src]:
                raise PropertyNameError(self._main_key, src)
            rows.append(data[src, self._main_key].data_counts(labelled=False))
        return np.stack(rows).astype(np.int64)

    def _init_kwargs(self) -> dict[str, Any]:
        """Options to rebuild this component over other trains (extended by subclasses
        through class constant ``_extra_options``)."""
        kw = {"detector_name": self.detector_name, "modules": self._requested_modules,
              "min_modules": self._min_modules}
        for name in self._extra_options:
            kw[name] = getattr(self, name)
        return kw

    _extra_options: ClassVar[tuple[str, ...]] = ()

    def _with_data(self, data: "DataCollection") -> "MultimodDetectorBase":
        kw = self._init_kwargs()
        return type(self)(data, kw.pop("detector_name"), kw.pop("modules"), **kw)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.detector_name}: modules {self.modules}, "
                f"{len(self.train_ids)} trains>")

    # -- what is here --
    @property
    def train_ids(self) -> list[int]:
        """Trains with at least ``min_modules`` modules of data."""
        return self.data.train_ids

    @property
    def train_id_array(self) -> np.ndarray:
        return self.data.train_id_array

    @property
    def frames_per_train(self) -> int:
        """Most frames any module has in one train."""
        return int(self._counts.max()) if self._counts.size else 0

    @property
    def module_shape(self) -> tuple[int, ...]:
        """Pixel shape of one module (the last two axes of the main data)."""
        src = next(iter(self._modno_to_source.values()))
        return self.data[src, self._main_key].entry_shape[-2:]

    def _module_keydata(self, key: str) -> list[KeyData | None]:
        """One KeyData per position on the module axis (None where there is no data)."""
        kds = []
        for m in self.module_axis:
            src = self._modno_to_source.get(m)
            kds.append(None if src is None else self.data[src, key])
        return kds

    def __getitem__(self, key: str) -> MultimodKeyData:
        return MultimodKeyData(self, key)

    def __contains__(self, key: str) -> bool:
        return all(key in self.data[s] for s in self._modno_to_source.values())

    def write_virtual_cxi(self, filename, fillvalues: dict | None = None, *,
                          overwrite: bool = False, progress=None, **options):
        """Write a CXI file of virtual datasets stacking every module (for CrystFEL).

        Parameters
        ----------
        filename : str or Path
        fillvalues : dict, optional
            Fill values for missing modules/trains by dataset: ``{'data': nan,
            'gain': 0, 'mask': 0xffffffff}`` (these are the defaults for float data).
        overwrite : bool
            Replace an existing file.
        **options
            Further options of the ``cxi`` writer (``min_modules``, ``relative_paths``).

        Examples
        --------
        >>> AGIPD1M(run).write_virtual_cxi("agipd.cxi")  # doctest: +SKIP
        """
        from ..writers.cxi import write_virtual_cxi
        return write_virtual_cxi(self, filename, fillvalues, overwrite=overwrite,
                                 progress=progress, **options)

    def data_availability(self, module_gaps: bool = False) -> "xr.DataArray":
        """Which modules have data in which trains.

        Parameters
        ----------
        module_gaps : bool
            Include rows (all False) for modules on the module axis without data.

        Returns
        -------
        xarray.DataArray
            Boolean, dims ``('module', 'trainId')``.

        Examples
        --------
        >>> avail = det.data_availability()  # doctest: +SKIP
        >>> avail.sum('module')              # modules with data per train  # doctest: +SKIP
        """
        import xarray as xr
        has = self._counts > 0
        mods = self.modules
        if module_gaps:
            full = np.zeros((len(self.module_axis), has.shape[1]), dtype=bool)
            full[[self.module_axis.index(m) for m in mods]] = has
            has, mods = full, self.module_axis
        return xr.DataArray(has, dims=("module", "trainId"),
                            coords={"module": mods, "trainId": self.train_id_array})

    # -- train selections --
    def select_trains(self, trains: TrainSelection) -> "MultimodDetectorBase":
        """A component for a subset of trains.

        Examples
        --------
        >>> sel = det.select_trains(np.s_[:5])                      # doctest: +SKIP
        >>> sel = det.select_trains(by_id[[10000, 10003, 10004]])   # doctest: +SKIP
        """
        return self._with_data(self.data.select_trains(trains))

    def split_trains(self, parts: int | None = None, trains_per_part: int | None = None,
                     frames_per_part: int | None = None) -> Iterator["MultimodDetectorBase"]:
        """Split into components holding consecutive whole trains.

        Parameters
        ----------
        parts : int, optional
            Minimum number of parts (fewer if there are fewer trains).
        trains_per_part : int, optional
            Maximum trains in each part.
        frames_per_part : int, optional
            Target maximum frames per part; a part always holds at least one train.

        Examples
        --------
        >>> for part in det.split_trains(frames_per_part=1000):  # doctest: +SKIP
        ...     arr = part.get_array('image.data')
        """
        limits = [] if trains_per_part is None else [trains_per_part]
        if frames_per_part is not None:
            if frames_per_part < 1:
                raise OptionError(f"frames_per_part must be >= 1, got {frames_per_part}.")
            limits.append(max(1, frames_per_part // max(1, self.frames_per_train)))
        per_part = min(limits) if limits else None
        if parts is None and per_part is None:
            raise OptionError("Give parts, trains_per_part or frames_per_part.")
        tids = self.train_id_array
        for sl in split_slices(len(tids), parts, per_part):
            yield self._with_data(self.data.select_trains(by_id[tids[sl]]))

    # -- shared helpers for subclasses' get_array --
    def _per_train_layout(self, key: str) -> ModuleLayout:
        """Layout with one position per train (entries of per-train keys)."""
        tids = self.train_id_array
        kds = self._module_keydata(key)
        dests = []
        for kd in kds:
            if kd is None:
                dests.append(None)
                continue
            etids, _, counts = entry_layout(kd)
            if counts.size and counts.max() > 1:
                raise OptionError(f"{kd.source} {key} has several entries per train; "
                                  "it is not per-train data.")
            dests.append(np.searchsorted(tids, etids).astype(np.int64))
        return ModuleLayout(kds, dests, len(tids))


class TrainBlock:
    """Arrays of several keys for a block of trains, to be cut into single trains.

    Attributes
    ----------
    arrays : dict
        key -> (ndarray of shape (modules, frames, ...), names of the dims after frames)
    frame_tids : numpy.ndarray
        Train ID of each frame (sorted).
    frame_dim : str or None
        Name of the frame axis within one train; None when each train has exactly one
        position on it (the axis is then dropped).
    frame_coords : dict
        Coordinate name -> value per frame, attached along ``frame_dim``.
    """

    def __init__(self, arrays: dict, frame_tids: np.ndarray, frame_dim: str | None,
                 frame_coords: dict):
        self.arrays = arrays
        self.frame_tids = frame_tids
        self.frame_dim = frame_dim
        self.frame_coords = frame_coords


def iter_train_blocks(det: MultimodDetectorBase, keys: Sequence[str], read_block,
                      require_all: bool) -> Iterator[tuple[int, dict]]:
    """Yield ``(train_id, {key: DataArray})`` reading a bounded block of trains at a time.

    ``read_block(part, keys)`` returns a :class:`TrainBlock` for component ``part``.
    """
    import xarray as xr
    src = next(iter(det._modno_to_source.values()))
    frame_bytes = sum(math.prod(det.data[src, k].entry_shape) * det.data[src, k].dtype.itemsize
                      for k in keys) * len(det.module_axis)
    per_part = max(1, _SLAB_BYTES * 4 // max(1, frame_bytes))
    if not len(det.train_id_array):
        return
    for part in det.split_trains(frames_per_part=per_part):
        complete = (part._counts > 0).all(axis=0)
        block = read_block(part, keys)
        lo = np.searchsorted(block.frame_tids, part.train_id_array, side="left")
        hi = np.searchsorted(block.frame_tids, part.train_id_array, side="right")
        for i, tid in enumerate(part.train_ids):
            if require_all and not complete[i]:
                continue
            a, b = int(lo[i]), int(hi[i])
            out = {}
            for key, (data, dims) in block.arrays.items():
                if block.frame_dim is None:
                    out[key] = xr.DataArray(data[:, a], dims=["module", *dims],
                                            coords={"module": part.module_axis}, name=key)
                    continue
                coords = {"module": part.module_axis}
                coords.update({name: (block.frame_dim, vals[a:b])
                               for name, vals in block.frame_coords.items()})
                out[key] = xr.DataArray(data[:, a:b], dims=["module", block.frame_dim, *dims],
                                        coords=coords, name=key)
            yield tid, out


def identify_multimod_detectors(data: "DataCollection", detector_name: str | None = None, *,
                                single: bool = False, clses=None):
    """Find the multi-module detectors in the data.

    Parameters
    ----------
    data : DataCollection
    detector_name : str, optional
        Consider only detectors of this name.
    single : bool
        True: return the one ``(detector_name, class)`` found, raising if there is not
        exactly one. False: return a set of all of them.
    clses : iterable of classes, optional
        Component classes to look for (default: AGIPD1M, AGIPD500K, DSSC1M, LPD1M,
        JUNGFRAU).

    Raises
    ------
    NoDataError
        ``single=True`` and no detector found (a ValueError).
    OptionError
        ``single=True`` and several detectors found (a ValueError).

    Examples
    --------
    >>> name, cls = identify_multimod_detectors(run, single=True)  # doctest: +SKIP
    >>> det = cls(run, name)                                       # doctest: +SKIP
    """
    if clses is None:
        from .jungfrau import JUNGFRAU
        from .xtdf import AGIPD1M, AGIPD500K, DSSC1M, LPD1M
        clses = (AGIPD1M, AGIPD500K, DSSC1M, LPD1M, JUNGFRAU)
    found = set()
    for cls in clses:
        for name in find_detector_modules(data.instrument_sources, cls._source_re):
            if detector_name is None or name == detector_name:
                found.add((name, cls))
    if not single:
        return found
    if not found:
        raise NoDataError("No multi-module detector found"
                          + (f" named {detector_name!r}." if detector_name else "."))
    if len(found) > 1:
        names = ", ".join(sorted(f"{n} ({c.__name__})" for n, c in found))
        raise OptionError(f"Several multi-module detectors found: {names}. "
                          "Pass detector_name= or clses=.")
    return found.pop()
