"""Reducing a key to the one value it holds (``KeyData.as_single_value``).

Numbers are reduced (median by default, any numpy function by name, ``'first'``, or a
callable) and every entry must lie within ``rtol``/``atol`` of the result, as in
``numpy.allclose``. Other data (strings) must have exactly one distinct value.

Examples
--------
>>> import numpy as np
>>> float(single_value(np.array([1.0, 1.000001, 0.999999]), "src", "key"))
1.0
>>> single_value(np.array(["ON", "ON"], dtype=object), "src", "key")
'ON'
"""
from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np

from ..exceptions import NoDataError, OptionError

__all__ = ["single_value", "Reduction"]

Reduction = Union[str, Callable[[np.ndarray], Any], None]


def _reduce(data: np.ndarray, reduce_by: Reduction) -> Any:
    if callable(reduce_by):
        return reduce_by(data)
    if reduce_by == "first":
        return data[0]
    func = getattr(np, reduce_by, None) if isinstance(reduce_by, str) else None
    if not callable(func):
        raise OptionError(f"reduce_by={reduce_by!r}: give a callable, the name of a numpy "
                          "function (e.g. 'median', 'mean') or 'first'.")
    return func(data, axis=0)


def single_value(data: np.ndarray, source: str, key: str, rtol: float = 1e-5,
                 atol: float = 0.0, reduce_by: Reduction = None) -> Any:
    """The single value of ``data`` (entries on the first axis) within tolerances.

    Raises
    ------
    NoDataError
        If there are no entries.
    OptionError
        If the values are not all within tolerance (numbers) or not all equal (others),
        or ``reduce_by`` is not usable (given for non-numeric data, or unknown).
    """
    if data.shape[0] == 0:
        raise NoDataError(f"No data for {source} {key} in the selected trains.")
    if not np.issubdtype(data.dtype, np.number):
        if reduce_by is not None:
            raise OptionError(f"{source} {key} holds {data.dtype} data; reduce_by applies "
                              "to numbers only.")
        unique = np.unique(data, axis=None)
        if len(unique) > 1:
            raise OptionError(f"{source} {key} has more than one value: {_few(unique)}.")
        return unique[0]
    value = _reduce(data, "median" if reduce_by is None else reduce_by)
    if not np.allclose(data, value, rtol=rtol, atol=atol):
        with np.errstate(divide="ignore", invalid="ignore"):
            adev = np.max(np.abs(data - value))
            rdev = np.max(np.abs(adev / value))
        raise OptionError(f"{source} {key} has values beyond the tolerance (rtol={rtol}, "
                          f"atol={atol}) of one value: absolute deviation up to {adev:.3g}, "
                          f"relative {rdev:.3g}.")
    return value


def _few(values: np.ndarray) -> str:
    text = ", ".join(repr(v) for v in values[:5].tolist())
    return text + (f" ... ({len(values)} in all)" if len(values) > 5 else "")
