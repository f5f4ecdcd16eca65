"""Facts about a run as a whole: METADATA of its files and the time of each train.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=3))
>>> run_metadata(run)["dataFormatVersion"]
'1.0'
>>> train_timestamps(run).dtype
dtype('<M8[ns]')
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import NoDataError, OptionError
from .run_values import file_metadata

if TYPE_CHECKING:
    from .collection import DataCollection
    from .file_access import FileAccess

__all__ = ["run_metadata", "train_timestamps"]


def run_metadata(data: "DataCollection") -> dict[str, Any]:
    """METADATA of the run: proposalNumber, runNumber, creationDate, dataFormatVersion...

    Read from the file with the earliest trains (the first sequence file).

    Raises
    ------
    NoDataError
        If the data has no files, or its files come from more than one run
        (e.g. after ``union``); also a ValueError.
    """
    if not data.files:
        raise NoDataError("run_metadata: this data has no files.")
    files = sorted(data.files, key=lambda fa: (int(fa.train_ids[0]) if len(fa.train_ids)
                                               else 0, fa.filename))
    meta = file_metadata(files[0])
    runs = {(m.get("proposalNumber"), m.get("runNumber"))
            for m in (file_metadata(fa) for fa in files)}
    if len(runs) > 1:
        shown = ", ".join(f"p{p} r{r}" for p, r in sorted(runs, key=str))
        raise NoDataError(f"run_metadata needs data from one run; this data combines "
                          f"{len(runs)} runs ({shown}). Ask each run before union().")
    return meta


def train_timestamps(data: "DataCollection", labelled: bool = False, *,
                     pydatetime: bool = False, euxfel_local_time: bool = False):
    """Approximate timestamp of each selected train, from ``INDEX/timestamp`` (UTC).

    Parameters
    ----------
    labelled : bool
        Return a pandas Series (timezone-aware, indexed by train ID).
    pydatetime : bool
        Return a list of ``datetime`` objects (millisecond precision, UTC), None for
        trains without a timestamp.
    euxfel_local_time : bool
        With ``labelled`` or ``pydatetime``: convert to Europe/Berlin time.

    Returns
    -------
    numpy.ndarray of datetime64[ns], pandas.Series or list
        NaT (None) for trains whose files have no timestamps (format < 1.0).

    Raises
    ------
    OptionError
        ``euxfel_local_time`` without ``labelled`` or ``pydatetime`` (a ValueError).
    """
    if euxfel_local_time and not (labelled or pydatetime):
        raise OptionError("euxfel_local_time needs labelled=True or pydatetime=True.")
    tids = data.train_id_array
    stamps = np.zeros(len(tids), dtype=np.uint64)
    todo = np.ones(len(tids), dtype=bool)
    selected = {fa for src in data.all_sources for fa in data.files_for_source(src)}
    for fa in (fa for fa in data.files if fa in selected):
        if not todo.any():
            break
        ftids = fa.train_ids
        common, in_file, in_sel = np.intersect1d(ftids, tids, assume_unique=True,
                                                 return_indices=True)
        pick = todo[in_sel]
        if not pick.any() or "INDEX/timestamp" not in fa.file:
            continue
        raw = np.asarray(fa.file["INDEX/timestamp"][()], dtype=np.uint64)
        file_stamps = raw[fa.raw_positions]
        stamps[in_sel[pick]] = file_stamps[in_file[pick]]
        todo[in_sel[pick]] = False
    arr = stamps.astype("datetime64[ns]")
    arr[stamps == 0] = np.datetime64("NaT")
    if labelled:
        import pandas as pd
        series = pd.Series(arr, index=tids).dt.tz_localize("UTC")
        return series.dt.tz_convert("Europe/Berlin") if euxfel_local_time else series
    if pydatetime:
        from datetime import timezone
        tz = timezone.utc
        if euxfel_local_time:
            from zoneinfo import ZoneInfo
            tz = ZoneInfo("Europe/Berlin")
        out = []
        for value in arr.astype("datetime64[ms]").tolist():
            out.append(None if value is None else
                       value.replace(tzinfo=timezone.utc).astimezone(tz))
        return out
    return arr
