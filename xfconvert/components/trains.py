"""Train-by-train iteration over a detector component: ``det.trains()``.

Data is read in blocks of whole trains (each block one read per module and key, as
``det[key].ndarray()`` reads), then cut into trains, so memory stays bounded and the
number of HDF5 calls does not grow with the number of trains.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import AGIPD1M
>>> path = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="agipd", n_trains=3,
...                 n_modules=2, module_shape=(8, 4), slow_data=False)
>>> det = AGIPD1M(RunDirectory(path), raw=True)
>>> tid, data = next(det.trains(pulses=np.s_[:2]))
>>> tid, data["image.data"].dims, data["image.data"].shape
(10000, ('module', 'train', 'pulse', 'data_gain', 'slow_scan', 'fast_scan'), (2, 1, 2, 2, 8, 4))
>>> data["header.pulseCount"].dims
('module',)
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..exceptions import OptionError
from .frames import check_pulse_selection
from .keydata import XtdfImageMultimodKeyData
from .unstack import unstacked

if TYPE_CHECKING:
    from .base import MultimodDetectorBase

__all__ = ["iter_trains"]

# Target size of one block of trains read at once (all keys, all modules).
_BLOCK_BYTES = 256 << 20


def _complete(det: "MultimodDetectorBase") -> np.ndarray:
    """Per train: every module has data in every one of its index groups."""
    ok = np.ones(len(det.train_id_array), dtype=bool)
    for src in det.source_to_modno:
        sd = det.data[src]
        groups: dict[str, str] = {}
        for key in sorted(sd.keys()):
            groups.setdefault(key.partition(".")[0], key)
        for key in groups.values():
            ok &= det.data[src, key].data_counts(labelled=False) > 0
    return ok


def _block_size(det: "MultimodDetectorBase", keys: list[str]) -> int:
    src = next(iter(det.source_to_modno))
    per_entry = sum(math.prod(det.data[src, k].entry_shape) * det.data[src, k].dtype.itemsize
                    for k in keys)
    per_train = max(1, per_entry * len(det.source_to_modno) * max(1, int(det._fc.max())))
    return max(1, _BLOCK_BYTES // per_train)


class _Block:
    """Every key of a block of trains, read at once, cut into trains on request."""

    def __init__(self, part: "MultimodDetectorBase", keys: list[str], pulses):
        import xarray as xr
        self._xr = xr
        self.part = part
        self.modules = np.array(sorted(part.modno_to_source))
        self.tids = part.train_id_array
        self.arrays = {}
        self.frame_bounds = None
        for key in keys:
            kd = part[key]
            if isinstance(kd, XtdfImageMultimodKeyData):
                kd = kd.select_pulses(pulses)
                if self.frame_bounds is None:
                    self._frames(kd)
                self.arrays[key] = ("image", kd.ndarray(), kd._dims(kd.ndim)[2:])
            else:
                try:
                    self.arrays[key] = ("train", kd.ndarray(), None)
                except OptionError:  # several entries per train: read them per train
                    self.arrays[key] = ("entries", kd, None)
        self.has = part._counts > 0  # (modules, trains)

    def _frames(self, kd: XtdfImageMultimodKeyData) -> None:
        ftids = kd.train_id_coordinates()
        self.frame_bounds = (np.searchsorted(ftids, self.tids, side="left"),
                             np.searchsorted(ftids, self.tids, side="right"))
        self.index = kd._frame_index("pulseId")
        self.inner = self.index.get_level_values(-1).values
        self.inner_name = self.index.names[-1]
        self.plain = self.index.nlevels == 2

    def train(self, i: int) -> dict:
        xr = self._xr
        has = self.has[:, i]
        # A slice when every module has data keeps the train's arrays views, not copies.
        rows = slice(None) if has.all() else np.flatnonzero(has)
        mods = self.modules[rows].tolist()
        # One Coordinates object shared by every key: building indexes per key would
        # cost more than the arrays themselves.
        mod_coords = xr.Coordinates({"module": mods})
        frame_coords = None
        out = {}
        for key, (kind, data, dims) in self.arrays.items():
            if kind == "image":
                if frame_coords is None:
                    frame_coords = self._frame_coords(i, mods)
                out[key] = self._image(data, rows, i, mods, dims, frame_coords)
            elif kind == "train":
                values = data[rows, i]
                out[key] = xr.DataArray(
                    values, dims=["module"] + [f"dim_{j}" for j in range(values.ndim - 1)],
                    coords=mod_coords)
            else:
                out[key] = self._entries(data, mods, int(self.tids[i]))
        return out

    def _bounds(self, i: int) -> tuple[int, int]:
        return int(self.frame_bounds[0][i]), int(self.frame_bounds[1][i])

    def _frame_coords(self, i: int, mods: list[int]):
        """Coordinates of train ``i``'s frames, or None if they do not form one
        (train, pulse) row in pulse order."""
        a, b = self._bounds(i)
        inner = self.inner[a:b]
        if self.plain and (inner.size < 2 or (np.diff(inner.astype(np.int64)) > 0).all()):
            return self._xr.Coordinates({"module": mods, "train": self.tids[i:i + 1],
                                         self.inner_name: inner})
        return False

    def _image(self, data: np.ndarray, rows, i: int, mods: list[int], dims: list[str],
               coords):
        a, b = self._bounds(i)
        frames = data[:, a:b][rows]
        if coords is not False:
            # One train, pulses in order: the frame axis is (train=1, pulse).
            return self._xr.DataArray(
                frames.reshape((frames.shape[0], 1, b - a) + frames.shape[2:]),
                dims=["module", "train", self.inner_name, *dims], coords=coords)
        return unstacked(frames, self.index[a:b].remove_unused_levels(), mods, dims)

    def _entries(self, kd, mods: list[int], tid: int):
        xr = self._xr
        values = [kd.modno_to_keydata[m].train_from_id(tid)[1] for m in mods]
        arr = np.stack(values)
        return xr.DataArray(arr, dims=["module"] + [f"dim_{j}" for j in range(arr.ndim - 1)],
                            coords={"module": mods})


def iter_trains(det: "MultimodDetectorBase", pulses, require_all: bool
                ) -> Iterator[tuple[int, dict]]:
    """Yield ``(train_id, {key: DataArray})`` for every train of ``det``.

    ``pulses`` selects frames of image keys (XTDF detectors; None for JUNGFRAU).
    """
    if not len(det.train_id_array):
        return
    pulses = check_pulse_selection(np.s_[:] if pulses is None else pulses)
    src = next(iter(det.source_to_modno))
    keys = sorted(det.data[src].keys())
    keys = [k for k in keys if k in det]
    complete = _complete(det) if require_all else None
    per_block = _block_size(det, keys)
    for start in range(0, len(det.train_id_array), per_block):
        sl = slice(start, start + per_block)
        if complete is not None and not complete[sl].any():
            continue
        block = _Block(det.select_trains(sl), keys, pulses)
        for i, tid in enumerate(block.tids.tolist()):
            if complete is not None and not complete[start + i]:
                continue
            yield int(tid), block.train(i)
