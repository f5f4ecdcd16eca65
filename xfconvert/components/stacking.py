"""Stack the modules of one train's detector data into one array.

For data of a single train (a dict ``{source: {key: array}}``, as train iterators give
it), :func:`stack_detector_data` puts each module's array at its module number along a
new axis, filling missing modules. With ``real_array=False`` it returns a
:class:`StackView` that indexes the module arrays without copying them.

Examples
--------
>>> import numpy as np
>>> train = {f"SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf": {"image.data": np.full((3, 4, 2), m)}
...          for m in (0, 2)}
>>> stack_detector_data(train, "image.data", modules=4, fillvalue=-1)[0, :, 0, 0]
array([ 0, -1,  2, -1])
"""
from __future__ import annotations

import re
from typing import Mapping

import numpy as np

from ..exceptions import NoDataError, OptionError
from .layout import default_fill_value

__all__ = ["StackView", "stack_detector_data"]


class StackView:
    """An array-like stack of module arrays that copies nothing until indexed.

    Supports ``shape``, ``dtype``, ``ndim``, basic indexing (ints, slices, Ellipsis;
    lists of ints on the module axis) and :meth:`asarray`. Missing modules read as the
    fill value.

    Parameters
    ----------
    data : dict
        module index (0-based) -> array; all arrays have the same shape and dtype.
    nmodules : int
        Length of the module axis.
    mod_shape : tuple of int
        Shape of each module array.
    dtype : numpy.dtype
    fillvalue : number
    stack_axis : int
        Position of the module axis in the stacked shape (negative counts from the end).

    Examples
    --------
    >>> v = StackView({0: np.ones((2, 3))}, 2, (2, 3), np.dtype(float), np.nan, -3)
    >>> v.shape, v[:, 1].tolist()
    ((2, 2, 3), [[1.0, 1.0, 1.0], [nan, nan, nan]])
    """

    def __init__(self, data: Mapping[int, np.ndarray], nmodules: int, mod_shape: tuple,
                 dtype: np.dtype, fillvalue, stack_axis: int = -3):
        self._data = dict(data)
        self.nmodules = nmodules
        self.mod_shape = tuple(mod_shape)
        self.dtype = np.dtype(dtype)
        self.fillvalue = fillvalue
        ndim = len(self.mod_shape) + 1
        if not -ndim <= stack_axis < ndim:
            raise OptionError(f"axis {stack_axis} out of range for {ndim}-D stacked data.")
        self._axis = stack_axis % ndim

    @property
    def shape(self) -> tuple[int, ...]:
        s = list(self.mod_shape)
        s.insert(self._axis, self.nmodules)
        return tuple(s)

    @property
    def ndim(self) -> int:
        return len(self.mod_shape) + 1

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"<StackView shape={self.shape} dtype={self.dtype} "
                f"modules present: {sorted(self._data)}>")

    def _module(self, m: int, rest: tuple) -> np.ndarray:
        if m in self._data:
            return np.asarray(self._data[m][rest])
        part = np.broadcast_to(np.array(self.fillvalue, dtype=self.dtype), self.mod_shape)[rest]
        return np.array(part)

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if sum(k is Ellipsis for k in key) > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        if Ellipsis in key:
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - len(key) + 1) + key[i + 1:]
        if len(key) > self.ndim:
            raise IndexError(f"too many indices for a {self.ndim}-D StackView")
        key = key + (slice(None),) * (self.ndim - len(key))
        mod_key, rest = key[self._axis], key[:self._axis] + key[self._axis + 1:]
        if isinstance(mod_key, (int, np.integer)):
            m = int(mod_key)
            if not -self.nmodules <= m < self.nmodules:
                raise IndexError(f"module {m} out of range for {self.nmodules} modules")
            return self._module(m % self.nmodules, rest)
        modules = np.arange(self.nmodules)[mod_key]
        parts = [self._module(int(m), rest) for m in modules]
        # Axes before the module axis that an int removed no longer exist in the result.
        out_axis = sum(not isinstance(k, (int, np.integer)) for k in key[:self._axis])
        if parts:
            return np.stack(parts, axis=out_axis)
        empty = self._module(0, rest)[np.newaxis][:0]
        return np.moveaxis(empty, 0, out_axis)

    def asarray(self) -> np.ndarray:
        """Copy the data into a real numpy array."""
        return self[...]

    def squeeze(self, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
        """The data without length-1 axes (all of them, or ``axis``), as
        :func:`numpy.squeeze`.

        Examples
        --------
        >>> v = StackView({0: np.ones((1, 3))}, 1, (1, 3), np.dtype(float), np.nan, 0)
        >>> v.shape, v.squeeze().shape, v.squeeze(0).shape
        ((1, 1, 3), (3,), (1, 3))
        """
        if axis is None:
            axes = [i for i, n in enumerate(self.shape) if n == 1]
        else:
            axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
        index = [slice(None)] * self.ndim
        for ax in axes:
            if not -self.ndim <= ax < self.ndim:
                raise np.exceptions.AxisError(ax, self.ndim)
            if self.shape[ax] != 1:
                raise OptionError(f"cannot squeeze axis {ax} of length {self.shape[ax]}.")
            index[ax] = 0
        return self[tuple(index)]

    def __array__(self, dtype=None, copy=None):
        arr = self.asarray()
        return arr if dtype is None else arr.astype(dtype)


def stack_detector_data(train: Mapping[str, Mapping], data: str, axis: int = -3,
                        modules: int = 16, fillvalue=None, real_array: bool = True, *,
                        pattern: str = r"/DET/(\d+)CH", starts_at: int = 0
                        ) -> "np.ndarray | StackView":
    """Stack one key of every detector module in a train's data.

    Parameters
    ----------
    train : dict
        ``{source: {key: array}}`` for one train.
    data : str
        The key to stack, e.g. ``'image.data'``.
    axis : int
        Position of the new module axis in the result (default -3: before the pixels).
    modules : int
        Number of modules of the detector (length of the module axis).
    fillvalue : number, optional
        For missing modules; default NaN for floats, 0 for integers.
    real_array : bool
        True: copy into a numpy array. False: return a :class:`StackView`.
    pattern : str
        Regex with one group giving the module number in a source name, e.g.
        ``r'/DET/JNGFR(\\d+)'`` for JUNGFRAU.
    starts_at : int
        Module number of the first module (e.g. 1 for JUNGFRAU).

    Returns
    -------
    numpy.ndarray or StackView

    Raises
    ------
    NoDataError
        If no source matching ``pattern`` has ``data``.
    OptionError
        If module arrays differ in shape or dtype, or a module number is out of range.

    Examples
    --------
    >>> tid, train = next(run.trains())                        # doctest: +SKIP
    >>> stacked = stack_detector_data(train, 'image.data')     # (pulses, 16, ...)  # doctest: +SKIP
    """
    rx = re.compile(pattern)
    arrays: dict[int, np.ndarray] = {}
    for source, source_data in train.items():
        match = rx.search(source)
        if match is None or data not in source_data:
            continue
        modno = int(match.group(1)) - starts_at
        if not 0 <= modno < modules:
            raise OptionError(f"Module number {modno + starts_at} of {source} is outside "
                              f"{starts_at}..{starts_at + modules - 1}; check modules= "
                              "and starts_at=.")
        arrays[modno] = np.asarray(source_data[data])
    if not arrays:
        raise NoDataError(f"No detector module sources matching {pattern!r} with key "
                          f"{data!r} in this train.")
    shapes = {a.shape for a in arrays.values()}
    dtypes = {a.dtype for a in arrays.values()}
    if len(shapes) > 1 or len(dtypes) > 1:
        found = {m: (a.shape, str(a.dtype)) for m, a in sorted(arrays.items())}
        raise OptionError(f"Modules have different shapes or dtypes for {data}: {found}")
    mod_shape, dtype = shapes.pop(), dtypes.pop()
    fill = default_fill_value(dtype, fillvalue)
    view = StackView(arrays, modules, mod_shape, dtype, fill, axis)
    return view.asarray() if real_array else view
