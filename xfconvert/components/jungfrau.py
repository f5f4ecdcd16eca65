"""Component for JUNGFRAU detectors (JNGFR, JF1M, JF4M...).

JUNGFRAU modules write one entry per train in the ``data`` group; the memory cells
(frames) of the train are the first axis of each entry, e.g. ``data.adc`` has entries of
shape ``(cells, 512, 1024)``. Modules are numbered from 1 in the source names
(``SPB_IRDA_JF4M/DET/JNGFR01:daqOutput``).

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import JUNGFRAU
>>> path = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="jungfrau",
...                 n_trains=3, n_modules=2, module_shape=(8, 4), memory_cells=2,
...                 slow_data=False)
>>> jf = JUNGFRAU(RunDirectory(path))
>>> jf.modules, jf.get_array("data.adc").dims
([1, 2], ('module', 'train', 'cell', 'slow_scan', 'fast_scan'))
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator

from .base import (MultimodDetectorBase, TrainBlock, extra_dim_names, find_detector_modules,
                   iter_train_blocks)

if TYPE_CHECKING:
    import xarray as xr

    from ..readers.collection import DataCollection

__all__ = ["JUNGFRAU"]


class JUNGFRAU(MultimodDetectorBase):
    """An interface to JUNGFRAU data, modules along the first axis.

    Parameters
    ----------
    data : DataCollection
        A collection, e.g. from :func:`~xfconvert.RunDirectory`.
    detector_name : str, optional
        e.g. ``'SPB_IRDA_JF4M'``; needed only if the data has several JUNGFRAU detectors.
    modules : iterable of int, optional
        Module numbers to use (default: all).
    min_modules : int
        Keep only trains where at least this many modules have data.
    n_modules : int, optional
        Modules of the whole detector; default: up to the highest module number found.
    first_modno : int
        Module number of the first module in the source names (default 1).

    Examples
    --------
    >>> jf = JUNGFRAU(run, n_modules=8)                          # doctest: +SKIP
    >>> jf.get_array('data.adc', roi=np.s_[0]).shape             # first memory cell  # doctest: +SKIP
    """

    _source_re = re.compile(r"^(?P<name>.+)/DET/JNGFR(?P<modno>\d+):daqOutput$")
    _main_key = "data.adc"
    _extra_options = ("n_modules", "first_modno")

    def __init__(self, data: "DataCollection", detector_name: str | None = None,
                 modules=None, *, min_modules: int = 1, n_modules: int | None = None,
                 first_modno: int = 1):
        self.first_modno = first_modno
        if n_modules is None:
            name = self._find_detector_name(data, detector_name)
            found = self._modules_found(data, name)
            n_modules = max(found) - first_modno + 1
        self.n_modules = n_modules
        super().__init__(data, detector_name, modules, min_modules=min_modules)

    @classmethod
    def _modules_found(cls, data: "DataCollection", name: str) -> list[int]:
        return list(find_detector_modules(data.instrument_sources, cls._source_re)[name])

    @property
    def frames_per_train(self) -> int:
        """Memory cells stored per train."""
        src = next(iter(self._modno_to_source.values()))
        return self.data[src, self._main_key].entry_shape[0]

    def _dims(self, key: str, roi=()) -> list[str]:
        src = next(iter(self._modno_to_source.values()))
        entry_shape = self.data[src, key].entry_shape
        # Per-cell keys (adc, gain, memoryCell...) have the cells as their first axis.
        leading = ["cell"] if entry_shape and entry_shape[0] == self.frames_per_train else []
        return extra_dim_names(entry_shape, leading, roi=roi)

    def get_array(self, key: str, *, fill_value=None, roi=(), astype=None) -> "xr.DataArray":
        """Read one key of every module into an array with dims ``('module', 'train',
        'cell', ...)``.

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

        Examples
        --------
        >>> jf.get_array('data.adc', astype='float32').sel(module=1)  # doctest: +SKIP
        """
        import xarray as xr
        data = self._per_train_layout(key).read(fill_value=fill_value, roi=roi, astype=astype)
        return xr.DataArray(data, dims=["module", "train", *self._dims(key, roi)], name=key,
                            coords={"module": self.module_axis, "train": self.train_id_array})

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
        import xarray as xr
        data = self._per_train_layout(key).dask_array(fill_value=fill_value, astype=astype)
        return xr.DataArray(data, dims=["module", "train", *self._dims(key)], name=key,
                            coords={"module": self.module_axis, "train": self.train_id_array})

    def _read_train_block(self, part: "JUNGFRAU", keys) -> TrainBlock:
        arrays = {k: (part._per_train_layout(k).read(), self._dims(k)) for k in keys}
        return TrainBlock(arrays, part.train_id_array, None, {})

    def trains(self, require_all: bool = True) -> Iterator[tuple[int, dict]]:
        """Iterate over trains, yielding ``(train_id, {key: DataArray})`` for every
        ``data.*`` key, with dims ``('module', 'cell', ...)``.

        Parameters
        ----------
        require_all : bool
            Skip trains where any of the detector's modules with data lack data.

        Examples
        --------
        >>> for tid, d in jf.trains():  # doctest: +SKIP
        ...     print(tid, d['data.adc'].shape)
        """
        src = next(iter(self._modno_to_source.values()))
        keys = sorted(k for k in self.data[src].keys() if k.startswith("data."))
        yield from iter_train_blocks(self, keys, self._read_train_block, require_all)
