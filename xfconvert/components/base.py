"""The detector object shared by every multi-module detector component.

A multi-module detector (AGIPD, LPD, DSSC, JUNGFRAU) stores each module as a separate
source. :class:`MultimodDetectorBase` finds the module sources (raw or corrected, see
:mod:`.naming`), keeps the trains where at least ``min_modules`` modules have data, and
gives one key of every module with ``det[key]`` (:mod:`.keydata`). Within a train every
module with data holds the same number of entries of the main key: these are the
detector's ``frame_counts``.

Per-detector facts (name patterns, number of modules, main data key) are class
constants of the subclasses in :mod:`.xtdf` and :mod:`.jungfrau`.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import AGIPD1M
>>> path = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="agipd", n_trains=3,
...                 n_modules=2, module_shape=(8, 4), slow_data=False)
>>> det = AGIPD1M(RunDirectory(path), raw=True)
>>> det
<AGIPD1M: Data interface for detector 'SPB_DET_AGIPD1M-1' - raw data with 2 modules>
>>> det["image.data"].shape  # 2 modules, 3 trains x 4 frames, (data/gain, ss, fs)
(2, 12, 2, 8, 4)
>>> det.frame_counts.tolist()
[4, 4, 4]
"""
from __future__ import annotations

import copy
import logging
import math
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import numpy as np

from ..exceptions import FileStructureError, NoDataError, OptionError, PropertyNameError
from ..readers.keydata import KeyData, split_slices
from ..readers.selection import TrainSelection, by_id
from .keydata import DetectorMaskedKeyData, MultimodKeyData
from .layout import ModuleLayout, default_fill_value, entry_layout
from .naming import (data_is_raw, find_detector_name, identify_multimod_detectors,
                     identify_sources)

if TYPE_CHECKING:
    import pandas as pd

    from ..readers.collection import DataCollection

log = logging.getLogger(__name__)

__all__ = ["MultimodDetectorBase", "MultimodKeyData", "ModuleLayout", "default_fill_value",
           "identify_multimod_detectors"]


def _combine_bits(bits) -> int | None:
    if bits is None or isinstance(bits, (int, np.integer)):
        return bits
    out = 0
    for b in bits:
        out |= int(b)
    return out


class MultimodDetectorBase:
    """Common part of the detector components; use a subclass such as ``AGIPD1M``.

    Parameters
    ----------
    data : DataCollection
        A collection, e.g. from :func:`~xfconvert.RunDirectory`.
    detector_name : str, optional
        e.g. ``'SPB_DET_AGIPD1M-1'``; needed only if the data has several such detectors.
    modules : iterable of int, optional
        Module numbers to use (default: all with data).
    min_modules : int
        Keep only trains where at least this many modules have data (>= 1).
    raw : bool, optional
        None (default): corrected data if the run has ``/CORR/`` sources, else the
        ``/DET/`` ones (warning if they hold raw data). True: raw data only. False:
        corrected data only.

    Attributes
    ----------
    detector_name : str
    source_to_modno, modno_to_source : dict
        Module sources and their module numbers.
    data : DataCollection
        The module sources, for the trains with at least ``min_modules`` modules.
    frame_counts : pandas.Series
        Entries of the main key per train (the same in every module with data).
    train_ids_perframe : numpy.ndarray
        Train ID of each frame.
    n_modules : int
        Modules of the whole detector (rows with ``module_gaps=True``).
    """

    # Naming (see .naming): detector name, raw and corrected module source patterns.
    _det_name_pat: ClassVar[str]
    _source_raw_pat: ClassVar[str] = r"/DET/(?P<modno>\d+)CH"
    _source_corr_pat: ClassVar[str] = r"/CORR/(?P<modno>\d+)CH"
    #: Raw data recognised by the main key's dimensions (None: by an integer dtype).
    _raw_by_ndim: ClassVar[int | None] = None
    #: Key whose entries define which trains (and frames) a module has.
    _main_data_key: ClassVar[str]
    #: Key of the correction pipeline's bad-pixel mask.
    _mask_data_key: ClassVar[str]
    #: Frames in one entry of the main key (JUNGFRAU: memory cells).
    _frames_per_entry: int = 1
    #: Module number of the first row with ``module_gaps=True``.
    _modnos_start_at: ClassVar[int] = 0
    module_shape: ClassVar[tuple[int, int]] = (0, 0)
    n_modules: int = 16

    def __init__(self, data: "DataCollection", detector_name: str | None = None,
                 modules=None, *, min_modules: int = 1, raw: bool | None = None):
        if detector_name is None:
            detector_name = find_detector_name(type(self), data)
        if not isinstance(min_modules, (int, np.integer)) or min_modules <= 0:
            raise OptionError(f"min_modules must be a positive integer, not {min_modules!r}.")
        source_to_modno = identify_sources(type(self), data, detector_name, modules, raw)
        self.detector_name = detector_name
        self.source_to_modno = source_to_modno
        self.modno_to_source = {m: s for s, m in source_to_modno.items()}
        self._requested_modules = None if modules is None else sorted({int(m) for m in modules})
        self._min_modules = int(min_modules)
        self._raw = raw

        # The dict form names exact sources: no glob patterns to compile and match.
        selected = data.select({s: None for s in source_to_modno})
        self._kd_cache: dict[tuple[str, str], KeyData] = {}
        self.data = selected
        counts = self._main_counts(selected)
        self._check_counts(selected, counts)
        keep = (counts > 0).sum(axis=0) >= min_modules
        if not keep.any():
            raise NoDataError(f"No data found with >= {min_modules} modules present "
                              f"({detector_name}).")
        log.info("Found %d trains with data for at least %d modules of %s",
                 int(keep.sum()), min_modules, detector_name)
        if keep.all():
            self._set_data(selected, counts, self._kd_cache)
        else:
            self._set_data(selected.select_trains(by_id[selected.train_id_array[keep]]),
                           counts[:, keep])

    # -- construction helpers --
    def _main_counts(self, data: "DataCollection") -> np.ndarray:
        """(modules with data, trains of ``data``) entry counts of the main key."""
        rows = []
        for src in self.modno_to_source.values():
            if self._main_data_key not in data[src]:
                raise PropertyNameError(self._main_data_key, src)
            rows.append(self._keydata(src, self._main_data_key).data_counts(labelled=False))
        return np.stack(rows).astype(np.int64)

    def _check_counts(self, data: "DataCollection", counts: np.ndarray) -> None:
        """Raise unless every module with data in a train has the same count in it."""
        most = counts.max(axis=0)
        least = np.where(counts > 0, counts, most).min(axis=0)
        bad = np.flatnonzero(least != most)
        if bad.size:
            t = int(bad[0])
            found = sorted(set(counts[:, t].tolist()) - {0})
            src = list(self.modno_to_source.values())[int(np.argmin(
                np.where(counts[:, t] > 0, counts[:, t], most[t] + 1)))]
            kd = data[src, self._main_data_key]
            raise FileStructureError(
                kd.files[0].filename if kd.files else "?",
                f"inconsistent frame counts for train {int(data.train_id_array[t])}: "
                f"{found} in different modules", src, self._main_data_key)

    def _set_data(self, data: "DataCollection", counts: np.ndarray,
                  kd_cache: dict | None = None) -> None:
        self.data = data
        # KeyData of this selection, each with its chunk plan once computed.
        self._kd_cache = {} if kd_cache is None else kd_cache
        self._counts = counts
        self._fc = counts.max(axis=0) if counts.size else np.zeros(0, np.int64)
        self._starts = np.cumsum(self._fc) - self._fc
        self.train_ids_perframe = np.repeat(data.train_id_array, self._fc)
        self._inner_cache: dict[str, np.ndarray] = {}

    def _keydata(self, source: str, key: str) -> KeyData:
        """``self.data[source, key]``, made once per component."""
        kd = self._kd_cache.get((source, key))
        if kd is None:
            kd = self._kd_cache[source, key] = self.data[source, key]
        return kd

    def _with_train_sel_data(self, data: "DataCollection") -> "MultimodDetectorBase":
        """This component over a subset ``data`` of its trains (no new checks needed)."""
        res = copy.copy(self)
        pos = np.searchsorted(self.data.train_id_array, data.train_id_array)
        res._set_data(data, self._counts[:, pos])
        return res

    def __repr__(self) -> str:
        raw = all(data_is_raw(type(self), self.data, s) for s in self.source_to_modno)
        return (f"<{type(self).__name__}: Data interface for detector "
                f"{self.detector_name!r} - {'raw' if raw else 'proc'} data with "
                f"{len(self.source_to_modno)} modules>")

    # -- what is here --
    @property
    def train_ids(self) -> list[int]:
        """Trains with at least ``min_modules`` modules of data."""
        return self.data.train_ids

    @property
    def train_id_array(self) -> np.ndarray:
        return self.data.train_id_array

    @property
    def frame_counts(self) -> "pd.Series":
        """Entries of the main key per train (uint64, indexed by train ID)."""
        import pandas as pd
        return pd.Series(self._fc.astype(np.uint64), index=pd.Index(self.train_id_array))

    @property
    def frames_per_train(self) -> int:
        """Frames in every train.

        Raises
        ------
        OptionError
            If trains hold different numbers of frames.
        """
        counts = set(np.unique(self._fc).tolist()) - {0}
        if len(counts) != 1:
            raise OptionError(f"Varying number of frames per train: {sorted(counts)}.")
        return counts.pop() * self._frames_per_entry

    @property
    def train_id_chunks(self) -> list[np.ndarray]:
        """Runs of consecutive train IDs."""
        tids = self.train_id_array
        return np.split(tids, np.flatnonzero(np.diff(tids) != 1) + 1)

    @property
    def train_id_to_ix(self) -> "pd.Series":
        """Index of the first frame of each train."""
        fc = self.frame_counts
        return fc.cumsum() - fc

    @property
    def modules(self) -> list[int]:
        """Module numbers with data."""
        return sorted(self.modno_to_source)

    @property
    def module_axis(self) -> list[int]:
        """Module numbers of the rows writers stack: the requested modules, or every
        module of the detector."""
        if self._requested_modules is not None:
            return list(self._requested_modules)
        return self._gap_modules()

    def _gap_modules(self) -> list[int]:
        """Module numbers of the rows with ``module_gaps=True``."""
        return list(range(self._modnos_start_at, self._modnos_start_at + self.n_modules))

    @property
    def _modno_to_source(self) -> dict[int, str]:
        return self.modno_to_source

    def _module_keydata(self, key: str) -> list[KeyData | None]:
        """One KeyData per row of :attr:`module_axis` (None where there is no data)."""
        return [None if m not in self.modno_to_source
                else self._keydata(self.modno_to_source[m], key) for m in self.module_axis]

    def __getitem__(self, key: str) -> MultimodKeyData:
        return MultimodKeyData(self, key)

    def __contains__(self, key: str) -> bool:
        return all(key in self.data[s] for s in self.source_to_modno)

    def masked_data(self, key: str | None = None, *, mask_bits=None,
                    masked_value=np.nan) -> DetectorMaskedKeyData:
        """``det[key]`` with pixels flagged by the correction pipeline's mask replaced.

        Parameters
        ----------
        key : str, optional
            Default: the main data key.
        mask_bits : int or iterable of int, optional
            Bad-pixel reasons to mask (default: any).
        masked_value : number
            Replacement for masked pixels (default NaN).

        Raises
        ------
        PropertyNameError
            The data has no mask (raw data).

        Examples
        --------
        >>> det.masked_data(mask_bits=[1, 4]).ndarray()   # doctest: +SKIP
        """
        return self._masked(DetectorMaskedKeyData, key or self._main_data_key,
                            mask_bits, masked_value)

    def _masked(self, cls, key: str, mask_bits, masked_value):
        if self._mask_data_key not in self:
            src = next(iter(self.source_to_modno))
            raise PropertyNameError(self._mask_data_key, src)
        return cls(self, key, mask_key=self._mask_data_key,
                   mask_bits=_combine_bits(mask_bits), masked_value=masked_value)

    def modules_per_train(self) -> np.ndarray:
        """Number of modules with data in each train (int64, one per train ID)."""
        return (self._counts > 0).sum(axis=0)

    def data_availability(self, module_gaps: bool = False) -> np.ndarray:
        """Boolean ``(modules, frames)``: True where a module has data for a frame.

        Examples
        --------
        >>> det.data_availability().sum(axis=0)   # modules with data per frame  # doctest: +SKIP
        """
        return self[self._main_data_key].data_availability(module_gaps)

    # -- train selections --
    def select_trains(self, trains: TrainSelection) -> "MultimodDetectorBase":
        """A component for a subset of trains.

        Examples
        --------
        >>> sel = det.select_trains(np.s_[:5])                      # doctest: +SKIP
        >>> sel = det.select_trains(by_id[[10000, 10003, 10004]])   # doctest: +SKIP
        """
        return self._with_train_sel_data(self.data.select_trains(trains))

    def split_trains(self, parts: int | None = None, trains_per_part: int | None = None,
                     frames_per_part: int | None = None) -> Iterator["MultimodDetectorBase"]:
        """Split into components holding consecutive whole trains.

        Parameters
        ----------
        parts : int, optional
            Minimum number of parts (fewer if there are fewer trains).
        trains_per_part : int, optional
            Maximum trains in each part.
        frames_per_part : int, optional
            Target maximum frames per part; a part always holds at least one train,
            and the last part may be much smaller.

        Examples
        --------
        >>> for part in det.split_trains(frames_per_part=1000):  # doctest: +SKIP
        ...     arr = part.get_array('image.data')
        """
        if parts is None and trains_per_part is None and frames_per_part is None:
            raise OptionError("One of parts, trains_per_part, frames_per_part must be given.")
        n = len(self.train_id_array)
        if not n:
            return
        if frames_per_part is not None:
            try:
                fpt = self.frames_per_train
            except OptionError:
                fpt = None
            if fpt:
                per = max(1, frames_per_part // fpt)
                trains_per_part = min(per, trains_per_part or per)
                frames_per_part = None
        if frames_per_part is None:
            for sl in split_slices(n, parts, trains_per_part):
                yield self._with_train_sel_data(self.data.select_trains(sl))
            return
        yield from (self.select_trains(sl) for sl in
                    self._frame_limited_slices(parts, trains_per_part, frames_per_part))

    def _frame_limited_slices(self, parts, trains_per_part, frames_per_part) -> list[slice]:
        """Consecutive trains, each part under ``frames_per_part`` frames if it can be."""
        limit = math.inf if trains_per_part is None else trains_per_part
        if parts:
            limit = min(limit, len(self._fc) // parts)
        frames = self._fc * self._frames_per_entry
        out, start, n_trains, n_frames = [], 0, 1, int(frames[0])
        for i in range(1, len(frames)):
            n_trains += 1
            n_frames += int(frames[i])
            if n_trains > limit or n_frames > frames_per_part:
                out.append(slice(start, i))
                start, n_trains, n_frames = i, 1, int(frames[i])
        out.append(slice(start, None))
        return out

    # -- reading, for the subclasses and the writers --
    def _per_train_layout(self, key: str) -> ModuleLayout:
        """Layout over :attr:`module_axis` with one position per train."""
        kd = MultimodKeyData(self, key)
        dests = kd._dests()
        return ModuleLayout([kd.modno_to_keydata.get(m) for m in self.module_axis],
                            [dests.get(m) for m in self.module_axis],
                            len(self.train_id_array))

    def _frame_positions(self, kd: KeyData) -> np.ndarray:
        """Frame index of each entry of ``kd`` (a key of the main key's index group)."""
        etids, within, _ = entry_layout(kd)
        t = np.searchsorted(self.train_id_array, etids)
        if within.size and (within >= self._fc[t]).any():
            bad = int(np.flatnonzero(within >= self._fc[t])[0])
            raise FileStructureError(kd.files[0].filename if kd.files else "?",
                                     f"more entries in train {int(etids[bad])} than "
                                     f"{self._main_data_key} has", kd.source, kd.key)
        return self._starts[t] + within

    def _init_kwargs(self) -> dict[str, Any]:
        return {"detector_name": self.detector_name, "modules": self._requested_modules,
                "min_modules": self._min_modules, "raw": self._raw}

    def write_virtual_cxi(self, filename, fillvalues: dict | None = None, *,
                          overwrite: bool = False, progress=None, **options):
        """Write a CXI file of virtual datasets stacking every module (for CrystFEL).

        Parameters
        ----------
        filename : str or Path
        fillvalues : dict, optional
            Fill values for missing modules/trains by dataset: ``{'data': nan,
            'gain': 0, 'mask': 0xffffffff}`` (these are the defaults for float data).
        overwrite : bool
            Replace an existing file.
        **options
            Further options of the ``cxi`` writer (``min_modules``, ``relative_paths``).

        Examples
        --------
        >>> AGIPD1M(run).write_virtual_cxi("agipd.cxi")  # doctest: +SKIP
        """
        from ..writers.cxi import write_virtual_cxi
        return write_virtual_cxi(self, filename, fillvalues, overwrite=overwrite,
                                 progress=progress, **options)
