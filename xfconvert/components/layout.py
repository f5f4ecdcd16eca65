"""Where each module's entries land in a stacked array, and reading them there.

Every read of a multi-module detector maps each module's entries to *destination*
positions along the output's frame axis (``-1`` drops an entry) and reads the module's
chunk plan into the preallocated output. A run of entries that maps to a contiguous
output range (the normal case) is one ``read_direct`` call straight into the output.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="agipd",
...                             n_trains=3, n_modules=2, module_shape=(8, 4), slow_data=False))
>>> kd = run["SPB_DET_AGIPD1M-1/DET/1CH0:xtdf", "image.data"]
>>> dest = np.arange(kd.shape[0])[::-1].copy()     # the frames in reverse order
>>> arr = ModuleLayout([kd, None], [dest, None], kd.shape[0]).read(fill_value=7)
>>> bool((arr[0, ::-1] == kd.ndarray()).all()), bool((arr[1] == 7).all())
(True, True)
"""
from __future__ import annotations

import math

import numpy as np

from ..exceptions import MissingDependencyError, OptionError
from ..readers.chunks import DataChunk
from ..readers.keydata import KeyData, read_chunk

__all__ = ["ModuleLayout", "default_fill_value", "entry_layout", "read_module"]

# One h5py read costs roughly as much as transferring this many bytes (~50 us at ~2 GB/s):
# reading runs of selected entries one by one pays off only if it skips more than that.
_CALL_COST_BYTES = 100_000
# Upper bound of the temporary buffer used when a sparse selection is read as a slab.
_SLAB_BYTES = 64 << 20
# Target size of one dask chunk (one module, a range of frames).
_DASK_CHUNK_BYTES = 128 << 20


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
    if not roi:
        return (), entry_shape, entry_shape
    if any(r is Ellipsis for r in roi):
        i = next(i for i, r in enumerate(roi) if r is Ellipsis)
        fill = (slice(None),) * max(0, len(entry_shape) - len(roi) + 1)
        roi = roi[:i] + fill + roi[i + 1:]
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
    n = local.size
    if n == 0:
        return
    if local[-1] - local[0] == n - 1 and (np.diff(dest) == 1).all():
        # Consecutive entries (local is sorted and unique) to consecutive places: one read.
        d = int(dest[0])
        read_chunk(chunk, out_m[d:d + n], read_roi, slice(int(local[0]), int(local[0]) + n))
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

    def dask_array(self, *, fill_value=None, astype=None, roi=()):
        """A lazy dask array of the same layout, chunked by module and frame ranges."""
        try:
            import dask
            import dask.array as da
        except ImportError as err:
            raise MissingDependencyError("dask", "get_dask_array()", "dask") from err
        eg = self.example
        dtype = np.dtype(astype) if astype is not None else eg.dtype
        fill = default_fill_value(dtype, fill_value)
        entry_shape = self.out_shape(roi)[2:]
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
                task = dask.delayed(_read_block)(kd, local, shape, dtype, fill, roi)
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


def _read_block(kd: KeyData, dest: np.ndarray, shape: tuple, dtype: np.dtype, fill,
                roi=()) -> np.ndarray:
    out = np.empty(shape, dtype=dtype)
    kept = dest[dest >= 0]
    if kept.size != shape[0] or np.unique(kept).size != shape[0]:
        _fill(out, fill)
    read_module(kd, dest, out, roi)
    return out

