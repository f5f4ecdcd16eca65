"""Compare what xfconvert and EXtra-data return for the same call.

A call's result on each side is an :class:`Outcome` (a value or the exception raised).
:func:`assert_same` compares two outcomes: numpy arrays (dtype, shape, values), xarray
DataArrays (name, dims, coords, dtype, values), pandas Series/DataFrames (index,
columns, dtypes, values), dicts, sequences, scalars, and exceptions by the builtin
class EXtra-data users catch. Failures show both sides.
"""
from __future__ import annotations

import builtins
import inspect
import math
import types
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import xarray as xr

_BUILTIN_EXCEPTIONS = tuple(c for c in vars(builtins).values()
                            if isinstance(c, type) and issubclass(c, BaseException))


@dataclass
class Outcome:
    """The result of one call: ``value``, or ``error`` if it raised."""

    value: Any = None
    error: BaseException | None = None

    @classmethod
    def of(cls, fn: Callable[[], Any]) -> Outcome:
        try:
            return cls(value=materialise(fn()))
        except Exception as err:  # the exception is the outcome being compared
            return cls(error=err)

    def describe(self) -> str:
        if self.error is not None:
            return f"raised {type(self.error).__module__}.{type(self.error).__name__}: " \
                   f"{self.error}"
        return f"returned {short_repr(self.value)}"


def materialise(value: Any) -> Any:
    """Turn lazy results (generators, dask arrays) into plain values."""
    if inspect.isgenerator(value) or isinstance(value, (map, filter, types.GeneratorType)):
        return [materialise(v) for v in value]
    if type(value).__module__.startswith("dask"):
        return value.compute()
    if isinstance(value, xr.DataArray) and type(value.data).__module__.startswith("dask"):
        return value.compute()
    if isinstance(value, tuple):
        return tuple(materialise(v) for v in value)
    if isinstance(value, list):
        return [materialise(v) for v in value]
    if isinstance(value, dict):
        return {k: materialise(v) for k, v in value.items()}
    return value


def short_repr(value: Any, limit: int = 600) -> str:
    if isinstance(value, np.ndarray):
        text = f"ndarray(dtype={value.dtype}, shape={value.shape}) {np.array2string(value, threshold=20)}"
    elif isinstance(value, xr.DataArray):
        text = (f"DataArray(name={value.name!r}, dims={value.dims}, shape={value.shape}, "
                f"dtype={value.dtype}, coords={list(value.coords)})")
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def builtin_base(err: BaseException) -> type:
    """The most specific builtin exception class ``err`` is an instance of."""
    for cls in type(err).__mro__:
        if cls in _BUILTIN_EXCEPTIONS:
            return cls
    return BaseException


class Mismatch(AssertionError):
    """xfconvert and EXtra-data disagree."""


def assert_same(ours: Outcome, theirs: Outcome, call: str = "") -> None:
    """Fail with both sides shown unless the two outcomes agree."""
    if ours.error is not None or theirs.error is not None:
        if ours.error is None or theirs.error is None:
            raise Mismatch(f"{call}:\n  xfconvert  {ours.describe()}\n"
                           f"  extra_data {theirs.describe()}")
        expected = builtin_base(theirs.error)
        if not isinstance(ours.error, expected):
            raise Mismatch(f"{call}: exception classes differ (extra_data's is a "
                           f"{expected.__name__}):\n  xfconvert  {ours.describe()}\n"
                           f"  extra_data {theirs.describe()}")
        return
    problems = list(_diff(ours.value, theirs.value, "result"))
    if problems:
        shown = "\n    ".join(problems[:8])
        raise Mismatch(f"{call}: {len(problems)} difference(s)\n    {shown}\n"
                       f"  xfconvert  {ours.describe()}\n  extra_data {theirs.describe()}")


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return np.array_equal(a, b, equal_nan=True)
    if a.dtype.kind == "O" or b.dtype.kind == "O":
        return a.shape == b.shape and all(
            not list(_diff(x, y, "")) for x, y in zip(a.ravel(), b.ravel()))
    return np.array_equal(a, b)


def _diff(a: Any, b: Any, where: str):
    """Yield one line per difference between ``a`` (ours) and ``b`` (theirs)."""
    if isinstance(b, xr.DataArray):
        if not isinstance(a, xr.DataArray):
            yield f"{where}: type {type(a).__name__} vs DataArray"
            return
        if a.name != b.name:
            yield f"{where}.name: {a.name!r} vs {b.name!r}"
        if a.dims != b.dims:
            yield f"{where}.dims: {a.dims} vs {b.dims}"
            return
        if set(a.coords) != set(b.coords):
            yield f"{where}.coords: {sorted(map(str, a.coords))} vs {sorted(map(str, b.coords))}"
        for name in set(a.coords) & set(b.coords):
            ca, cb = a.coords[name], b.coords[name]
            if ca.dims != cb.dims:
                yield f"{where}.coords[{name!r}].dims: {ca.dims} vs {cb.dims}"
            else:
                yield from _diff(ca.values, cb.values, f"{where}.coords[{name!r}]")
        yield from _diff(a.values, b.values, f"{where}.values")
        return
    if isinstance(b, pd.DataFrame):
        if not isinstance(a, pd.DataFrame):
            yield f"{where}: type {type(a).__name__} vs DataFrame"
            return
        # EXtra-data orders columns by iterating over sets: compare them as a set.
        if set(a.columns) != set(b.columns):
            yield f"{where}.columns: {sorted(a.columns)} vs {sorted(b.columns)}"
        yield from _diff_index(a.index, b.index, f"{where}.index")
        for col in [c for c in b.columns if c in a.columns]:
            yield from _diff(a[col], b[col], f"{where}[{col!r}]")
        return
    if isinstance(b, pd.Series):
        if not isinstance(a, pd.Series):
            yield f"{where}: type {type(a).__name__} vs Series"
            return
        if a.name != b.name:
            yield f"{where}.name: {a.name!r} vs {b.name!r}"
        yield from _diff_index(a.index, b.index, f"{where}.index")
        yield from _diff(a.to_numpy(), b.to_numpy(), f"{where}.values")
        return
    if isinstance(b, pd.Index):
        yield from _diff_index(a, b, where)
        return
    if isinstance(b, np.ndarray):
        if not isinstance(a, np.ndarray):
            yield f"{where}: type {type(a).__name__} vs ndarray"
            return
        if a.dtype != b.dtype:
            yield f"{where}.dtype: {a.dtype} vs {b.dtype}"
        if a.shape != b.shape:
            yield f"{where}.shape: {a.shape} vs {b.shape}"
        elif not _same_array(a, b):
            bad = np.flatnonzero(~_equal_mask(a, b)) if a.dtype.kind != "O" else []
            yield f"{where}: values differ ({len(bad)} of {a.size} elements)"
        return
    if isinstance(b, dict):
        if not isinstance(a, dict):
            yield f"{where}: type {type(a).__name__} vs dict"
            return
        if set(a) != set(b):
            yield (f"{where}: keys only in xfconvert {sorted(map(str, set(a) - set(b)))}, "
                   f"only in extra_data {sorted(map(str, set(b) - set(a)))}")
        for k in [k for k in b if k in a]:
            yield from _diff(a[k], b[k], f"{where}[{k!r}]")
        return
    if isinstance(b, (frozenset, set)):
        if not isinstance(a, (frozenset, set)) or set(a) != set(b):
            yield f"{where}: {short_repr(a, 200)} vs {short_repr(b, 200)}"
        return
    if isinstance(b, (list, tuple)):
        if not isinstance(a, (list, tuple)):
            yield f"{where}: type {type(a).__name__} vs {type(b).__name__}"
            return
        if len(a) != len(b):
            yield f"{where}: length {len(a)} vs {len(b)}"
            return
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _diff(x, y, f"{where}[{i}]")
        return
    if isinstance(b, np.generic):
        if not isinstance(a, (np.generic, int, float, bool)) or np.asarray(a).dtype != b.dtype:
            yield f"{where}: {type(a).__name__} {a!r} vs {type(b).__name__} {b!r}"
        elif not _same_array(np.asarray(a), np.asarray(b)):
            yield f"{where}: {a!r} vs {b!r}"
        return
    if isinstance(b, float) and isinstance(a, (float, np.floating)):
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            yield f"{where}: {a!r} vs {b!r}"
        return
    if type(a) is not type(b) and not (isinstance(a, type(b)) or isinstance(b, type(a))):
        yield f"{where}: {type(a).__name__} {short_repr(a, 200)} vs {type(b).__name__} {short_repr(b, 200)}"
        return
    if a != b:
        yield f"{where}: {short_repr(a, 200)} vs {short_repr(b, 200)}"


def _equal_mask(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    eq = np.asarray(a == b).ravel()
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        eq |= (np.isnan(a) & np.isnan(b)).ravel()
    return eq


def _diff_index(a: Any, b: pd.Index, where: str):
    if not isinstance(a, pd.Index):
        yield f"{where}: type {type(a).__name__} vs {type(b).__name__}"
        return
    if list(a.names) != list(b.names):
        yield f"{where}.names: {list(a.names)} vs {list(b.names)}"
    if isinstance(b, pd.MultiIndex) != isinstance(a, pd.MultiIndex):
        yield f"{where}: {type(a).__name__} vs {type(b).__name__}"
        return
    if isinstance(b, pd.MultiIndex):
        for level in range(b.nlevels):
            yield from _diff(a.get_level_values(level).to_numpy(),
                             b.get_level_values(level).to_numpy(), f"{where}.level{level}")
    else:
        yield from _diff(a.to_numpy(), b.to_numpy(), f"{where}.values")
