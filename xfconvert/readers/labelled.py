"""Labelled arrays of one key: dimension names and coordinates for ``KeyData.xarray``.

The first dimension is always ``trainId``. The others are ``dim_0, dim_1, ...`` unless
named; when they are named, or when ``extra_coords=True``, each gets a coordinate with
the positions that the region of interest picked (an integer in the roi leaves a scalar
coordinate instead of a dimension). A dict of coordinates is used as given.

Examples
--------
>>> import numpy as np
>>> roi_coordinates((4, 6), np.s_[1, 2:5])
[1, array([2, 3, 4])]
>>> entry_labels((4, 6), np.s_[1, 2:5], ["row", "col"], None)
(['col'], {'row': 1, 'col': array([2, 3, 4])})
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..exceptions import OptionError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["roi_coordinates", "entry_labels", "make_xarray"]


def _expand_ellipsis(n_dims: int, roi: tuple) -> tuple:
    if any(r is Ellipsis for r in roi):
        i = next(i for i, r in enumerate(roi) if r is Ellipsis)
        fill = max(0, n_dims - len(roi) + 1)
        roi = roi[:i] + (slice(None),) * fill + roi[i + 1:]
    return roi + (slice(None),) * (n_dims - len(roi))


def roi_coordinates(entry_shape: tuple[int, ...], roi: tuple) -> list[Any]:
    """For each entry dimension, the positions ``roi`` selects (an int for an int index).

    Slices, integers, integer lists/arrays (negative counted from the end), boolean
    masks and ``...`` are understood.
    """
    if not isinstance(roi, tuple):
        roi = (roi,)
    result: list[Any] = []
    for idx, size in zip(_expand_ellipsis(len(entry_shape), roi), entry_shape):
        if isinstance(idx, slice):
            result.append(np.arange(*idx.indices(size)))
        elif isinstance(idx, (int, np.integer)) and not isinstance(idx, (bool, np.bool_)):
            result.append(int(idx) + size if idx < 0 else int(idx))
        else:
            arr = np.asarray(idx)
            if arr.dtype == bool:
                if arr.shape != (size,):
                    raise OptionError(f"Boolean roi of length {arr.size} for a dimension "
                                      f"of size {size}.")
                result.append(np.flatnonzero(arr))
            elif arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
                result.append(np.where(arr < 0, arr + size, arr))
            else:
                raise OptionError(f"Unsupported roi index {idx!r}.")
    return result


def entry_labels(entry_shape: tuple[int, ...], roi: tuple,
                 extra_dims: Sequence[str] | None,
                 extra_coords: bool | dict | None) -> tuple[list[str], dict[str, Any]]:
    """Dimension names after ``trainId`` and the coordinates that go with them.

    With a dict of ``extra_coords``, ``extra_dims`` names the dimensions of the result;
    when coordinates are generated, it names every entry dimension (those an integer roi
    removes become scalar coordinates).
    """
    if not isinstance(roi, tuple):
        roi = (roi,)
    n_out = len(np.empty(entry_shape, dtype=np.bool_)[roi].shape) if roi else len(entry_shape)
    if isinstance(extra_coords, dict):
        dims = list(extra_dims) if extra_dims is not None else [f"dim_{i}" for i in range(n_out)]
        if len(dims) != n_out:
            raise OptionError(f"extra_dims has {len(dims)} names but the data has {n_out} "
                              "dimensions after the first.")
        return dims, dict(extra_coords)
    if not extra_coords and extra_dims is None:
        return [f"dim_{i}" for i in range(n_out)], {}
    names = list(extra_dims) if extra_dims is not None else \
        [f"dim_{i}" for i in range(len(entry_shape))]
    if len(names) != len(entry_shape):
        raise OptionError(f"extra_dims has {len(names)} names but entries have "
                          f"{len(entry_shape)} dimensions.")
    dims, coords = [], {}
    for name, coord in zip(names, roi_coordinates(entry_shape, roi)):
        coords[name] = coord
        if not isinstance(coord, int):
            dims.append(name)
    return dims, coords


def make_xarray(data: np.ndarray, train_ids: np.ndarray, dims: list[str],
                coords: dict[str, Any], name: str, attrs: dict[str, Any]
                ) -> "xr.DataArray | xr.Dataset":
    """A DataArray, or a Dataset with one variable per field for structured data."""
    import xarray as xr
    all_dims = ["trainId", *dims]
    all_coords = {"trainId": train_ids, **coords}
    if data.dtype.names is not None:
        return xr.Dataset({field: (all_dims, data[field]) for field in data.dtype.names},
                          coords=all_coords, attrs=attrs)
    return xr.DataArray(data, dims=all_dims, coords=all_coords, name=name, attrs=attrs)
