"""Component for JUNGFRAU detectors (JNGFR, JF1M, JF4M, JF500K...).

JUNGFRAU modules write one entry per train in the ``data`` group; the memory cells
(frames) of the train are the first axis of each entry, e.g. ``data.adc`` has entries of
shape ``(cells, 512, 1024)``. Modules are numbered from 1 (``first_modno`` in the source
names: ``SPB_IRDA_JF4M/DET/JNGFR01:daqOutput``, ``.../MODULE_1``, ``.../RECEIVER-1``, or
corrected ``.../CORR/JNGFR01:output``).

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import JUNGFRAU
>>> path = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="jungfrau",
...                 n_trains=3, n_modules=2, module_shape=(8, 4), memory_cells=2,
...                 slow_data=False)
>>> jf = JUNGFRAU(RunDirectory(path), raw=True)
>>> jf.modules, jf.get_array("data.adc").dims
([1, 2], ('module', 'train', 'cell', 'slow_scan', 'fast_scan'))
>>> jf.cell_ids().shape
(2,)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..exceptions import FileStructureError
from .base import MultimodDetectorBase
from .naming import identify_sources

if TYPE_CHECKING:
    import xarray as xr

    from ..readers.collection import DataCollection

__all__ = ["JUNGFRAU"]


def label_dims(arr: "xr.DataArray") -> "xr.DataArray":
    """Name JUNGFRAU's axes as for the XTDF detectors: ``train``, ``cell`` and pixels."""
    per_train = arr.ndim
    if "trainId" in arr.dims:
        arr = arr.rename({"trainId": "train"})
        per_train -= 1
    if per_train == 4:
        return arr.rename({"dim_0": "cell", "dim_1": "slow_scan", "dim_2": "fast_scan"})
    if per_train == 2:
        return arr.rename({"dim_0": "cell"})
    return arr


class JUNGFRAU(MultimodDetectorBase):
    """An interface to JUNGFRAU data, modules along the first axis.

    Parameters
    ----------
    data : DataCollection
        A collection, e.g. from :func:`~xfconvert.RunDirectory`.
    detector_name : str, optional
        e.g. ``'SPB_IRDA_JF4M'``; needed only if the data has several JUNGFRAU detectors.
    modules : iterable of int, optional
        Module numbers (as in the source names) to use (default: all).
    min_modules : int
        Keep only trains where at least this many modules have data.
    n_modules : int, optional
        Modules of the whole detector; default: up to the highest module number found.
    first_modno : int
        Number of the first module in the source names (default 1); modules are
        numbered from 1 from there.
    raw : bool, optional
        As for the other components: None prefers corrected data.

    Examples
    --------
    >>> jf = JUNGFRAU(run, n_modules=8)                          # doctest: +SKIP
    >>> jf.get_array('data.adc', roi=np.s_[0]).shape             # first memory cell  # doctest: +SKIP
    """

    _det_name_pat = r"[^/]+_(JNGFR|JF[14]M|JUNGF|JF|JF500K\d?)"
    _source_raw_pat = r"/DET/(MODULE_|RECEIVER-|JNGFR)(?P<modno>\d+)"
    _source_corr_pat = r"/CORR/(MODULE_|RECEIVER-|JNGFR)(?P<modno>\d+)"
    _main_data_key = "data.adc"
    _mask_data_key = "data.mask"
    _modnos_start_at = 1
    module_shape = (512, 1024)

    def __init__(self, data: "DataCollection", detector_name: str | None = None,
                 modules=None, *, min_modules: int = 1, n_modules: int | None = None,
                 first_modno: int = 1, raw: bool | None = None):
        super().__init__(data, detector_name, modules, min_modules=min_modules, raw=raw)
        self.first_modno = int(first_modno)
        shift = 1 - self.first_modno
        self.source_to_modno = {s: m + shift for s, m in self.source_to_modno.items()}
        self.modno_to_source = {m: s for s, m in self.source_to_modno.items()}
        if self._requested_modules is not None:
            self._requested_modules = [m + shift for m in self._requested_modules]
        if n_modules is not None:
            self.n_modules = int(n_modules)
        else:
            every = identify_sources(type(self), data, self.detector_name, raw=raw,
                                     stacklevel=3)
            self.n_modules = max(every.values()) + shift
        self._n_modules_arg = n_modules
        src = next(iter(self.source_to_modno))
        # Burst mode records up to 16 memory cells per train.
        self._frames_per_entry = self.data[src, self._main_data_key].entry_shape[0]

    def _init_kwargs(self) -> dict:
        return {**super()._init_kwargs(), "n_modules": self._n_modules_arg,
                "first_modno": self.first_modno}

    def get_array(self, key: str, *, fill_value=None, roi=(), astype=None,
                  module_gaps: bool = False) -> "xr.DataArray":
        """Read one key of every module, dims ``('module', 'train', 'cell', ...)``.

        Parameters
        ----------
        key : str
            e.g. ``'data.adc'``.
        fill_value : number, optional
            For missing modules and trains; default NaN (floats) or 0 (integers).
        roi : tuple
            Selection within each train's entry: cells first, then pixels, e.g.
            ``np.s_[:, 10:60, 100:200]``.
        astype : dtype, optional
            Output dtype; default the stored dtype.
        module_gaps : bool
            One row per module of the detector, missing modules filled.

        Examples
        --------
        >>> jf.get_array('data.adc', astype='float32').sel(module=1)  # doctest: +SKIP
        """
        import xarray as xr
        kd = self[key]
        arr = kd.ndarray(fill_value=fill_value, roi=roi, astype=astype, module_gaps=module_gaps)
        return label_dims(xr.DataArray(arr, dims=kd._dims(arr.ndim), coords={
            "module": self._gap_modules() if module_gaps else kd.modules,
            "trainId": kd.train_id_coordinates()}))

    def get_dask_array(self, key: str, fill_value=None, astype=None) -> "xr.DataArray":
        """A labelled lazy (dask) array of one key, laid out like :meth:`get_array`.

        Raises
        ------
        MissingDependencyError
            If dask is not installed.

        Examples
        --------
        >>> jf.get_dask_array('data.adc').mean('train').compute()  # doctest: +SKIP
        """
        return label_dims(self[key].dask_array(labelled=True, fill_value=fill_value,
                                               astype=astype))

    def trains(self, require_all: bool = True) -> Iterator[tuple[int, dict]]:
        """Iterate over trains, yielding ``(train_id, {key: DataArray})`` for every key,
        per-cell keys with dims ``('module', 'cell', ...)``.

        Parameters
        ----------
        require_all : bool
            Skip trains where any module lacks data.

        Examples
        --------
        >>> for tid, d in jf.trains():  # doctest: +SKIP
        ...     print(tid, d['data.adc'].shape)
        """
        from .trains import iter_trains
        for tid, data in iter_trains(self, None, require_all):
            yield tid, {k: label_dims(a) for k, a in data.items()}

    def cell_ids(self) -> np.ndarray:
        """Memory cell of each frame of a train (from the first train; every module
        must agree).

        Raises
        ------
        FileStructureError
            If modules disagree, or no module has ``data.memoryCell``.
        """
        missing = 255
        cells = self.select_trains(np.s_[:1])["data.memoryCell"].ndarray(
            fill_value=missing)[:, 0]
        least = cells.min(axis=0)
        src = next(iter(self.source_to_modno))
        if (least == missing).any():
            raise FileStructureError("?", "no memoryCell for some cells", src,
                                     "data.memoryCell")
        cells[cells == missing] = 0
        if (least != cells.max(axis=0)).any():
            raise FileStructureError("?", "memoryCell differs between modules", src,
                                     "data.memoryCell")
        return least
