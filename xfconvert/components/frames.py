"""Pulse selections over the frames of XTDF detectors.

The frames of a train follow one another along the frame axis, as each module recorded
them (every module with data in a train has the same number of frames in it). A pulse
selection keeps some of each train's frames: ``by_id[...]`` by pulse ID, ``by_index[...]``
(or a plain slice, int or list) by position within the train. Everything here is a
vectorised mask over all frames at once.

Examples
--------
>>> sel = check_pulse_selection(np.s_[1:])
>>> within = np.array([0, 1, 2, 0, 1, 2])            # two trains of three frames
>>> counts = np.array([3, 3, 3, 3, 3, 3])
>>> index_mask(sel, within, counts).astype(int).tolist()
[0, 1, 1, 0, 1, 1]
>>> id_mask(check_pulse_selection(ById([4, 8])), np.array([0, 4, 8, 0, 4, 8])).tolist()
[False, True, True, False, True, True]
"""
from __future__ import annotations

from typing import Union

import numpy as np

from ..exceptions import OptionError
from ..readers.selection import ById, ByIndex

__all__ = ["MAX_PULSES", "PulseSelection", "all_pulses", "check_pulse_selection",
           "id_mask", "index_mask", "is_all_pulses"]

#: Upper bound of pulse positions and IDs in a train (the open end of slices).
MAX_PULSES = 2700

PulseSelection = Union[ById, ByIndex]


def all_pulses() -> ByIndex:
    """The selection of every frame."""
    return ByIndex(slice(0, MAX_PULSES, 1))


def is_all_pulses(sel: PulseSelection) -> bool:
    return isinstance(sel, ByIndex) and isinstance(sel.value, slice) \
        and sel.value == slice(0, MAX_PULSES, 1)


def check_pulse_selection(pulses) -> PulseSelection:
    """Normalise a pulse selection: a slice with integer bounds, or an int64 array.

    Raises
    ------
    OptionError
        Non-integer slice bounds, a step below 1, or negative pulse IDs.
    """
    if not isinstance(pulses, (ById, ByIndex)):
        pulses = ByIndex(pulses)
    kind, value = type(pulses), pulses.value
    if isinstance(value, slice):
        start = 0 if value.start is None else value.start
        stop = MAX_PULSES if value.stop is None else value.stop
        step = 1 if value.step is None else value.step
        if not all(isinstance(v, (int, np.integer)) for v in (start, stop, step)):
            raise OptionError("A pulse selection slice must use integers or None, "
                              f"not {value!r}.")
        if step < 1:
            raise OptionError(f"A pulse selection slice must have a positive step: {value!r}.")
        if kind is ById and (start < 0 or stop < 0):
            raise OptionError(f"Pulse IDs cannot be negative: {value!r}.")
        return kind(slice(int(start), int(stop), int(step)))
    arr = np.atleast_1d(np.asarray(value))
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise OptionError(f"A pulse selection must hold integers, not {arr.dtype}.")
    arr = arr.astype(np.int64).ravel()
    if kind is ById and (arr < 0).any():
        raise OptionError(f"Pulse IDs cannot be negative: {arr[arr < 0][:4].tolist()}.")
    return kind(arr)


def index_mask(sel: ByIndex, within: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Frames whose position in their train (``within``, of ``counts``) is selected.

    Negative positions (slice bounds or list items) count from the end of each train.
    """
    value = sel.value
    if isinstance(value, slice):
        start, stop, step = value.start, value.stop, value.step
        start = np.where(start < 0, np.maximum(counts + start, 0), start)
        stop = np.where(stop < 0, counts + stop, stop)
        keep = (within >= start) & (within < stop)
        if step != 1:
            keep &= (within - start) % step == 0
        return keep
    keep = np.isin(within, value[value >= 0])
    if (value < 0).any():
        keep |= np.isin(within - counts, value[value < 0])
    return keep


def id_mask(sel: ById, ids: np.ndarray) -> np.ndarray:
    """Frames whose pulse ID (``ids``) is selected."""
    value = sel.value
    ids = ids.astype(np.int64)
    if isinstance(value, slice):
        keep = (ids >= value.start) & (ids < value.stop)
        if value.step != 1:
            keep &= (ids - value.start) % value.step == 0
        return keep
    return np.isin(ids, value)
