"""The text of ``DataCollection.info()`` and ``train_info()``, laid out as EXtra-data's.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=3,
...                             detector="agipd", n_modules=2, module_shape=(4, 2)))
>>> print(info_text(run).splitlines()[0])
# of trains:    3
>>> group_source_names(["X/MOTOR/M1", "X/MOTOR/M2", "X/MOTOR/M3", "X/MOTOR/M5"])
['X/MOTOR/M{1-3, 5}']
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import TrainNotFoundError

if TYPE_CHECKING:
    from .collection import DataCollection
    from .sourcedata import SourceData

__all__ = ["info_text", "train_info_text", "detector_info", "group_source_names"]

_DETECTOR_SOURCE = re.compile(r"(.+/(?:DET|CORR))/(\d+)CH")
_PIECE = re.compile(r"(\d+|[a-zA-Z]+)")
_AGGREGATOR = re.compile(r"-(DA\d+|[A-Z]+\d+)-S\d+\.h5$")


# ---- grouping similar source names ----------------------------------------------------
def _name_parts(name: str) -> list[str]:
    """Alternating fixed and variable pieces of a source name (odd positions vary).

    Letters and digits may vary; a whole path component that is one long word
    (``MOTOR``) is kept fixed so that unrelated devices are not grouped.
    """
    *components, last = name.split("/")
    last, _, pipeline = last.partition(":")
    components.append(last)
    parts = [""]
    for i, comp in enumerate(components):
        pieces = _PIECE.split(comp)  # [sep, piece, sep, piece, ..., sep]
        parts[-1] += ("/" if i else "") + pieces[0]
        tail = pieces[1:]
        single_word = len(tail) == 2 and tail[1] == ""
        if i and single_word and not (len(tail[0]) <= 2 or tail[0].isdigit()):
            parts[-1] += tail[0]
        else:
            parts.extend(tail)
    if pipeline:
        pieces = _PIECE.split(pipeline)
        parts[-1] += ":" + pieces[0]
        parts.extend(pieces[1:])
    return parts


def _varying_position(a: list[str], b: list[str]) -> int | None:
    if len(a) != len(b):
        return None
    diffs = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(diffs) != 1 or diffs[0] % 2 == 0:
        return None
    return diffs[0]


def _format_group(group: list[list[str]]) -> str:
    if len(group) == 1:
        return "".join(group[0])
    pos = _varying_position(group[0], group[1])
    values = [parts[pos] for parts in group]
    if all(v.isdigit() for v in values):
        ordered = sorted(set(values), key=int)
        ranges: list[list[str]] = []
        for v in ordered:
            if ranges and int(v) == int(ranges[-1][1]) + 1:
                ranges[-1][1] = v
            else:
                ranges.append([v, v])
        shown = [a if a == b else f"{a}-{b}" for a, b in ranges]
    else:
        shown = sorted(set(values))
    out = list(group[0])
    out[pos] = "{" + ", ".join(shown) + "}"
    return "".join(out)


def _grouped_lines(names: list[str]) -> list[str]:
    out, group, pos = [], [], None
    for name in sorted(names):
        parts = _name_parts(name)
        if group:
            here = _varying_position(group[-1], parts)
            fits = here is not None and (pos is None or here == pos)
            # A third member must vary the part the group varies, not return to its
            # first value.
            if fits and len(group) > 2 and group[-1][here] == group[0][here]:
                fits = False
            if fits:
                group.append(parts)
                pos = here
                continue
            out.append(_format_group(group))
        group, pos = [parts], None
    if group:
        out.append(_format_group(group))
    return out


def group_source_names(names: Iterable[str]) -> list[str]:
    """Sorted source names with runs of similar names shown as one (``XGM/{1-3}``)."""
    return _grouped_lines(list(names))


# ---- pieces of the text ----------------------------------------------------------------
def detector_info(data: "DataCollection", source: str) -> dict[str, Any]:
    """``dims``, ``frames_per_train`` and ``total_frames`` of one XTDF module source."""
    fa = sorted(data.files_for_source(source), key=lambda f: f.filename)[0]
    _, counts = fa.get_index(source, "image")
    per_train = set(np.unique(counts).tolist()) - {0}
    fpt = int(max(per_train)) if per_train else 0
    dims = tuple(fa.dataset_info(source, "image.data")[0][-2:])
    return {"dims": dims, "frames_per_train": fpt,
            "total_frames": fpt * len(data.train_id_array)}


def _trains_lines(data: "DataCollection") -> list[str]:
    tids = data.train_id_array
    if len(tids):
        seconds, tenths = divmod(int(tids[-1]) - int(tids[0]) + 1, 10)
        first, last = int(tids[0]), int(tids[-1])
        span = f"{timedelta(seconds=seconds)}.{tenths}"
    else:
        first = last = "-"
        span = "0.0"
    return [f"# of trains:    {len(tids)}", f"Duration:       {span}",
            f"First train ID: {first}", f"Last train ID:  {last}", ""]


def _xtdf_lines(data: "DataCollection") -> list[str]:
    by_detector: dict[str, dict[str, str]] = {}
    for src in data.detector_sources:
        name, modno = _DETECTOR_SOURCE.match(src).groups()
        by_detector.setdefault(name, {})[modno] = src
    lines = []
    for name in sorted(by_detector):
        modules = by_detector[name]
        lines.append(f"{len(modules)} XTDF detector modules of {name}/*")
        modno = sorted(modules)[0]
        info = detector_info(data, modules[modno])
        dims = " x ".join(str(d) for d in info["dims"])
        lines.append(f"  e.g. module {modno} : {dims} pixels")
        lines.append(f"  {modules[modno]}")
        lines.append(f"  {info['frames_per_train']} frames per train, up to "
                     f"{info['total_frames']} frames total")
        lines.append("")
    return lines


def _aggregator(sd: "SourceData") -> str:
    found = getattr(sd, "aggregator", None)
    if isinstance(found, str):
        return found
    m = _AGGREGATOR.search(sd.files[0].filename)
    return m.group(1) if m else "?"


def _counts_detail(sd: "SourceData", group: str) -> str:
    counts = sd.data_counts(labelled=False, index_group=group)
    with_data = counts[counts > 0]
    n = len(with_data)
    lo, hi = (int(with_data.min()), int(with_data.max())) if n else (0, 0)
    spread = f"{lo}" if lo == hi else f"{lo}–{hi}"
    return (f"data for {n} trains ({n / len(sd.train_ids):.2%}), "
            f"{spread} entries per train")


def _keys_lines(sd: "SourceData", keys: Iterable[str], key_aliases: dict) -> list[str]:
    lines = []
    for key in keys:
        kd = sd[key]
        aliases = key_aliases.get(key)
        alias = " <" + ", ".join(sorted(aliases)) + ">" if aliases else ""
        shape = f", entry shape {kd.entry_shape}" if kd.entry_shape else ""
        lines.append(f"- {key}{alias}\t[{kd.dtype}{shape}]")
    return lines


def _run_only_lines(sd: "SourceData", key_aliases: dict) -> list[str]:
    """Properties recorded only in the RUN section (e.g. classId)."""
    try:
        values = sd.run_values(inc_timestamps=False)
    except ValueError:  # no RUN section for this source, or data from several runs
        return []
    lines = []
    for key in sorted(set(values) - sd.keys(inc_timestamps=False)):
        value = values[key]
        aliases = key_aliases.get(key)
        alias = " <" + ", ".join(sorted(aliases)) + ">" if aliases else ""
        if isinstance(value, str):
            dtype, shape = "string", ()
        else:
            dtype, shape = np.asarray(value).dtype, np.shape(value)
        extra = f", entry shape {shape}" if shape else ""
        lines.append(f"- {key}{alias}\t[{dtype}{extra}]")
    return lines


class _InfoText:
    def __init__(self, data: "DataCollection", details_for_sources: Iterable[str],
                 counts: bool, group_sources: bool, with_aggregators: bool):
        self.data = data
        self.detail_res = [re.compile(fnmatch.translate(p)) for p in details_for_sources]
        self.counts = counts
        self.with_aggregators = with_aggregators
        self.group = group_sources and not (with_aggregators or counts)
        self.src_aliases: dict[str, set[str]] = {}
        self.key_aliases: dict[str, dict[str, set[str]]] = {}
        for alias, target in data._aliases.items():
            if isinstance(target, str):
                self.src_aliases.setdefault(target, set()).add(alias)
            else:
                self.key_aliases.setdefault(target[0], {}).setdefault(target[1], set()) \
                    .add(alias)

    def source_line(self, src: str) -> str:
        agg = f" [{_aggregator(self.data[src])}]" if self.with_aggregators else ""
        aliases = self.src_aliases.get(src)
        alias = "<" + ", ".join(sorted(aliases)) + ">" if aliases else ""
        return f"  -{agg} {src} {alias}"

    def list_sources(self, sources: Iterable[str], detail) -> list[str]:
        lines: list[str] = []
        pending: list[str] = []

        def flush():
            lines.extend(f"  - {g}" for g in _grouped_lines(pending))
            pending.clear()

        for src in sorted(sources):
            show_detail = any(r.match(src) for r in self.detail_res)
            if not self.group or show_detail or self.src_aliases.get(src):
                flush()
                lines.append(self.source_line(src))
                if show_detail:
                    lines += detail(src)
                elif self.counts and src in self.data.instrument_sources:
                    lines += self.counts_lines(src)
            else:
                if pending and not _grouped_lines_fit(pending, src):
                    flush()
                pending.append(src)
        flush()
        return lines

    def counts_lines(self, src: str) -> list[str]:
        sd = self.data[src]
        groups = sorted(sd.index_groups)
        if len(groups) == 1:
            return [f"    {_counts_detail(sd, groups[0])}"]
        return [f"    {g}: {_counts_detail(sd, g)}" for g in groups]

    def instrument_detail(self, src: str) -> list[str]:
        sd = self.data[src]
        lines = []
        by_group: dict[str, list[str]] = {}
        for key in sorted(sd.keys()):
            by_group.setdefault(key.split(".")[0], []).append(key)
        for group, keys in by_group.items():
            lines.append(f"    - {group}:")
            lines.append("      " + _counts_detail(sd, group))
            lines += ["      " + line for line in
                      _keys_lines(sd, keys, self.key_aliases.get(src, {}))]
        return lines

    def control_detail(self, src: str) -> list[str]:
        sd = self.data[src]
        lines = ["    - Control keys (1 entry per train):"]
        aliases = self.key_aliases.get(src, {})
        lines += ["      " + line for line in
                  _keys_lines(sd, sorted(sd.keys(inc_timestamps=False)), aliases)]
        run_only = _run_only_lines(sd, aliases)
        if run_only:
            lines.append("    - Additional run keys (1 entry per run):")
            lines += ["      " + line for line in run_only]
        return lines

    def text(self) -> str:
        data = self.data
        lines = _trains_lines(data)
        detailed = bool(self.detail_res) or self.counts
        if not detailed:
            lines += _xtdf_lines(data)
        inst = data.instrument_sources
        if detailed:
            lines.append(f"{len(inst)} instrument sources:")
        else:
            inst = inst - data.detector_sources
            lines.append(f"{len(inst)} instrument sources (excluding XTDF detectors):")
        lines += self.list_sources(inst, self.instrument_detail)
        lines.append("")
        lines.append(f"{len(data.control_sources)} control sources:")
        lines += self.list_sources(data.control_sources, self.control_detail)
        lines.append("")
        return "\n".join(lines)


def _grouped_lines_fit(pending: list[str], src: str) -> bool:
    return len(_grouped_lines(pending + [src])) == len(_grouped_lines(pending))


def info_text(data: "DataCollection", details_for_sources: Iterable[str] = (), *,
              counts: bool = False, group_sources: bool = True,
              with_aggregators: bool = False) -> str:
    """The overview :meth:`DataCollection.info` prints.

    Parameters
    ----------
    details_for_sources : iterable of str
        Source globs whose keys (dtype, entry shape, data counts) are listed.
    counts : bool
        Show data counts of every instrument source.
    group_sources : bool
        Show runs of similar names as one line, when no per-source option is on.
    with_aggregators : bool
        Show the aggregator (``DA01``, ``AGIPD00``...) that saved each source.
    """
    return _InfoText(data, details_for_sources or (), counts, group_sources,
                     with_aggregators).text()


def train_info_text(data: "DataCollection", train_id: int) -> str:
    """Which instrument and control sources have a file covering one train.

    Raises
    ------
    TrainNotFoundError
        If the train is not in the data (a KeyError and a ValueError).
    """
    tid = np.uint64(int(train_id))
    if tid not in data.train_id_array:
        raise TrainNotFoundError(f"Train {int(train_id)} is not in this data.")
    files = [fa for fa in data.files if tid in fa.train_ids]
    inst = sorted({s for fa in files for s in fa.instrument_sources} & data.all_sources)
    ctrl = sorted({s for fa in files for s in fa.control_sources} & data.all_sources)
    lines = [f"Train [{int(train_id)}] information", "Devices", "\tInstruments"]
    lines += [f"\t- {s}" for s in inst] or ["\t-"]
    lines.append("\tControls")
    lines += [f"\t- {s}" for s in ctrl] or ["\t-"]
    return "\n".join(lines)
