"""Components for XTDF detectors: AGIPD-1M, AGIPD-500K, LPD-1M and DSSC-1M.

XTDF modules write one entry per frame in the ``image`` group, labelled with
``image.pulseId`` and ``image.cellId``. :meth:`XtdfDetectorBase.get_array` aligns the
frames of all modules by (train ID, pulse ID or cell ID), so a module with missing frames
or trains is padded, never shifted.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory, by_id
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import AGIPD1M
>>> path = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="agipd", n_trains=3,
...                 n_modules=2, module_shape=(8, 4), slow_data=False)
>>> det = AGIPD1M(RunDirectory(path))
>>> arr = det.get_array("image.data", pulses=by_id[0:8])
>>> arr.dims, arr.shape
(('module', 'train', 'pulse', 'data_gain', 'slow_scan', 'fast_scan'), (16, 3, 2, 2, 8, 4))
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..exceptions import OptionError
from ..readers.selection import ById, ByIndex
from .base import (ModuleLayout, MultimodDetectorBase, TrainBlock, entry_layout,
                   extra_dim_names, iter_train_blocks)

if TYPE_CHECKING:
    import xarray as xr

    from ..readers.collection import DataCollection

__all__ = ["AGIPD1M", "AGIPD500K", "DSSC1M", "LPD1M", "XtdfDetectorBase"]

_SUBTRAIN_INDEXES = ("pulseId", "cellId")


def _xtdf_source_re(name_part: str) -> re.Pattern:
    return re.compile(rf"^(?P<name>[^/]*{name_part}[^/]*)/DET/(?P<modno>\d+)CH0:xtdf$")


def _positions_mask(value, within: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Entries whose position within their train is selected by ``value`` (a slice,
    int or integer sequence, applied to each train like indexing a list)."""
    keep = np.zeros(within.shape, dtype=bool)
    # Trains usually share a handful of lengths, so this loops over lengths, not trains.
    for n in np.unique(counts).tolist():
        these = counts == n
        if isinstance(value, slice):
            chosen = np.arange(n)[value]
        else:
            pos = np.atleast_1d(np.asarray(value))
            if pos.size and not np.issubdtype(pos.dtype, np.integer):
                raise OptionError(f"Pulse positions must be integers, got {pos.dtype}.")
            pos = pos[(pos >= -n) & (pos < n)]
            chosen = np.where(pos < 0, pos + n, pos)
        keep[these] = np.isin(within[these], chosen)
    return keep


def _ids_mask(value, labels: np.ndarray) -> np.ndarray:
    """Entries whose pulse/cell ID is selected by ``value`` (slice: stop exclusive)."""
    labels = labels.astype(np.int64)
    if isinstance(value, slice):
        start = 0 if value.start is None else int(value.start)
        keep = labels >= start
        if value.stop is not None:
            keep &= labels < int(value.stop)
        if value.step not in (None, 1):
            keep &= (labels - start) % int(value.step) == 0
        return keep
    return np.isin(labels, np.atleast_1d(np.asarray(value)).astype(np.int64))


def pulse_mask(pulses, labels: np.ndarray, within: np.ndarray, counts: np.ndarray
               ) -> np.ndarray | None:
    """Boolean mask of the entries chosen by a pulse selection (None: all of them).

    ``by_id[...]`` selects by pulse (or cell) ID; ``by_index[...]``, plain slices, ints
    and integer sequences select by position within each train.
    """
    if isinstance(pulses, ById):
        return _ids_mask(pulses.value, labels)
    value = pulses.value if isinstance(pulses, ByIndex) else pulses
    if isinstance(value, slice) and value == slice(None):
        return None
    return _positions_mask(value, within, counts)


class _FrameIndex:
    """How the frames of every module line up: the output positions and their labels."""

    def __init__(self, layout: ModuleLayout, coords: dict, frame_shape: tuple[int, ...],
                 frame_dims: list[str], frame_tids: np.ndarray):
        self.layout = layout
        self.coords = coords            # coordinates of the frame axes
        self.frame_shape = frame_shape  # the frame axis split into these axes
        self.frame_dims = frame_dims
        self.frame_tids = frame_tids    # train ID of each output frame position


class XtdfDetectorBase(MultimodDetectorBase):
    """Shared interface of the XTDF detectors; use AGIPD1M, AGIPD500K, LPD1M or DSSC1M.

    Parameters
    ----------
    data : DataCollection
        A collection, e.g. from :func:`~xfconvert.RunDirectory`.
    detector_name : str, optional
        e.g. ``'SPB_DET_AGIPD1M-1'``; needed only if the data has several such detectors.
    modules : iterable of int, optional
        Module numbers to use (default: all). Arrays have exactly these on the module axis.
    min_modules : int
        Keep only trains where at least this many modules have data.
    """

    _main_key = "image.data"
    #: Prefix of the per-frame keys; other keys have one entry per train.
    _frames_group = "image."
    #: Gain stages recorded as consecutive blocks of frames in each train (LPD option).
    _gain_stages = 1

    # -- frame alignment --
    def _frame_index(self, key: str, pulses, unstack_pulses: bool,
                     subtrain_index: str) -> _FrameIndex:
        if subtrain_index not in _SUBTRAIN_INDEXES:
            raise OptionError(f"subtrain_index must be 'pulseId' or 'cellId', "
                              f"not {subtrain_index!r}.")
        tids = self.train_id_array
        G = self._gain_stages
        kds = self._module_keydata(key)
        label_kds = self._module_keydata(self._frames_group + subtrain_index)
        modules = []  # per module: (train position, gain stage, label, kept mask) or None
        for kd, lkd in zip(kds, label_kds):
            if kd is None:
                modules.append(None)
                continue
            etids, within, counts = entry_layout(lkd)
            labels = lkd.ndarray().reshape(len(etids))
            gain = np.zeros(len(etids), dtype=np.int64)
            if G > 1:
                if np.any(counts % G):
                    raise OptionError(f"{kd.source} has trains whose frame count is not a "
                                      f"multiple of {G}; it is not parallel gain data.")
                counts = counts // G
                gain, within = np.divmod(within, counts)
                # Each gain stage repeats the pulses of the first one.
                labels = labels[np.arange(len(labels)) - gain * counts]
            keep = pulse_mask(pulses, labels, within, counts)
            keep = np.ones(len(etids), dtype=bool) if keep is None else keep
            modules.append((np.searchsorted(tids, etids), gain, labels, keep))

        present = [m for m in modules if m is not None]
        all_labels = np.unique(np.concatenate([lab[k] for _, _, lab, k in present]))
        P = len(all_labels)
        combined = []
        for ti, gain, labels, keep in present:
            rank = np.searchsorted(all_labels, labels[keep])
            comb = (ti[keep].astype(np.int64) * G + gain[keep]) * P + rank
            if np.unique(comb).size != comb.size:
                raise OptionError(f"Frames of {self.detector_name} are not unique by train "
                                  f"and {subtrain_index}; try subtrain_index="
                                  f"{'cellId' if subtrain_index == 'pulseId' else 'pulseId'!r}.")
            combined.append(comb)
        kept_trains = np.unique(np.concatenate([ti[k] for ti, _, _, k in present]))

        dests = []
        it = iter(combined)
        frames = np.unique(np.concatenate(combined)) if not unstack_pulses else None
        for mod in modules:
            if mod is None:
                dests.append(None)
                continue
            ti, gain, labels, keep = mod
            comb = next(it)
            dest = np.full(len(keep), -1, dtype=np.int64)
            if unstack_pulses:
                # comb = (ti*G + g)*P + rank; swap ti for its position among kept trains.
                tpos = np.searchsorted(kept_trains, ti[keep]).astype(np.int64)
                dest[keep] = comb - (ti[keep].astype(np.int64) - tpos) * G * P
            else:
                dest[keep] = np.searchsorted(frames, comb)
            dests.append(dest)

        gain_dims = ["gain"] if G > 1 else []
        if unstack_pulses:
            n_frames = len(kept_trains) * G * P
            frame_shape = (len(kept_trains),) + ((G,) if G > 1 else ()) + (P,)
            coords = {"train": tids[kept_trains], "pulse": all_labels}
            if G > 1:
                coords["gain"] = np.arange(G)
            frame_dims = ["train", *gain_dims, "pulse"]
            frame_tids = np.repeat(tids[kept_trains], G * P)
        else:
            n_frames = len(frames)
            frame_tids = tids[frames // (G * P)]
            levels = {"train": frame_tids}
            if G > 1:
                levels["gain"] = (frames // P) % G
            levels["pulse"] = all_labels[frames % P]
            coords = levels
            frame_shape = (n_frames,)
            frame_dims = ["train_pulse"]
        layout = ModuleLayout(kds, dests, n_frames)
        return _FrameIndex(layout, coords, frame_shape, frame_dims, frame_tids)

    def _labelled(self, data, key: str, fidx: _FrameIndex, roi) -> "xr.DataArray":
        import pandas as pd
        import xarray as xr
        entry_dims = extra_dim_names(fidx.layout.example.entry_shape, roi=roi)
        data = data.reshape((data.shape[0],) + fidx.frame_shape + data.shape[2:])
        dims = ["module", *fidx.frame_dims, *entry_dims]
        if fidx.frame_dims == ["train_pulse"]:
            midx = pd.MultiIndex.from_arrays(list(fidx.coords.values()),
                                             names=list(fidx.coords))
            coords = xr.Coordinates.from_pandas_multiindex(midx, "train_pulse")
            arr = xr.DataArray(data, dims=dims, coords=coords, name=key)
            return arr.assign_coords(module=self.module_axis)
        coords = {"module": self.module_axis, **fidx.coords}
        return xr.DataArray(data, dims=dims, coords=coords, name=key)

    def _is_frame_key(self, key: str) -> bool:
        return key.startswith(self._frames_group)

    def _per_train_array(self, key: str, data, roi) -> "xr.DataArray":
        import xarray as xr
        layout_eg = self.data[next(iter(self._modno_to_source.values())), key]
        dims = ["module", "train", *extra_dim_names(layout_eg.entry_shape, roi=roi)]
        return xr.DataArray(data, dims=dims, name=key,
                            coords={"module": self.module_axis, "train": self.train_id_array})

    # -- public API --
    def write_frames(self, filename, trains, pulses, *, overwrite: bool = False,
                     progress=None, **options):
        """Write selected frames, given as pairs of train ID and pulse ID, to a new
        EuXFEL-format file with the same structure as the module files.

        Parameters
        ----------
        filename : str or Path
        trains, pulses : array-like of int
            Same length: frame i is (trains[i], pulses[i]).
        overwrite : bool
            Replace an existing file.
        **options
            ``compression`` as for the ``euxfel`` writer.

        Examples
        --------
        >>> det.write_frames("hits.h5", trains=[10000, 10001], pulses=[0, 4])  # doctest: +SKIP
        """
        from ..writers.euxfel import write_frames
        return write_frames(self, filename, trains, pulses, overwrite=overwrite,
                            progress=progress, **options)

    def get_array(self, key: str, pulses=np.s_[:], unstack_pulses: bool = True, *,
                  fill_value=None, subtrain_index: str = "pulseId", roi=(),
                  astype=None) -> "xr.DataArray":
        """Read one key of every module into a labelled array.

        Parameters
        ----------
        key : str
            e.g. ``'image.data'``. Keys outside the ``image`` group have one entry per
            train and give dims ``('module', 'train', ...)``.
        pulses : slice, int, sequence, by_id[...] or by_index[...]
            Frames to include from each train: ``by_id`` by pulse (or cell) ID,
            ``by_index``, plain slices and integer sequences by position within the train.
        unstack_pulses : bool
            True: dims ``('module', 'train', 'pulse', ...)``; False: ``('module',
            'train_pulse', ...)`` with a (train, pulse) MultiIndex of the frames present.
        fill_value : number, optional
            For missing modules, trains and frames; default NaN (floats) or 0 (integers).
        subtrain_index : {'pulseId', 'cellId'}
            Label (and align) frames within a train by pulse ID or memory cell ID.
        roi : tuple
            Selection within each frame, e.g. ``np.s_[0]`` (AGIPD raw data without gain)
            or ``np.s_[10:60, 100:200]`` for corrected data.
        astype : dtype, optional
            Output dtype; default the stored dtype.

        Returns
        -------
        xarray.DataArray

        Examples
        --------
        >>> arr = det.get_array('image.data', pulses=by_index[:2], roi=np.s_[0])  # doctest: +SKIP
        >>> arr.sel(module=3, train=10001)                                         # doctest: +SKIP
        """
        if not self._is_frame_key(key):
            layout = self._per_train_layout(key)
            data = layout.read(fill_value=fill_value, roi=roi, astype=astype)
            return self._per_train_array(key, data, roi)
        fidx = self._frame_index(key, pulses, unstack_pulses, subtrain_index)
        data = fidx.layout.read(fill_value=fill_value, roi=roi, astype=astype)
        return self._labelled(data, key, fidx, roi)

    def get_dask_array(self, key: str, subtrain_index: str = "pulseId", fill_value=None,
                       astype=None) -> "xr.DataArray":
        """A labelled lazy (dask) array of one key, laid out like
        ``get_array(key, unstack_pulses=False)``.

        Raises
        ------
        MissingDependencyError
            If dask is not installed.

        Examples
        --------
        >>> arr = det.get_dask_array('image.data')        # doctest: +SKIP
        >>> arr.isel(module=0).mean('train_pulse').compute()  # doctest: +SKIP
        """
        if not self._is_frame_key(key):
            layout = self._per_train_layout(key)
            return self._per_train_array(
                key, layout.dask_array(fill_value=fill_value, astype=astype), ())
        fidx = self._frame_index(key, np.s_[:], False, subtrain_index)
        data = fidx.layout.dask_array(fill_value=fill_value, astype=astype)
        return self._labelled(data, key, fidx, ())

    def _read_train_block(self, part: "XtdfDetectorBase", keys, pulses) -> TrainBlock:
        arrays, fidx = {}, None
        for key in keys:
            fidx = part._frame_index(key, pulses, False, "pulseId")
            data = fidx.layout.read()
            arrays[key] = (data, extra_dim_names(fidx.layout.example.entry_shape))
        coords = {name: vals for name, vals in fidx.coords.items() if name != "train"}
        return TrainBlock(arrays, fidx.frame_tids, "pulse", coords)

    def trains(self, pulses=np.s_[:], require_all: bool = True
               ) -> Iterator[tuple[int, dict]]:
        """Iterate over trains, yielding ``(train_id, {key: DataArray})``.

        Every ``image.*`` key is included, with dims ``('module', 'pulse', ...)``
        (frames aligned by pulse ID). Data is read a bounded block of trains at a time.

        Parameters
        ----------
        pulses : slice, sequence, by_id[...] or by_index[...]
            Frames to include from each train (as for :meth:`get_array`).
        require_all : bool
            Skip trains where any of the detector's modules with data lack data.

        Examples
        --------
        >>> for tid, d in det.trains(pulses=by_id[0:8]):  # doctest: +SKIP
        ...     print(tid, d['image.data'].shape)
        """
        src = next(iter(self._modno_to_source.values()))
        keys = sorted(k for k in self.data[src].keys() if self._is_frame_key(k))
        yield from iter_train_blocks(
            self, keys, lambda part, ks: self._read_train_block(part, ks, pulses),
            require_all)


class AGIPD1M(XtdfDetectorBase):
    """AGIPD-1M: 16 modules of 512 x 128 pixels, numbered 0-15.

    Raw frames are ``(2, 512, 128)``: data and gain. See :class:`XtdfDetectorBase`
    for the parameters.

    Examples
    --------
    >>> det = AGIPD1M(run)                              # doctest: +SKIP
    >>> det.get_array('image.data', roi=np.s_[0]).dims  # doctest: +SKIP
    ('module', 'train', 'pulse', 'slow_scan', 'fast_scan')
    """

    _source_re = _xtdf_source_re("AGIPD1M")
    n_modules = 16


class AGIPD500K(XtdfDetectorBase):
    """AGIPD-500K: 8 modules, detector names like ``HED_DET_AGIPD500K2G``.

    Examples
    --------
    >>> det = AGIPD500K(run)  # doctest: +SKIP
    >>> det.n_modules         # doctest: +SKIP
    8
    """

    _source_re = _xtdf_source_re("AGIPD500K")
    n_modules = 8


class DSSC1M(XtdfDetectorBase):
    """DSSC-1M: 16 modules of 128 x 512 pixels, numbered 0-15.

    Examples
    --------
    >>> det = DSSC1M(run, modules=[0, 1])  # doctest: +SKIP
    >>> det.get_array('image.data').sizes['module']  # doctest: +SKIP
    2
    """

    _source_re = _xtdf_source_re("DSSC1M")
    n_modules = 16


class LPD1M(XtdfDetectorBase):
    """LPD-1M: 16 modules of 256 x 256 pixels, numbered 0-15.

    Parameters
    ----------
    data, detector_name, modules, min_modules
        As for :class:`XtdfDetectorBase`.
    parallel_gain : bool
        Read raw data recorded with the three gain stages (high, medium, low) stored one
        after another within each train: frames get a ``gain`` axis (0-2) before
        ``pulse``, and each stage repeats the pulse and cell IDs of the first.

    Examples
    --------
    >>> det = LPD1M(run, parallel_gain=True)   # doctest: +SKIP
    >>> det.get_array('image.data').dims       # doctest: +SKIP
    ('module', 'train', 'gain', 'pulse', 'data_gain', 'slow_scan', 'fast_scan')
    """

    _source_re = _xtdf_source_re("LPD1M")
    n_modules = 16
    _extra_options = ("parallel_gain",)

    def __init__(self, data: "DataCollection", detector_name: str | None = None,
                 modules=None, *, min_modules: int = 1, parallel_gain: bool = False):
        super().__init__(data, detector_name, modules, min_modules=min_modules)
        self.parallel_gain = parallel_gain
        self._gain_stages = 3 if parallel_gain else 1
