"""SourceData: one source (device or output channel) of a selection.

Examples
--------
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=4))
>>> xgm = run["SA1_XTD2_XGM/DOOCS/MAIN"]
>>> "beamPosition.ixPos.value" in xgm.keys()
True
>>> xgm["beamPosition.ixPos"].shape
(4,)
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..exceptions import NoDataError, PropertyNameError
from .file_access import FileAccess
from .keydata import KeyData, split_slices
from .selection import TrainSelection, select_train_ids

__all__ = ["SourceData"]


class SourceData:
    """The data of one source for a selection of trains and keys.

    Attributes
    ----------
    source : str
    files : tuple of FileAccess
    is_control : bool
        True for control (slow) data, False for instrument (fast) data.
    """

    def __init__(self, source: str, *, train_ids: np.ndarray, files: tuple[FileAccess, ...],
                 is_control: bool, selected_keys: frozenset[str] | None):
        self.source = source
        self.files = files
        self.is_control = is_control
        self._train_ids = np.asarray(train_ids, dtype=np.uint64)
        self._selected_keys = selected_keys
        self._first: FileAccess | None = None

    def __repr__(self) -> str:
        kind = "control" if self.is_control else "instrument"
        return f"<SourceData {self.source!r} ({kind}) for {len(self._train_ids)} trains>"

    @property
    def train_ids(self) -> list[int]:
        return self._train_ids.tolist()

    @property
    def train_id_array(self) -> np.ndarray:
        return self._train_ids

    @property
    def index_groups(self) -> frozenset[str]:
        """INDEX groups of the selected keys ('' for control sources)."""
        return frozenset(FileAccess.index_group(self.is_control, k) for k in self.keys())

    def keys(self, inc_timestamps: bool = True) -> frozenset[str]:
        """The selected keys (control keys end with ``.value``/``.timestamp``)."""
        if self._selected_keys is not None:
            keys = self._selected_keys
        else:
            keys = self._first_file().get_keys(self.source)
        if not inc_timestamps and self.is_control:
            keys = frozenset(k for k in keys if not k.endswith(".timestamp"))
        return keys

    def _first_file(self) -> FileAccess:
        # Any file whose train range overlaps the selection will do: files of one source
        # share their keys. Cached: key lookups happen once per key on big runs.
        if self._first is None:
            tids = self._train_ids
            self._first = self.files[0]
            if len(tids):
                for fa in self.files:
                    ft = fa.train_ids
                    if len(ft) and ft[0] <= tids[-1] and ft[-1] >= tids[0]:
                        self._first = fa
                        break
        return self._first

    def resolve_key(self, key: str) -> str:
        """The stored key name: control properties get ``.value`` appended."""
        keys = self.keys()
        if key in keys:
            return key
        if self.is_control and f"{key}.value" in keys:
            return f"{key}.value"
        raise PropertyNameError(key, self.source)

    def __contains__(self, key: str) -> bool:
        try:
            self.resolve_key(key)
        except KeyError:
            return False
        return True

    def __getitem__(self, key: str) -> KeyData:
        return KeyData(self.source, self.resolve_key(key), train_ids=self._train_ids,
                       files=self.files, is_control=self.is_control)

    def one_key(self) -> str:
        """A selected key, preferring the smallest index group (cheap to read)."""
        keys = sorted(self.keys())
        if not keys:
            raise NoDataError(f"No keys selected for {self.source}.")
        return keys[0]

    def data_counts(self, labelled: bool = True, index_group: str | None = None):
        """Entries per train (for one index group of an instrument source).

        Parameters
        ----------
        labelled : bool
            Return a pandas Series indexed by train ID (True) or a numpy array.
        index_group : str, optional
            For instrument sources with several groups; default: the group of
            :meth:`one_key`.
        """
        if index_group is None:
            key = self.one_key()
        else:
            key = next((k for k in sorted(self.keys())
                        if FileAccess.index_group(self.is_control, k) == index_group), None)
            if key is None:
                raise PropertyNameError(index_group + ".*", self.source)
        return self[key].data_counts(labelled=labelled)

    def _with_trains(self, train_ids: np.ndarray) -> "SourceData":
        return SourceData(self.source, train_ids=train_ids, files=self.files,
                          is_control=self.is_control, selected_keys=self._selected_keys)

    def select_trains(self, trains: TrainSelection) -> "SourceData":
        """A new SourceData for a subset of trains."""
        return self._with_trains(select_train_ids(self._train_ids, trains))

    def split_trains(self, parts: int | None = None,
                     trains_per_part: int | None = None) -> Iterator["SourceData"]:
        """Split into consecutive pieces by train."""
        for sl in split_slices(len(self._train_ids), parts, trains_per_part):
            yield self._with_trains(self._train_ids[sl])

    def run_value(self, key: str) -> Any:
        """The value of a control key at the start of the run (from the RUN section)."""
        if not self.is_control:
            raise PropertyNameError(key, self.source + " (run values exist only for control sources)")
        stored = self.resolve_key(key)
        if stored.endswith(".timestamp"):
            raise PropertyNameError(key, self.source)
        fa = self._first_file()
        path = f"RUN/{self.source}/{stored.replace('.', '/')}"
        if path not in fa.file:
            raise PropertyNameError(key, self.source + f" (no RUN value in {fa.filename})")
        value = fa.file[path][()]
        value = value[0] if getattr(value, "ndim", 0) >= 1 else value
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value.item() if getattr(value, "ndim", 1) == 0 else value

    def run_values(self, inc_timestamps: bool = False) -> dict[str, Any]:
        """All RUN values of the selected keys, keyed without the ``.value`` suffix."""
        out = {}
        for key in sorted(self.keys(inc_timestamps=False)):
            name = key[:-6] if key.endswith(".value") else key
            out[name] = self.run_value(key)
            if inc_timestamps:
                fa = self._first_file()
                path = f"RUN/{self.source}/{name.replace('.', '/')}/timestamp"
                if path in fa.file:
                    out[name + ".timestamp"] = fa.file[path][0].item()
        return out
