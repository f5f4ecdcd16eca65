"""Components for XTDF detectors: AGIPD-1M, AGIPD-500K, LPD-1M, LPD Solo and DSSC-1M.

XTDF modules write one entry per frame in the ``image`` group, labelled with
``image.pulseId`` and ``image.cellId``; other groups (``header``, ``trailer``,
``detector``) have one entry per train. ``get_array`` of an image key labels frames by
(train, pulse ID) or (train, cell ID); by default the two are separate axes.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory, by_id
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import AGIPD1M
>>> path = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="agipd", n_trains=3,
...                 n_modules=2, module_shape=(8, 4), slow_data=False)
>>> det = AGIPD1M(RunDirectory(path), raw=True)
>>> arr = det.get_array("image.data", pulses=by_id[0:8])
>>> arr.dims, arr.shape
(('module', 'train', 'pulse', 'data_gain', 'slow_scan', 'fast_scan'), (2, 3, 2, 2, 8, 4))
>>> arr.coords["pulse"].values.tolist()
[0, 4]
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..exceptions import FileStructureError, OptionError
from .base import MultimodDetectorBase
from .frames import ById, id_mask, index_mask, is_all_pulses
from .keydata import MultimodKeyData, XtdfImageMultimodKeyData, XtdfMaskedKeyData
from .layout import ModuleLayout

if TYPE_CHECKING:
    import xarray as xr

    from ..readers.collection import DataCollection

__all__ = ["AGIPD1M", "AGIPD500K", "DSSC1M", "LPD1M", "LPDSolo", "XtdfDetectorBase"]

_SUBTRAIN_INDEXES = ("pulseId", "cellId")


def _check_subtrain_index(subtrain_index: str) -> None:
    if subtrain_index not in _SUBTRAIN_INDEXES:
        raise OptionError(f"subtrain_index must be 'pulseId' or 'cellId', "
                          f"not {subtrain_index!r}.")


class WriterFrames:
    """The stacked frames of one image key over :attr:`module_axis`, for the writers.

    Attributes
    ----------
    layout : ModuleLayout
    frame_tids : numpy.ndarray
        Train ID of each frame.
    coords : dict
        ``'train'`` and ``'pulse'`` (the subtrain index) of each frame.
    """

    def __init__(self, layout: ModuleLayout, frame_tids: np.ndarray, coords: dict):
        self.layout = layout
        self.frame_tids = frame_tids
        self.coords = coords


class XtdfDetectorBase(MultimodDetectorBase):
    """Shared interface of the XTDF detectors; use AGIPD1M, AGIPD500K, LPD1M, LPDSolo or
    DSSC1M. See :class:`~xfconvert.components.base.MultimodDetectorBase` for the
    parameters."""

    _main_data_key = "image.data"
    _mask_data_key = "image.mask"
    #: Gain stages recorded one after another within each train (LPD parallel gain).
    _gain_stages = 1

    def __getitem__(self, key: str) -> MultimodKeyData:
        if key.startswith("image."):
            return XtdfImageMultimodKeyData(self, key)
        return super().__getitem__(key)

    def masked_data(self, key: str | None = None, *, mask_bits=None,
                    masked_value=np.nan) -> XtdfMaskedKeyData:
        """``det[key]`` (an ``image.*`` key) with pixels flagged by the correction
        pipeline's mask replaced; see the base class."""
        key = key or self._main_data_key
        if not key.startswith("image."):
            raise OptionError(f"masked_data() takes an image.* key, not {key!r}.")
        return self._masked(XtdfMaskedKeyData, key, mask_bits, masked_value)

    # -- frames --
    def _within_perframe(self) -> tuple[np.ndarray, np.ndarray]:
        """(position in its train, frames of the train) of every frame."""
        counts = np.repeat(self._fc, self._fc)
        within = np.arange(counts.size, dtype=np.int64) - np.repeat(self._starts, self._fc)
        return within, counts

    def _gain_stage_perframe(self) -> np.ndarray:
        within, counts = self._within_perframe()
        return (within // (counts // self._gain_stages)).astype(np.uint8)

    def _select_frames(self, sel) -> np.ndarray:
        """Boolean mask of the frames a normalised pulse selection keeps."""
        if is_all_pulses(sel):
            return np.ones(len(self.train_ids_perframe), dtype=bool)
        if isinstance(sel, ById):
            return id_mask(sel, self._collect_inner_ids("pulseId"))
        within, counts = self._within_perframe()
        if self._gain_stages > 1:
            counts = counts // self._gain_stages
            within = within % counts
        return index_mask(sel, within, counts)

    def _collect_inner_ids(self, field: str = "pulseId") -> np.ndarray:
        """Pulse or cell ID (``field``) of every frame, checked to agree between modules."""
        if field not in self._inner_cache:
            self._inner_cache[field] = self._read_inner_ids(field)
        return self._inner_cache[field]

    def _read_inner_ids(self, field: str) -> np.ndarray:
        key = "image." + field
        n = len(self.train_ids_perframe)
        ids = np.zeros(n, dtype=np.uint64)
        seen = np.zeros(n, dtype=bool)
        agree: list[int] = []
        for modno, src in self.modno_to_source.items():
            kd = self._keydata(src, key)
            pos = self._frame_positions(kd)
            if not pos.size:
                continue
            vals = kd.ndarray().reshape(len(pos), -1)[:, 0].astype(np.uint64)
            clash = seen[pos] & (ids[pos] != vals)
            if clash.any():
                tid = int(self.train_ids_perframe[pos[clash][0]])
                raise FileStructureError(
                    kd.files[0].filename if kd.files else "?",
                    f"{field} of train {tid} differs between modules: module(s) [{modno}] "
                    f"disagree with module(s) {agree}; frames cannot be aligned", src, key)
            ids[pos] = vals
            seen[pos] = True
            agree.append(modno)
        if not seen.all():
            tid = int(self.train_ids_perframe[np.flatnonzero(~seen)[0]])
            raise FileStructureError("?", f"no {field} for some frames of train {tid}",
                                     self.detector_name, key)
        if self._gain_stages > 1:
            # Only the first stage's IDs are meaningful; every stage repeats them.
            within, counts = self._within_perframe()
            per_stage = counts // self._gain_stages
            ids = ids[np.arange(n) - within + within % per_stage]
        return ids

    def _frame_index(self, key: str, pulses=np.s_[:], unstack_pulses: bool = False,
                     subtrain_index: str = "pulseId") -> WriterFrames:
        """Frames of ``key`` over :attr:`module_axis`, stacked (``unstack_pulses`` must be
        False): what the CXI and Zarr writers map."""
        if unstack_pulses:
            raise OptionError("Writers stack frames: unstack_pulses must be False.")
        _check_subtrain_index(subtrain_index)
        kd = self[key].select_pulses(pulses)
        dests = kd._dests()
        layout = ModuleLayout([kd.modno_to_keydata.get(m) for m in self.module_axis],
                              [dests.get(m) for m in self.module_axis], kd._n_positions())
        tids = kd.train_id_coordinates()
        return WriterFrames(layout, tids, {"train": tids, "pulse": kd._inner(subtrain_index)})

    # -- public API --
    def get_array(self, key: str, pulses=np.s_[:], unstack_pulses: bool = True, *,
                  fill_value=None, subtrain_index: str = "pulseId", roi=(),
                  astype=None, module_gaps: bool = False) -> "xr.DataArray":
        """Read one key of every module into a labelled array.

        Parameters
        ----------
        key : str
            e.g. ``'image.data'``. Keys outside the ``image`` group have one entry per
            train and give dims ``('module', 'trainId', ...)``.
        pulses : slice, int, sequence, by_id[...] or by_index[...]
            Frames to include from each train: ``by_id`` by pulse ID, ``by_index``,
            plain slices and integer sequences by position within the train.
        unstack_pulses : bool
            True: dims ``('module', 'train', 'pulse', ...)``; False: ``('module',
            'train_pulse', ...)`` with a (train, pulse) MultiIndex.
        fill_value : number, optional
            For missing modules and trains; default NaN (floats) or 0 (integers).
        subtrain_index : {'pulseId', 'cellId'}
            Label frames within a train by pulse ID (dim ``pulse``) or memory cell
            (dim ``cell``).
        roi : tuple
            Selection within each frame, e.g. ``np.s_[0]`` (AGIPD raw data without gain)
            or ``np.s_[10:60, 100:200]`` for corrected data.
        astype : dtype, optional
            Output dtype; default the stored dtype.
        module_gaps : bool
            One row per module of the detector, missing modules filled.

        Returns
        -------
        xarray.DataArray

        Examples
        --------
        >>> arr = det.get_array('image.data', pulses=by_index[:2], roi=np.s_[0])  # doctest: +SKIP
        >>> arr.sel(module=3, train=10001)                                         # doctest: +SKIP
        """
        _check_subtrain_index(subtrain_index)
        if key.startswith("image."):
            return self[key].select_pulses(pulses).xarray(
                fill_value=fill_value, roi=roi, astype=astype, subtrain_index=subtrain_index,
                unstack_pulses=unstack_pulses, module_gaps=module_gaps)
        return self._per_train_xarray(key, fill_value, roi, astype, module_gaps)

    def _per_train_xarray(self, key, fill_value, roi, astype, module_gaps) -> "xr.DataArray":
        import xarray as xr
        kd = self[key]
        arr = kd.ndarray(fill_value=fill_value, roi=roi, astype=astype, module_gaps=module_gaps)
        return xr.DataArray(arr, dims=kd._dims(arr.ndim), coords={
            "module": self._gap_modules() if module_gaps else kd.modules,
            "trainId": kd.train_id_coordinates()})

    def get_dask_array(self, key: str, subtrain_index: str = "pulseId", fill_value=None,
                       astype=None) -> "xr.DataArray":
        """A labelled lazy (dask) array of one key.

        Image keys give dims ``('module', 'train_pulse', 'dim_0', ...)`` with a
        (``trainId``, ``pulseId`` or ``cellId``) MultiIndex; other keys ``('module',
        'trainId', ...)``.

        Raises
        ------
        MissingDependencyError
            If dask is not installed.

        Examples
        --------
        >>> arr = det.get_dask_array('image.data')            # doctest: +SKIP
        >>> arr.groupby('pulseId').mean().compute()            # doctest: +SKIP
        """
        import xarray as xr
        _check_subtrain_index(subtrain_index)
        kd = self[key]
        if not isinstance(kd, XtdfImageMultimodKeyData):
            return kd.dask_array(labelled=True, fill_value=fill_value, astype=astype)
        # The stored entry shape, length-1 axis of raw LPD/DSSC frames included.
        arr = kd._layout(False).dask_array(fill_value=fill_value, astype=astype)
        index = kd._frame_index(subtrain_index)
        index = index.set_names(["trainId", subtrain_index], level=[0, -1])
        coords = xr.Coordinates.from_pandas_multiindex(index, "train_pulse")
        dims = ["module", "train_pulse"] + [f"dim_{i}" for i in range(arr.ndim - 2)]
        return xr.DataArray(arr, dims=dims, coords=coords).assign_coords(module=kd.modules)

    def trains(self, pulses=np.s_[:], require_all: bool = True
               ) -> Iterator[tuple[int, dict]]:
        """Iterate over trains, yielding ``(train_id, {key: DataArray})`` for every key.

        Image keys have dims ``('module', 'train', 'pulse', ...)`` (train of length 1),
        other keys ``('module', ...)``. Data is read a bounded block of trains at a time.

        Parameters
        ----------
        pulses : slice, sequence, by_id[...] or by_index[...]
            Frames to include from each train (as for :meth:`get_array`).
        require_all : bool
            Skip trains where any module lacks data; False: modules without data in a
            train are left out of it.

        Examples
        --------
        >>> for tid, d in det.trains(pulses=by_id[0:8]):  # doctest: +SKIP
        ...     print(tid, d['image.data'].shape)
        """
        from .trains import iter_trains
        yield from iter_trains(self, pulses, require_all)

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


class AGIPD1M(XtdfDetectorBase):
    """AGIPD-1M: 16 modules of 512 x 128 pixels, numbered 0-15.

    Raw frames are ``(2, 512, 128)``: data and gain. See
    :class:`~xfconvert.components.base.MultimodDetectorBase` for the parameters.

    Examples
    --------
    >>> det = AGIPD1M(run)                              # doctest: +SKIP
    >>> det.get_array('image.data', roi=np.s_[0]).dims  # doctest: +SKIP
    ('module', 'train', 'pulse', 'slow_scan', 'fast_scan')
    """

    _det_name_pat = r"[^/]+_AGIPD1M[^/]*"
    # AGIPD's corrected dtype is configurable: raw frames are told by their data/gain axis.
    _raw_by_ndim = 4
    module_shape = (512, 128)
    n_modules = 16


class AGIPD500K(XtdfDetectorBase):
    """AGIPD-500K: 8 modules, detector names like ``HED_DET_AGIPD500K2G``.

    Examples
    --------
    >>> det = AGIPD500K(run)  # doctest: +SKIP
    >>> det.n_modules         # doctest: +SKIP
    8
    """

    _det_name_pat = r"[^/]+AGIPD500K[^/]*"
    _raw_by_ndim = 4
    module_shape = (512, 128)
    n_modules = 8


class DSSC1M(XtdfDetectorBase):
    """DSSC-1M: 16 modules of 128 x 512 pixels, numbered 0-15.

    Examples
    --------
    >>> det = DSSC1M(run, modules=[0, 1])  # doctest: +SKIP
    >>> det.get_array('image.data').sizes['module']  # doctest: +SKIP
    2
    """

    _det_name_pat = r"[^/]+_DSSC1M[^/]*"
    module_shape = (128, 512)
    n_modules = 16


class _LPDBase(XtdfDetectorBase):
    """LPD modules, optionally read as parallel gain data."""

    module_shape = (256, 256)

    def __init__(self, data: "DataCollection", detector_name: str | None = None,
                 modules=None, *, min_modules: int = 1, parallel_gain: bool = False,
                 raw: bool | None = None):
        super().__init__(data, detector_name, modules, min_modules=min_modules, raw=raw)
        self.parallel_gain = bool(parallel_gain)
        self._gain_stages = 3 if parallel_gain else 1
        if parallel_gain and (self._fc % 3).any():
            raise OptionError("parallel_gain=True needs the frames in each train to be "
                              f"divisible by 3 ({self.detector_name}).")


class LPD1M(_LPDBase):
    """LPD-1M: 16 modules of 256 x 256 pixels, numbered 0-15.

    Parameters
    ----------
    data, detector_name, modules, min_modules, raw
        As for :class:`~xfconvert.components.base.MultimodDetectorBase`.
    parallel_gain : bool
        Read data recorded with the three gain stages (high, medium, low) stored one
        after another within each train: frames get a ``gain`` label (0-2, uint8)
        before ``pulse``, and each stage repeats the pulse and cell IDs of the first.

    Examples
    --------
    >>> det = LPD1M(run, parallel_gain=True)   # doctest: +SKIP
    >>> det.get_array('image.data').dims       # doctest: +SKIP
    ('module', 'train', 'gain', 'pulse', 'slow_scan', 'fast_scan')
    """

    _det_name_pat = r"[^/]+_LPD1M[^/]*"
    n_modules = 16


class LPDSolo(_LPDBase):
    """LPD Solo (LPD-mini): one LPD supermodule, detector names like
    ``FXE_DET_LPD_SOLO``; parameters as :class:`LPD1M`.

    Examples
    --------
    >>> det = LPDSolo(run)   # doctest: +SKIP
    """

    _det_name_pat = r"[^/]+_LPD_SOLO[^/]*"
    n_modules = 1
