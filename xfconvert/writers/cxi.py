"""CXI files: a multi-module detector as one virtual ``(frames, modules, ...)`` stack.

The ``cxi`` writer makes a small HDF5 file in the CXI 1.5 layout (as read by CrystFEL,
Cheetah and OnDA) whose detector datasets are HDF5 virtual datasets mapping the module
files of a run: nothing is copied, and the file stays valid while the run's files stay
where they are (or move together with it, with ``relative_paths=True``).

Frames come from the detector component's own frame alignment: XTDF detectors (AGIPD,
LPD, DSSC) line up the frames of every module by (train ID, pulse ID); JUNGFRAU memory
cells become frames (one frame per train and cell). A module missing from the run, or
missing some trains, is filled with the fill value and never shifts other modules.

Each module's data is mapped with as few mappings as its files allow (one per
contiguous run of frames, i.e. normally one per sequence file), because HDF5 intersects
every read with every mapping: this is what keeps reading a few consecutive frames fast.

Layout of the output::

    cxi_version                                  150
    entry_1/experiment_identifier                "trainId:pulseId" per frame
    entry_1/trainId, pulseId, cellId             per frame
    entry_1/instrument_1/detector_1/data         virtual (frames, modules, [2,] ss, fs)
    entry_1/instrument_1/detector_1/gain, mask   virtual, when the files have them
    entry_1/instrument_1/detector_1/module_identifier   module numbers
    entry_1/data_1 -> entry_1/instrument_1/detector_1   (soft link)

Examples
--------
>>> import tempfile, pathlib, h5py, numpy as np
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import AGIPD1M
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> run = RunDirectory(make_run(d / "r1", detector="agipd", n_modules=2, n_trains=3,
...                             frames_per_train=2, module_shape=(8, 4), slow_data=False))
>>> out = write_virtual_cxi(AGIPD1M(run, modules=[0, 1]), d / "r1.cxi")
>>> with h5py.File(out, "r") as f:
...     ds = f["entry_1/data_1/data"]
...     print(ds.shape, ds.attrs["axes"])
...     print(f["entry_1/experiment_identifier"][:2])
(6, 2, 2, 8, 4) experiment_identifier:module_identifier:data_gain:y:x
[b'10000:0' b'10000:4']
"""
from __future__ import annotations

import logging
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np

from ..components.base import MultimodDetectorBase, identify_multimod_detectors
from ..components.jungfrau import JUNGFRAU
from ..components.naming import RawDataWarning
from ..components.xtdf import XtdfDetectorBase
from ..exceptions import FileStructureError, OptionError, OutputError
from ..readers.chunks import DataChunk
from ..readers.selection import by_id
from .base import ProgressCallback, WritePlan, convert, provenance
from .vds_layout import PathOf, VirtualMapping, absolute_path, build_layout, relative_to, \
    stack_mappings

log = logging.getLogger(__name__)

__all__ = ["CXIOptions", "CXIWriter", "write_virtual_cxi", "CXI_VERSION"]

#: Written to ``cxi_version``: CXI format 1.5.
CXI_VERSION = 150
#: The CXI datasets and, per detector family, the keys they come from.
_XTDF_KEYS = {"data": "image.data", "gain": "image.gain", "mask": "image.mask"}
_JUNGFRAU_KEYS = {"data": "data.adc", "gain": "data.gain", "mask": "data.mask"}
_DETECTOR = "entry_1/instrument_1/detector_1"
# Oldest and newest HDF5 file format used: virtual datasets need 1.10, and nothing newer
# is used so that HDF5 1.10 (CrystFEL, Cheetah, older h5py builds) can read the file.
_LIBVER = ("v110", "v110")
_RUN_PATH = re.compile(r"/p(?P<proposal>\d+)/(?:raw|proc)/r(?P<run>\d+)/?$")


@dataclass(frozen=True)
class CXIOptions:
    """Options of the ``cxi`` writer."""

    min_modules: Optional[int] = field(default=None, metadata={
        "help": "Include only trains where at least this many modules have data "
                "(default: half the modules with data, plus one)."})
    fill_data: Optional[float] = field(default=None, metadata={
        "help": "Fill value of the data where a module or train is missing (default: "
                "NaN for floating point data, 0 for integers)."})
    fill_gain: Optional[float] = field(default=None, metadata={
        "help": "Fill value of the gain dataset (default 0)."})
    fill_mask: Optional[int] = field(default=None, metadata={
        "help": "Fill value of the mask dataset (default: all bits set, 0xffffffff for "
                "uint32, so that missing pixels are masked)."})
    relative_paths: bool = field(default=False, metadata={
        "help": "Store module file paths relative to the output file's directory (move "
                "the output and the run together) instead of absolute paths."})


# ---- plan items -----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FramesItem:
    """The per-frame identifiers, module numbers, CXI version and the ``data_1`` link."""

    train_ids: np.ndarray
    pulse_ids: np.ndarray
    cell_ids: np.ndarray
    module_ids: tuple[int, ...]
    attrs: dict

    def write(self, f: h5py.File, path_of: PathOf) -> None:
        f["cxi_version"] = np.int64(CXI_VERSION)
        entry = f.require_group("entry_1")
        ident = np.char.add(np.char.add(self.train_ids.astype("S20"), b":"),
                            self.pulse_ids.astype("S20"))
        entry["experiment_identifier"] = ident
        entry["trainId"] = self.train_ids
        entry["pulseId"] = self.pulse_ids
        entry["cellId"] = self.cell_ids
        det = f.require_group(_DETECTOR)
        det["module_identifier"] = np.asarray(self.module_ids, dtype=np.int64)
        entry["data_1"] = h5py.SoftLink(f"/{_DETECTOR}")
        f.attrs.update(self.attrs)

    def __str__(self) -> str:
        n_trains = len(np.unique(self.train_ids))
        return (f"entry_1: {len(self.train_ids)} frames in {n_trains} trains, modules "
                f"{list(self.module_ids)}: experiment_identifier, trainId, pulseId, cellId")


@dataclass(frozen=True, eq=False)
class StackItem:
    """One virtual detector dataset (``data``, ``gain`` or ``mask``)."""

    name: str
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fill: Any
    axes: str
    mappings: tuple[VirtualMapping, ...]

    def write(self, f: h5py.File, path_of: PathOf) -> None:
        layout = build_layout(self.mappings, self.shape, self.dtype, path_of=path_of)
        ds = f.require_group(_DETECTOR).create_virtual_dataset(self.name, layout,
                                                               fillvalue=self.fill)
        ds.attrs["axes"] = self.axes

    def __str__(self) -> str:
        n_files = len({m.filename for m in self.mappings})
        return (f"{_DETECTOR}/{self.name} <- {self.key}: virtual {self.shape} {self.dtype}, "
                f"fill {self.fill}, {len(self.mappings)} mapping(s) from {n_files} file(s)")


# ---- planning -------------------------------------------------------------------------
def _as_component(data) -> MultimodDetectorBase:
    if isinstance(data, MultimodDetectorBase):
        return data
    if hasattr(data, "files_for_source"):
        name, cls = identify_multimod_detectors(data, single=True)
        with warnings.catch_warnings():
            # Raw data is a valid input here (written with its own fill value).
            warnings.simplefilter("ignore", RawDataWarning)
            return cls(data, name)
    raise OptionError("The cxi writer takes a detector component (e.g. AGIPD1M(run)) or a "
                      f"DataCollection holding one detector, not {type(data).__name__}.")


def _with_min_modules(det: MultimodDetectorBase, min_modules: int | None
                      ) -> MultimodDetectorBase | None:
    """The component restricted to trains where ``min_modules`` modules have data
    (None if no train is left)."""
    if min_modules is None:
        min_modules = len(det.modules) // 2 + 1
    if min_modules < 1:
        raise OptionError(f"min_modules must be >= 1, got {min_modules}.")
    n_with_data = det.modules_per_train()
    keep = n_with_data >= min_modules
    if not keep.any():
        return None
    if keep.all():
        return det
    return det.select_trains(by_id[det.train_id_array[keep]])


def _split(chunks: list[DataChunk], rows: np.ndarray, what: str) -> list[np.ndarray]:
    """Per-entry output rows cut into one array per chunk."""
    sizes = np.array([c.n_entries for c in chunks], dtype=np.int64)
    if int(sizes.sum()) != len(rows):
        raise FileStructureError(chunks[0].file.filename if chunks else "?",
                                 f"{int(sizes.sum())} entries, but the frame index of the "
                                 f"detector has {len(rows)} ({what})",
                                 chunks[0].source if chunks else None,
                                 chunks[0].key if chunks else None)
    return np.split(rows, np.cumsum(sizes)[:-1])


def _fill_value(name: str, given, dtype: np.dtype):
    """The fill value of dataset ``name``, checked against its dtype."""
    if given is None:
        if name == "mask" and np.issubdtype(dtype, np.unsignedinteger):
            return np.iinfo(dtype).max  # every bit set: CrystFEL excludes the pixel
        if name == "data" and np.issubdtype(dtype, np.inexact):
            return np.nan
        return 0
    if np.issubdtype(dtype, np.integer):
        value = float(given)
        info = np.iinfo(dtype)
        if not (math.isfinite(value) and value.is_integer() and info.min <= value <= info.max):
            raise OptionError(f"Fill value {given!r} of {name} does not fit its dtype "
                              f"{dtype} (integers {info.min} to {info.max}).")
        return int(value)
    return float(given)


def _axes(frame_shape: tuple[int, ...]) -> str:
    extra = ["data_gain"] if len(frame_shape) == 3 else []
    return ":".join(["experiment_identifier", "module_identifier", *extra, "y", "x"])


class _Frames:
    """Where each module's entries go on the frame axis, and the frames' identifiers."""

    def __init__(self, train_ids, pulse_ids, cell_ids, dests, rows_per_entry: int,
                 keys: dict[str, str], entry_frame_shape):
        self.train_ids = train_ids
        self.pulse_ids = pulse_ids
        self.cell_ids = cell_ids
        self.dests = dests  # per module position: rows of its entries (in entry units)
        self.rows_per_entry = rows_per_entry
        self.keys = keys
        self.entry_frame_shape = entry_frame_shape  # entry shape -> frame shape


def _xtdf_frames(det: XtdfDetectorBase) -> _Frames:
    if getattr(det, "parallel_gain", False):
        raise OptionError("The cxi writer does not support LPD parallel gain data "
                          "(frames would not be unique by train and pulse ID).")
    fidx = det._frame_index("image.data", np.s_[:], False, "pulseId")
    dests = fidx.layout.dests
    frame_tids = fidx.frame_tids
    pulse_ids = np.asarray(fidx.coords["pulse"])
    _check_pulses(det, frame_tids, pulse_ids, dests)
    cell_ids = np.zeros(len(frame_tids), dtype=np.uint16)
    for kd, dest in zip(det._module_keydata("image.cellId"), dests):
        if kd is not None:
            cells = kd.ndarray().reshape(-1)
            cell_ids = cell_ids.astype(np.result_type(cell_ids, cells), copy=False)
            cell_ids[dest] = cells
    return _Frames(frame_tids.astype(np.uint64), pulse_ids.astype(np.uint64), cell_ids,
                   dests, 1, _XTDF_KEYS, _squeeze_single_stage)


def _squeeze_single_stage(entry_shape: tuple[int, ...]) -> tuple[int, ...]:
    # Raw LPD/DSSC frames are (1, ss, fs): the length-1 axis carries nothing. AGIPD's
    # (2, ss, fs) keeps its data/gain axis.
    if len(entry_shape) == 3 and entry_shape[0] == 1:
        return entry_shape[1:]
    return entry_shape


def _check_pulses(det: XtdfDetectorBase, frame_tids: np.ndarray, pulse_ids: np.ndarray,
                  dests: list) -> None:
    """Raise if modules with data in a train recorded different pulse IDs in it."""
    train_pos = np.searchsorted(det.train_id_array, frame_tids)
    n_trains = len(det.train_id_array)
    per_train = np.bincount(train_pos, minlength=n_trains)
    bad = np.zeros(n_trains, dtype=bool)
    for dest in dests:
        if dest is not None:
            mine = np.bincount(train_pos[dest], minlength=n_trains)
            bad |= (mine > 0) & (mine != per_train)
    if not bad.any():
        return
    t = int(np.flatnonzero(bad)[0])
    tid = int(det.train_id_array[t])
    lists: dict[tuple, list[int]] = {}
    for modno, dest in zip(det.module_axis, dests):
        if dest is not None:
            frames = dest[train_pos[dest] == t]
            if frames.size:
                lists.setdefault(tuple(pulse_ids[np.sort(frames)].tolist()), []).append(modno)
    groups = sorted(lists.items(), key=lambda kv: -len(kv[1]))
    odd = groups[-1][1][0]
    src = det._modno_to_source[odd]
    kd = det.data[src, "image.pulseId"]
    filename = next((c.file.filename for c in kd.chunk_plan() if tid in c.train_ids), "?")
    described = "; ".join(f"module(s) {mods}: pulse IDs {_few(ids)}" for ids, mods in groups)
    raise FileStructureError(filename, f"pulse IDs of train {tid} differ between modules "
                             f"({described}); frames cannot be aligned",
                             src, "image.pulseId")


def _few(values: tuple, n: int = 8) -> str:
    shown = ", ".join(map(str, values[:n]))
    return f"[{shown}{', ...' if len(values) > n else ''}]"


def _jungfrau_frames(det: JUNGFRAU) -> _Frames:
    kd_main = det._module_keydata("data.adc")
    cells = det.frames_per_train
    layout = det._per_train_layout("data.adc")
    n_trains = len(det.train_id_array)
    train_ids = np.repeat(det.train_id_array, cells).astype(np.uint64)
    # JUNGFRAU records no pulse IDs: a frame's pulse ID is its position in the train.
    pulse_ids = np.tile(np.arange(cells, dtype=np.uint64), n_trains)
    cell_ids = np.zeros(len(train_ids), dtype=np.uint16)
    memcell = det._module_keydata("data.memoryCell") \
        if "data.memoryCell" in det else [None] * len(kd_main)
    for kd, dest in zip(memcell, layout.dests):
        if kd is not None:
            rows = dest[:, None] * cells + np.arange(cells)
            cell_ids[rows.reshape(-1)] = kd.ndarray().reshape(-1)
    return _Frames(train_ids, pulse_ids, cell_ids, layout.dests, cells, _JUNGFRAU_KEYS,
                   lambda entry_shape: entry_shape[1:])


def _stack_item(det: MultimodDetectorBase, frames: _Frames, name: str, key: str,
                fill_given) -> StackItem:
    kds = det._module_keydata(key)
    modules, rows = {}, {}
    for pos, (kd, dest) in enumerate(zip(kds, frames.dests)):
        chunks = [] if kd is None else kd.chunk_plan()
        if not chunks:  # no module files, or no data in the selected trains
            continue
        modules[pos] = chunks
        rows[pos] = _split(chunks, dest, f"{name} of module {det.module_axis[pos]}")
    mappings = stack_mappings(modules, rows, module_axis=1,
                              rows_per_entry=frames.rows_per_entry)
    example = next(kd for kd in kds if kd is not None)
    frame_shape = frames.entry_frame_shape(example.entry_shape)
    shape = (len(frames.train_ids), len(kds)) + tuple(frame_shape)
    return StackItem(name, key, shape, example.dtype,
                     _fill_value(name, fill_given, example.dtype), _axes(frame_shape),
                     tuple(mappings))


def _run_attrs(det: MultimodDetectorBase) -> dict[str, int]:
    """``proposal`` and ``run`` numbers, from METADATA or else the run directory's path."""
    src = next(iter(det._modno_to_source.values()))
    fa = det.data.files_for_source(src)[0]
    try:
        meta = fa.file["METADATA"]
        if "proposalNumber" in meta and "runNumber" in meta:
            return {"proposal": int(meta["proposalNumber"][()].ravel()[0]),
                    "run": int(meta["runNumber"][()].ravel()[0])}
    except (KeyError, OSError, IndexError, ValueError) as err:
        log.debug("No proposal/run numbers in %s: %s", fa.filename, err)
    m = _RUN_PATH.search(str(det.data.run_path or os.path.dirname(fa.filename)))
    return {"proposal": int(m["proposal"]), "run": int(m["run"])} if m else {}


def plan_cxi(det: MultimodDetectorBase, options: CXIOptions) -> list:
    """The items of a CXI file for detector component ``det`` (empty: nothing to write)."""
    det = _with_min_modules(det, options.min_modules)
    if det is None:
        return []
    if isinstance(det, XtdfDetectorBase):
        frames = _xtdf_frames(det)
    elif isinstance(det, JUNGFRAU):
        frames = _jungfrau_frames(det)
    else:
        raise OptionError(f"The cxi writer does not know detector {type(det).__name__}.")
    if not len(frames.train_ids):
        return []
    fills = {"data": options.fill_data, "gain": options.fill_gain, "mask": options.fill_mask}
    stacks = [_stack_item(det, frames, name, key, fills[name])
              for name, key in frames.keys.items() if key in det]
    attrs = {**provenance(det, CXIWriter.name), **_run_attrs(det),
             "detector_name": det.detector_name}
    return [FramesItem(frames.train_ids, frames.pulse_ids, frames.cell_ids,
                       tuple(det.module_axis), attrs), *stacks]


class CXIWriter:
    """Writer of CXI 1.5 files stacking a detector's modules virtually (``--to cxi``)."""

    name = "cxi"
    description = ("CXI 1.5 file: a multi-module detector as virtual (frames, modules, ...) "
                   "stacks over the run's files (no data copied)")
    suffix = ".cxi"
    output_is_directory = False
    options_type = CXIOptions

    def plan(self, data, options: CXIOptions) -> WritePlan:
        """One item for the frame identifiers, one per virtual dataset.

        ``data`` is a detector component, or a DataCollection holding exactly one
        multi-module detector.
        """
        items = plan_cxi(_as_component(data), options)
        return WritePlan(data=data, options=options, items=items, total=len(items))

    def write_plan(self, plan: WritePlan, path: Path, progress: ProgressCallback) -> None:
        """Write the planned file at ``path``, readable by HDF5 1.10 and later."""
        path_of = relative_to(Path(path).parent) if plan.options.relative_paths \
            else absolute_path
        with h5py.File(path, "w", libver=_LIBVER) as f:
            for done, item in enumerate(plan.items, start=1):
                try:
                    item.write(f, path_of)
                except (OSError, ValueError, TypeError) as err:
                    if isinstance(err, OptionError):
                        raise
                    raise OutputError(f"Writing {item} to {path} failed: {err}") from err
                progress(done, plan.total)


def write_virtual_cxi(component, filename, fillvalues: dict | None = None, *,
                      overwrite: bool = False, progress: ProgressCallback | None = None,
                      **options: Any) -> Path:
    """Write a CXI file giving a virtual ``(frames, modules, ...)`` view of a detector.

    Parameters
    ----------
    component : detector component or DataCollection
        E.g. ``AGIPD1M(run)``; a collection must hold exactly one multi-module detector.
    filename : str or Path
    fillvalues : dict, optional
        Fill values for missing data by dataset name (``'data'``, ``'gain'``,
        ``'mask'``), e.g. ``{'data': np.nan, 'mask': 0xffffffff}``; same as the options
        ``fill_data``, ``fill_gain``, ``fill_mask``.
    overwrite : bool
        Replace an existing file.
    progress : callable, optional
        ``progress(done, total)``.
    **options
        :class:`CXIOptions` fields (``min_modules``, ``relative_paths``, ...).

    Returns
    -------
    Path

    Raises
    ------
    FileStructureError
        If modules recorded different pulse IDs in the same train.

    Examples
    --------
    >>> write_virtual_cxi(AGIPD1M(run), "r0034.cxi", {"data": 0})  # doctest: +SKIP
    """
    for name, value in (fillvalues or {}).items():
        if name not in ("data", "gain", "mask"):
            raise OptionError(f"fillvalues keys must be 'data', 'gain' or 'mask', not "
                              f"{name!r}.")
        if f"fill_{name}" in options:
            raise OptionError(f"Fill value of {name} given twice (fillvalues and "
                              f"fill_{name}).")
        options[f"fill_{name}"] = value
    return convert(component, filename, to=CXIWriter, overwrite=overwrite, progress=progress,
                   **options)
