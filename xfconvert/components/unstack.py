"""Frames labelled (train, pulse) turned into separate train and pulse axes.

When every train holds the same pulses, in order (the usual case), the frame axis is
simply reshaped: no copy. Otherwise xarray's ``unstack`` places the frames and fills the
missing (train, pulse) pairs with NaN, promoting integer data to float.

Examples
--------
>>> import pandas as pd
>>> index = pd.MultiIndex.from_arrays([[7, 7, 8, 8], [0, 4, 0, 4]], names=["train", "pulse"])
>>> arr = unstacked(np.arange(8).reshape(2, 4), index, [0, 3], [])
>>> arr.dims, arr.shape, arr.sel(module=3, train=8).values.tolist()
(('module', 'train', 'pulse'), (2, 2, 2), [6, 7])
>>> gappy = pd.MultiIndex.from_arrays([[7, 7, 8], [0, 4, 4]], names=["train", "pulse"])
>>> unstacked(np.arange(3).reshape(1, 3), gappy, [0], []).values.tolist()
[[[0.0, 1.0], [nan, 2.0]]]
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["unstacked"]


def _is_full_product(index: "pd.MultiIndex") -> bool:
    sizes = [len(level) for level in index.levels]
    if len(index) != math.prod(sizes):
        return False
    flat = np.ravel_multi_index([np.asarray(c) for c in index.codes], sizes)
    return bool((flat == np.arange(len(index))).all())


def unstacked(arr, index: "pd.MultiIndex", modules: Sequence[int],
              inner_dims: Sequence[str]) -> "xr.DataArray":
    """``arr`` of shape ``(modules, frames, ...)`` with the frame axis split by the
    levels of ``index`` (one entry per frame) into dims ``('module', *levels, ...)``."""
    import xarray as xr
    names = list(index.names)
    if _is_full_product(index):
        sizes = tuple(len(level) for level in index.levels)
        data = arr.reshape(arr.shape[:1] + sizes + arr.shape[2:])
        coords = {name: level.values for name, level in zip(names, index.levels)}
        coords["module"] = list(modules)
        return xr.DataArray(data, dims=["module", *names, *inner_dims], coords=coords)
    coords = xr.Coordinates.from_pandas_multiindex(index, "train_pulse")
    stacked = xr.DataArray(arr, dims=["module", "train_pulse", *inner_dims], coords=coords)
    stacked = stacked.assign_coords(module=list(modules))
    return stacked.unstack("train_pulse").transpose("module", *names, *inner_dims)
