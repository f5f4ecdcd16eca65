"""HDF5 virtual datasets: a run's data seen through one file, without copying it.

:func:`write_virtual` (the ``virtual`` writer) writes one EuXFEL-format file in which every
selected key is a virtual dataset spanning all the sequence files, at the same path as in
the EuXFEL files (``CONTROL/...``, ``INSTRUMENT/...``). The file also has ``METADATA``
(format 1.0), an ``INDEX`` for the selected trains and real copies of the ``RUN`` values,
so :func:`~xfconvert.RunDirectory`/:func:`~xfconvert.H5File` open it like any run file and
read the same values. :func:`get_virtual_dataset` makes a single virtual dataset.

The index maths are done once per (source, index group): the chunk plan of one key is
computed and re-used, with the dataset path swapped, for every other key of the group,
so the cost per key is that of creating its virtual dataset.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory, H5File
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> run = RunDirectory(make_run(d / "r1", n_trains=6, n_sequences=2))
>>> out = write_virtual(run.select("*_XGM/*"), d / "xgm_vds.h5")
>>> vds = H5File(out)
>>> key = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")
>>> bool(np.array_equal(vds[key].ndarray(), run[key].ndarray()))
True
>>> ds = get_virtual_dataset(run, *key)
>>> ds.shape, ds.is_virtual
((6, 1000), True)
>>> ds.file.close()
"""
from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import h5py
import numpy as np

from ..exceptions import FileStructureError, OptionError
from ..readers.chunks import DataChunk
from ..readers.file_access import FileAccess
from . import interrupts
from .base import ProgressCallback, WritePlan, atomic_output, convert, provenance
from .boundary import error_boundary
from .euxfel_format import (FORMAT_VERSION, copy_run_values, write_metadata, write_source_index,
                            write_train_index)
from .vds_layout import PathOf, RowSpec, VirtualMapping, absolute_path, build_layout, \
    plan_mappings, relative_to

if TYPE_CHECKING:
    from ..readers.collection import DataCollection

log = logging.getLogger(__name__)

__all__ = ["VirtualOptions", "VirtualWriter", "get_virtual_dataset", "write_virtual"]



@dataclass(frozen=True)
class VirtualOptions:
    """Options of the ``virtual`` writer."""

    relative_paths: bool = field(default=False, metadata={
        "help": "Store source file paths relative to the output file's directory (move "
                "the output and the run together) instead of absolute paths."})


# ---- plan items: each writes one part of the output -----------------------------------
class _Output:
    """The output file being written, with its groups looked up once each."""

    def __init__(self, f: h5py.File, path_of: PathOf):
        self.file = f
        self.path_of = path_of
        self._groups: dict[str, h5py.Group] = {}

    def group(self, path: str) -> h5py.Group:
        group = self._groups.get(path)
        if group is None:
            group = self._groups[path] = self.file.require_group(path)
        return group


class _Item(Protocol):
    def write(self, out: _Output) -> None: ...


@dataclass(frozen=True)
class VirtualDatasetItem:
    """One virtual dataset: a key of a source, mapped from its source files."""

    path: str
    source: str
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    mappings: tuple[VirtualMapping, ...]

    def write(self, out: _Output) -> None:
        layout = build_layout(self.mappings, self.shape, self.dtype, path_of=out.path_of)
        parent, _, name = self.path.rpartition("/")
        out.group(parent).create_virtual_dataset(name, layout)

    def __str__(self) -> str:
        n_files = len({m.filename for m in self.mappings})
        return (f"{self.path}: virtual {self.shape} {self.dtype} <- "
                f"{len(self.mappings)} mapping(s) from {n_files} file(s)")


@dataclass(frozen=True)
class IndexItem:
    """``INDEX/<source>[/<group>]/first,count`` over the output's trains."""

    path: str
    count: np.ndarray

    def write(self, out: _Output) -> None:
        write_source_index(out.group(self.path), self.count)

    def __str__(self) -> str:
        return f"{self.path}: first/count, {int(self.count.sum())} entries"


@dataclass(frozen=True)
class SkeletonItem:
    """``METADATA`` (format, data sources, run facts) and ``INDEX/trainId`` with the
    timestamps, flags and origins of the input files."""

    source_ids: tuple[str, ...]
    train_ids: np.ndarray
    files: tuple[FileAccess, ...]

    def write(self, out: _Output) -> None:
        write_metadata(out.file, self.source_ids, self.files)
        write_train_index(out.file, self.train_ids, self.files)

    def __str__(self) -> str:
        return (f"METADATA: format {FORMAT_VERSION}, {len(self.source_ids)} data sources; "
                f"INDEX/trainId: {len(self.train_ids)} trains")


@dataclass(frozen=True)
class RunValuesItem:
    """Copies of ``RUN/<source>/...`` (small real datasets) from one input file."""

    source: str
    file: FileAccess
    paths: tuple[str, ...] | None  # None: the whole RUN/<source> group

    def write(self, out: _Output) -> None:
        paths = (f"RUN/{self.source}",) if self.paths is None else self.paths
        copy_run_values(out.file, self.file, paths, self.source)

    def __str__(self) -> str:
        what = "all keys" if self.paths is None else f"{len(self.paths)} dataset(s)"
        return f"RUN/{self.source}: copy {what} from {self.file.filename}"


# ---- planning -------------------------------------------------------------------------
def _chunk_rows(chunks: Sequence[DataChunk], train_ids: np.ndarray,
                counts: np.ndarray) -> list[RowSpec]:
    """Output rows of each chunk, given the entries per output train.

    Entries of a train sit at consecutive rows starting at the train's row; a chunk whose
    rows run on is given by its first row (one mapping), otherwise by per-entry rows.
    """
    counts = counts.astype(np.int64)
    row_start = np.cumsum(counts) - counts
    used = np.zeros(len(counts), dtype=np.int64)  # entries of each train already placed
    specs: list[RowSpec] = []
    for chunk in chunks:
        idx = np.searchsorted(train_ids, chunk.train_ids)
        ccounts = chunk.counts.astype(np.int64)
        starts = row_start[idx] + used[idx]
        used[idx] += ccounts
        if np.array_equal(np.diff(starts), ccounts[:-1]):
            specs.append(int(starts[0]))
        else:
            within = np.arange(chunk.n_entries) - np.repeat(np.cumsum(ccounts) - ccounts,
                                                            ccounts)
            specs.append(np.repeat(starts, ccounts) + within)
    return specs


class _GroupPlan:
    """Chunk plans and index of one (source, index group), shared by all its keys.

    When some key of the group is in every file of the source, its chunk plan is the
    template for every key (only the dataset path differs). Otherwise each key is planned
    on its own and the group's counts are the largest per train.
    """

    def __init__(self, data: "DataCollection", source: str, keys: list[str]):
        self.source = source
        self.train_ids = data.train_id_array
        files = data.files_for_source(source)
        sd = data[source]
        in_all = set(keys).intersection(*(fa.get_keys(source) for fa in files))
        if in_all:
            kd = sd[min(in_all)]
            self._template: list[DataChunk] | None = kd.chunk_plan()
            self.counts = kd.data_counts(labelled=False)
            self._template_rows = _chunk_rows(self._template, self.train_ids, self.counts)
            self._plans: dict[str, list[DataChunk]] = {}
        else:
            self._template = None
            self._plans = {k: sd[k].chunk_plan() for k in keys}
            self.counts = np.maximum.reduce([sd[k].data_counts(labelled=False) for k in keys])
        self.counts = self.counts.astype(np.uint64)

    def chunks_and_rows(self, key: str) -> tuple[list[DataChunk], list[RowSpec]]:
        if self._template is None:
            chunks = self._plans[key]
            return chunks, _chunk_rows(chunks, self.train_ids, self.counts)
        chunks, rows = [], []
        for chunk, spec in zip(self._template, self._template_rows):
            fa = chunk.file
            if not fa.has_key(self.source, key):
                continue  # left as fill values, still aligned with the group's index
            if chunk.key != key:
                chunk = dataclasses.replace(chunk, key=key,
                                            dataset_path=fa.dataset_path(self.source, key))
            chunks.append(chunk)
            rows.append(spec)
        return chunks, rows

    def index_item(self, is_control: bool, group: str) -> IndexItem:
        path = f"INDEX/{self.source}" + ("" if is_control else f"/{group}")
        return IndexItem(path, self.counts)

    def dataset_item(self, data: "DataCollection", key: str) -> VirtualDatasetItem:
        chunks, rows = self.chunks_and_rows(key)
        holder = next(fa for fa in data.files_for_source(self.source)
                      if fa.has_key(self.source, key))
        shape, dtype = holder.dataset_info(self.source, key)
        out_shape = (int(self.counts.sum()),) + tuple(shape[1:])
        return VirtualDatasetItem(holder.dataset_path(self.source, key), self.source, key,
                                  out_shape, dtype, tuple(plan_mappings(chunks, rows)))


def _run_values_item(data: "DataCollection", source: str) -> RunValuesItem | None:
    fa = data.files_for_source(source)[0]
    if f"RUN/{source}" not in fa.file:
        return None
    selected = data.selection[source]
    if selected is None:
        return RunValuesItem(source, fa, None)
    paths = tuple(p for p in (f"RUN/{source}/{k.replace('.', '/')}" for k in sorted(selected))
                  if p in fa.file)
    return RunValuesItem(source, fa, paths) if paths else None


def plan_virtual(data: "DataCollection") -> list[_Item]:
    """The items of a virtual-dataset file for ``data`` (empty if nothing is selected)."""
    sources = sorted(data.all_sources)
    if not sources:
        return []
    items: list[_Item] = []
    source_ids: list[str] = []
    datasets: list[_Item] = []
    for source in sources:
        is_control = data.is_control(source)
        groups: dict[str, list[str]] = {}
        for key in sorted(data[source].keys()):
            groups.setdefault(FileAccess.index_group(is_control, key), []).append(key)
        for group, keys in groups.items():
            gp = _GroupPlan(data, source, keys)
            items.append(gp.index_item(is_control, group))
            datasets += [gp.dataset_item(data, key) for key in keys]
            source_ids.append(f"CONTROL/{source}" if is_control
                              else f"INSTRUMENT/{source}/{group}")
        if is_control:
            run_item = _run_values_item(data, source)
            if run_item is not None:
                items.append(run_item)
    # Files of selected sources first: they usually hold every train's timestamp.
    files = tuple(dict.fromkeys([fa for s in sources for fa in data.files_for_source(s)]
                                + list(data.files)))
    skeleton = SkeletonItem(tuple(source_ids), data.train_id_array.copy(), files)
    return [skeleton] + items + datasets


class VirtualWriter:
    """Writer of EuXFEL-format files made of HDF5 virtual datasets (``--to virtual``)."""

    name = "virtual"
    description = ("EuXFEL-format HDF5 file of virtual datasets spanning the run's files "
                   "(no data copied)")
    suffix = ".h5"
    output_is_directory = False
    options_type = VirtualOptions

    def plan(self, data: "DataCollection", options: VirtualOptions) -> WritePlan:
        """One item per virtual dataset, index group, RUN copy, plus METADATA and trains.

        A detector component is written as its modules' sources (one virtual dataset
        per module and key; stacking modules is the CXI writer's job).
        """
        collection = data if hasattr(data, "files_for_source") else getattr(data, "data", None)
        if not hasattr(collection, "files_for_source"):
            raise OptionError("The virtual writer takes a DataCollection (e.g. from "
                              f"RunDirectory) or a detector component, not "
                              f"{type(data).__name__}.")
        items = plan_virtual(collection)
        return WritePlan(data=data, options=options, items=items, total=len(items))

    def write_plan(self, plan: WritePlan, path: Path, progress: ProgressCallback) -> None:
        """Write the planned file at ``path`` (source paths relative to its directory if
        ``relative_paths``)."""
        path_of = relative_to(Path(path).parent) if plan.options.relative_paths \
            else absolute_path
        with h5py.File(path, "w") as f:
            f.attrs.update(provenance(plan.data, self.name))
            out = _Output(f, path_of)
            for done, item in enumerate(plan.items, start=1):
                item.write(out)
                progress(done, plan.total)


def write_virtual(data: "DataCollection", filename, *, overwrite: bool = False,
                  progress: ProgressCallback | None = None, **options: Any) -> Path:
    """Write a EuXFEL-format file of virtual datasets for the selected data.

    Every selected key becomes one virtual dataset spanning all sequence files; no data
    is copied, so the output stays valid only while the run's files stay where they are
    (or move together with it, with ``relative_paths=True``).

    Parameters
    ----------
    data : DataCollection
    filename : str or Path
    overwrite : bool
        Replace an existing file.
    progress : callable, optional
        ``progress(done, total)`` after each item.
    **options
        :class:`VirtualOptions` fields (``relative_paths``).

    Returns
    -------
    Path

    Examples
    --------
    >>> write_virtual(run.select("*/DET/*", "image.*"), "det_vds.h5")  # doctest: +SKIP
    """
    return convert(data, filename, to=VirtualWriter, overwrite=overwrite, progress=progress,
                   **options)


def get_virtual_dataset(data: "DataCollection", source: str, key: str,
                        filename=None) -> h5py.Dataset:
    """One key of ``data`` as a virtual dataset spanning its files.

    Parameters
    ----------
    data : DataCollection
    source, key : str
    filename : str or Path, optional
        File to write (replaced if it exists, atomically). Default: a new temporary file,
        which is left on disk for the caller.

    Returns
    -------
    h5py.Dataset
        The virtual dataset, opened read-only; close ``ds.file`` when done.

    Examples
    --------
    >>> ds = get_virtual_dataset(run, "SA1_XTD2_XGM/DOOCS/MAIN:output",
    ...                          "data.intensityTD", "xgm_vds.h5")  # doctest: +SKIP
    >>> ds[:, :40].mean(axis=0)  # doctest: +SKIP
    """
    kd = data[source, key]
    mappings = plan_mappings(kd.chunk_plan())
    item = VirtualDatasetItem(kd.files[0].dataset_path(source, kd.key), source, kd.key,
                              kd.shape, kd.dtype, tuple(mappings))
    attrs = provenance(data.select({source: {kd.key}}), VirtualWriter.name)

    def write(path: str | Path) -> None:
        with h5py.File(path, "w") as f:
            f.attrs.update(attrs)
            item.write(_Output(f, absolute_path))

    if filename is None:
        fd, target = tempfile.mkstemp(prefix="xfconvert-vds-", suffix=".h5")
        os.close(fd)
        try:
            write(target)
        except BaseException:
            os.unlink(target)
            raise
    else:
        with interrupts.recording(), error_boundary(VirtualWriter.name, filename), \
                atomic_output(filename, overwrite=True, inputs=data) as tmp:
            write(tmp)
        target = os.path.abspath(os.fspath(filename))
    log.info("Virtual dataset %s written to %s", item.path, target)
    return h5py.File(target, "r")[item.path]
