"""``det[key]``: one key of every module of a detector, modules along the first axis.

Arrays have the modules with data along their first axis (``module_gaps=True``: every
module of the detector, missing ones filled), then one position per train, or per frame
for the XTDF ``image.*`` keys, where a train's frames follow one another as the modules
recorded them.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import AGIPD1M
>>> path = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="agipd", n_trains=3,
...                 n_modules=2, module_shape=(8, 4), slow_data=False)
>>> det = AGIPD1M(RunDirectory(path), raw=True)
>>> kd = det["image.data"]
>>> kd.shape, kd.buffer_shape(module_gaps=True)   # 3 trains x 4 frames
((2, 12, 2, 8, 4), (16, 12, 2, 8, 4))
>>> kd.select_pulses(np.s_[:2]).xarray().dims
('module', 'train_pulse', 'data_gain', 'slow_scan', 'fast_scan')
>>> det["header.pulseCount"].xarray().dims
('module', 'trainId')
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..exceptions import OptionError
from ..readers.keydata import KeyData
from ..readers.selection import TrainSelection
from .frames import PulseSelection, all_pulses, check_pulse_selection, is_all_pulses
from .layout import ModuleLayout, _normalise_roi, _roi_read_form, entry_layout

if TYPE_CHECKING:
    import xarray as xr

    from .base import MultimodDetectorBase
    from .xtdf import XtdfDetectorBase

__all__ = ["MultimodKeyData", "XtdfImageMultimodKeyData", "DetectorMaskedKeyData",
           "XtdfMaskedKeyData"]


def image_dims(n_inner: int) -> list[str]:
    """Names of the per-frame axes of XTDF image data with ``n_inner`` of them."""
    if n_inner == 3:
        return ["data_gain", "slow_scan", "fast_scan"]  # raw AGIPD: data/gain, pixels
    if n_inner == 2:
        return ["slow_scan", "fast_scan"]
    return [f"dim_{i}" for i in range(n_inner)]


class MultimodKeyData:
    """One key of every module of a detector: ``det[key]``.

    Attributes
    ----------
    det : MultimodDetectorBase
        The component (its module and train selection).
    key : str
    modno_to_keydata : dict
        Module number -> :class:`~xfconvert.readers.keydata.KeyData`.
    """

    def __init__(self, det: "MultimodDetectorBase", key: str):
        self.det = det
        self.key = key
        self.modno_to_keydata = {m: det._keydata(s, key) for m, s in det.modno_to_source.items()}

    def _init_kwargs(self) -> dict:
        return {"det": self.det, "key": self.key}

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.key!r} of {self.det.detector_name}: "
                f"{len(self.modno_to_keydata)} modules, {len(self.train_ids)} trains>")

    # -- what is here --
    @property
    def train_ids(self) -> list[int]:
        return self.det.train_ids

    def train_id_coordinates(self) -> np.ndarray:
        """Train ID of each position along the second axis."""
        return np.array(self.det.train_id_array)

    @property
    def modules(self) -> list[int]:
        """Module numbers with data (the first axis unless ``module_gaps=True``)."""
        return sorted(self.modno_to_keydata)

    @property
    def _eg_keydata(self) -> KeyData:
        return self.modno_to_keydata[min(self.modno_to_keydata)]

    @property
    def entry_shape(self) -> tuple[int, ...]:
        return self._eg_keydata.entry_shape

    @property
    def dtype(self) -> np.dtype:
        return self._eg_keydata.dtype

    @property
    def ndim(self) -> int:
        return self._eg_keydata.ndim + 1

    def _n_positions(self) -> int:
        return len(self.det.train_id_array)

    def _entry_roi(self, roi) -> tuple:
        """The roi applied to the stored entries."""
        return _normalise_roi(roi)

    def buffer_shape(self, module_gaps: bool = False, roi=()) -> tuple[int, ...]:
        """Shape of the array :meth:`ndarray` makes.

        Parameters
        ----------
        module_gaps : bool
            Make room for every module of the detector, not only those with data.
        roi : tuple
            Selection within each entry.
        """
        n_mod = self.det.n_modules if module_gaps else len(self.modno_to_keydata)
        final = _roi_read_form(self.entry_shape, self._entry_roi(roi))[2]
        return (n_mod, self._n_positions()) + final

    @property
    def shape(self) -> tuple[int, ...]:
        return self.buffer_shape()

    @property
    def dimensions(self) -> list[str]:
        return ["module", "trainId"] + [f"dim_{i}" for i in range(self.ndim - 2)]

    def _dims(self, ndim: int) -> list[str]:
        return ["module", "trainId"] + [f"dim_{i}" for i in range(ndim - 2)]

    # -- selections --
    def _with_selected_det(self, det: "MultimodDetectorBase") -> "MultimodKeyData":
        kw = self._init_kwargs()
        kw["det"] = det
        return type(self)(**kw)

    def select_trains(self, trains: TrainSelection) -> "MultimodKeyData":
        """The same key for a subset of trains (``by_id``, ``by_index``, slices...)."""
        return self._with_selected_det(self.det.select_trains(trains))

    def __getitem__(self, trains: TrainSelection) -> "MultimodKeyData":
        return self.select_trains(trains)

    __iter__ = None  # indexing selects trains; iterating would never end

    def split_trains(self, parts: int | None = None, trains_per_part: int | None = None,
                     frames_per_part: int | None = None) -> Iterator["MultimodKeyData"]:
        """Split into consecutive pieces by train (see the component's split_trains)."""
        for part in self.det.split_trains(parts, trains_per_part, frames_per_part):
            yield self._with_selected_det(part)

    # -- reading --
    def _dests(self) -> dict[int, np.ndarray]:
        """Destination along the second axis of each entry, per module."""
        tids = self.det.train_id_array
        out = {}
        for m, kd in self.modno_to_keydata.items():
            etids, _, counts = entry_layout(kd)
            if counts.size and counts.max() > 1:
                raise OptionError(f"{kd.source} {self.key} has several entries per train; "
                                  "it is not per-train data.")
            out[m] = np.searchsorted(tids, etids).astype(np.int64)
        return out

    def _layout(self, module_gaps: bool) -> ModuleLayout:
        dests = self._dests()
        if module_gaps:
            rows = list(range(self.det._modnos_start_at,
                              self.det._modnos_start_at + self.det.n_modules))
        else:
            rows = self.modules
        return ModuleLayout([self.modno_to_keydata.get(m) for m in rows],
                            [dests.get(m) for m in rows], self._n_positions())

    def ndarray(self, *, fill_value=None, out: np.ndarray | None = None, roi=(),
                astype=None, module_gaps: bool = False) -> np.ndarray:
        """Read into a plain numpy array (shape :meth:`buffer_shape`).

        Parameters
        ----------
        fill_value : number, optional
            For gaps; default NaN for floats, 0 for integers.
        out : numpy.ndarray, optional
            Preallocated output of the right shape.
        roi : tuple
            Selection within each entry, e.g. ``np.s_[:, :8]``.
        astype : dtype, optional
            Output dtype (default: the stored dtype).
        module_gaps : bool
            One row per module of the detector, missing ones filled.
        """
        if out is not None and out.shape != self.buffer_shape(module_gaps, roi):
            raise OptionError(f"out has shape {out.shape}; this data needs "
                              f"{self.buffer_shape(module_gaps, roi)}.")
        return self._layout(module_gaps).read(fill_value=fill_value,
                                              roi=self._entry_roi(roi),
                                              astype=astype, out=out)

    def _wrap_xarray(self, arr) -> "xr.DataArray":
        import xarray as xr
        return xr.DataArray(arr, dims=self._dims(arr.ndim),
                            coords={"module": self.modules,
                                    "trainId": self.train_id_coordinates()})

    def xarray(self, *, fill_value=None, roi=(), astype=None) -> "xr.DataArray":
        """Read into a DataArray with dims ``('module', 'trainId', ...)``."""
        return self._wrap_xarray(self.ndarray(fill_value=fill_value, roi=roi, astype=astype))

    def dask_array(self, *, labelled: bool = False, fill_value=None, astype=None):
        """A lazy dask array (``labelled=True``: a DataArray over one), as :meth:`ndarray`."""
        arr = self._layout(False).dask_array(fill_value=fill_value, astype=astype)
        return self._wrap_xarray(arr) if labelled else arr

    def data_availability(self, module_gaps: bool = False) -> np.ndarray:
        """Boolean ``(modules, positions)``: True where a module has data."""
        layout = self._layout(module_gaps)
        out = np.zeros((len(layout.kds), layout.n_frames), dtype=np.bool_)
        for i, dest in enumerate(layout.dests):
            if dest is not None:
                out[i, dest[dest >= 0]] = True
        return out


class XtdfImageMultimodKeyData(MultimodKeyData):
    """An ``image.*`` key of an XTDF detector: one position per frame.

    A pulse selection (:meth:`select_pulses`) keeps some frames of every train.

    Examples
    --------
    >>> kd = det['image.data'].select_pulses(by_id[0:8])  # doctest: +SKIP
    >>> kd.pulse_id_coordinates()                         # doctest: +SKIP
    """

    det: "XtdfDetectorBase"

    def __init__(self, det: "XtdfDetectorBase", key: str, pulse_sel: PulseSelection = None):
        super().__init__(det, key)
        self._pulse_sel = all_pulses() if pulse_sel is None else pulse_sel
        shape = self._eg_keydata.entry_shape
        # Raw LPD and DSSC frames (and raw pulse/cell IDs) carry a length-1 axis.
        self._extraneous_dim = len(shape) >= 1 and shape[0] == 1
        self._sel_cache: np.ndarray | None = None

    def _init_kwargs(self) -> dict:
        return {**super()._init_kwargs(), "pulse_sel": self._pulse_sel}

    @property
    def ndim(self) -> int:
        return super().ndim - (1 if self._extraneous_dim else 0)

    def _entry_roi(self, roi) -> tuple:
        roi = _normalise_roi(roi)
        return ((0,) + roi) if self._extraneous_dim else roi

    @property
    def _sel_frames(self) -> np.ndarray:
        """Boolean mask over the component's frames: those of the pulse selection."""
        if self._sel_cache is None:
            self._sel_cache = self.det._select_frames(self._pulse_sel)
        return self._sel_cache

    def _all_pulses(self) -> bool:
        return is_all_pulses(self._pulse_sel)

    def _n_positions(self) -> int:
        if self._all_pulses():
            return len(self.det.train_ids_perframe)
        return int(self._sel_frames.sum())

    def train_id_coordinates(self) -> np.ndarray:
        """Train ID of each selected frame."""
        tids = self.det.train_ids_perframe
        return tids.copy() if self._all_pulses() else tids[self._sel_frames]

    def pulse_id_coordinates(self) -> np.ndarray:
        """Pulse ID of each selected frame (the same in every module)."""
        return self._inner("pulseId")

    def cell_id_coordinates(self) -> np.ndarray:
        """Memory cell ID of each selected frame (the same in every module)."""
        return self._inner("cellId")

    def _inner(self, field: str) -> np.ndarray:
        ids = self.det._collect_inner_ids(field)
        return ids.copy() if self._all_pulses() else ids[self._sel_frames]

    @property
    def dimensions(self) -> list[str]:
        return ["module", "train_pulse"] + image_dims(self.ndim - 2)

    def _dims(self, ndim: int) -> list[str]:
        return ["module", "train_pulse"] + image_dims(ndim - 2)

    def select_pulses(self, pulses) -> "XtdfImageMultimodKeyData":
        """Keep the frames ``pulses`` selects in every train: ``by_id[...]`` by pulse ID,
        ``by_index[...]`` (or a plain slice, int or list) by position in the train."""
        kw = self._init_kwargs()
        kw["pulse_sel"] = check_pulse_selection(pulses)
        return type(self)(**kw)

    def _dests(self) -> dict[int, np.ndarray]:
        if self._all_pulses():
            newpos = None
        else:
            sel = self._sel_frames
            newpos = np.where(sel, np.cumsum(sel) - 1, -1)
        out = {}
        for m, kd in self.modno_to_keydata.items():
            pos = self.det._frame_positions(kd)
            out[m] = pos if newpos is None else newpos[pos]
        return out

    def _frame_index(self, subtrain_index: str):
        import pandas as pd
        inner = self.det._collect_inner_ids(subtrain_index)
        name = subtrain_index[:-2]
        tids = self.det.train_ids_perframe
        if self.det._gain_stages > 1:
            gain = self.det._gain_stage_perframe()
            levels, names = [tids, gain, inner], ["train", "gain", name]
        else:
            levels, names = [tids, inner], ["train", name]
        if not self._all_pulses():
            levels = [lv[self._sel_frames] for lv in levels]
        return pd.MultiIndex.from_arrays(levels, names=names)

    def _wrap_xarray(self, arr, subtrain_index: str = "pulseId",
                     modules: list[int] | None = None) -> "xr.DataArray":
        import xarray as xr
        index = self._frame_index(subtrain_index)
        coords = xr.Coordinates.from_pandas_multiindex(index, "train_pulse")
        out = xr.DataArray(arr, dims=self._dims(arr.ndim), coords=coords)
        return out.assign_coords(module=self.modules if modules is None else modules)

    def xarray(self, *, pulses=None, fill_value=None, roi=(), astype=None,
               subtrain_index: str = "pulseId", unstack_pulses: bool = False,
               module_gaps: bool = False) -> "xr.DataArray":
        """Read into a DataArray, frames labelled by train and pulse (or cell) ID.

        Parameters
        ----------
        pulses : optional
            A pulse selection, as for :meth:`select_pulses`.
        unstack_pulses : bool
            Separate ``train`` and ``pulse`` (``cell``) axes instead of one
            ``train_pulse`` axis; frames missing from a train are filled.
        subtrain_index : {'pulseId', 'cellId'}
        module_gaps : bool
            One row per module of the detector, missing ones filled.
        """
        if pulses is not None:
            return self.select_pulses(pulses).xarray(
                fill_value=fill_value, roi=roi, astype=astype, subtrain_index=subtrain_index,
                unstack_pulses=unstack_pulses, module_gaps=module_gaps)
        if subtrain_index not in ("pulseId", "cellId"):
            raise OptionError("subtrain_index must be 'pulseId' or 'cellId', "
                              f"not {subtrain_index!r}.")
        arr = self.ndarray(fill_value=fill_value, roi=roi, astype=astype,
                           module_gaps=module_gaps)
        modules = self.det._gap_modules() if module_gaps else self.modules
        if unstack_pulses:
            from .unstack import unstacked
            return unstacked(arr, self._frame_index(subtrain_index), modules,
                             self._dims(arr.ndim)[2:])
        return self._wrap_xarray(arr, subtrain_index, modules)

    def dask_array(self, *, labelled: bool = False, subtrain_index: str = "pulseId",
                   fill_value=None, astype=None):
        """A lazy dask array (``labelled=True``: a DataArray over one), as :meth:`ndarray`."""
        arr = self._layout(False).dask_array(fill_value=fill_value, astype=astype,
                                             roi=self._entry_roi(()))
        return self._wrap_xarray(arr, subtrain_index) if labelled else arr


class DetectorMaskedKeyData(MultimodKeyData):
    """A key with the correction pipeline's mask applied: ``det.masked_data()``.

    Pixels whose mask value has any of ``mask_bits`` set (default: any bit) read as
    ``masked_value``.
    """

    def __init__(self, *args, mask_key: str, mask_bits: int | None, masked_value, **kwargs):
        super().__init__(*args, **kwargs)
        self._mask_key = mask_key
        self._mask_bits = mask_bits
        self._masked_value = masked_value

    def __repr__(self) -> str:
        return f"<Masked {self.key!r} detector data for {len(self.modules)} modules>"

    def _init_kwargs(self) -> dict:
        return {**super()._init_kwargs(), "mask_key": self._mask_key,
                "mask_bits": self._mask_bits, "masked_value": self._masked_value}

    def _mask_keydata(self) -> MultimodKeyData:
        return self.det[self._mask_key]

    def _load_mask(self, module_gaps: bool, roi=()) -> np.ndarray:
        mask = self._mask_keydata().ndarray(module_gaps=module_gaps, roi=roi)
        if self._mask_bits is None:
            return mask != 0
        return (mask & self._mask_bits) != 0

    def ndarray(self, *, module_gaps: bool = False, roi=(), **kwargs) -> np.ndarray:
        """Read as :meth:`MultimodKeyData.ndarray`, masked pixels replaced."""
        # The boolean mask is smaller than the data: reading it first lowers peak memory.
        mask = self._load_mask(module_gaps, roi)
        data = super().ndarray(module_gaps=module_gaps, roi=roi, **kwargs)
        data[mask] = self._masked_value
        return data


class XtdfMaskedKeyData(DetectorMaskedKeyData, XtdfImageMultimodKeyData):
    """Masked XTDF image data; the mask follows the pulse selection."""

    def _mask_keydata(self) -> MultimodKeyData:
        return self.det[self._mask_key].select_pulses(self._pulse_sel)
