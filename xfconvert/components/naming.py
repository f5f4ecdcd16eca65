"""Finding a detector's module sources: raw and corrected names, ``raw=None|True|False``.

Raw module data is written by sources ``<DET>/DET/<n>CH0:xtdf`` (JUNGFRAU:
``<DET>/DET/(MODULE_|RECEIVER-|JNGFR)<n>:daqOutput``). Corrected data has been written
under ``<DET>/CORR/...`` names since 2026; before that it used the raw names, with
floating point data (AGIPD: frames without the data/gain axis). :func:`identify_sources`
picks one of the two namings as the ``raw`` argument of every component asks:

* ``raw=None`` (default): corrected (``/CORR/``) sources if there are any, else the
  ``/DET/`` ones, warning if those hold raw data;
* ``raw=True``: the ``/DET/`` sources, which must hold raw data;
* ``raw=False``: corrected data only.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> path = make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="agipd",
...                 corrected="both", corrected_naming="2026", n_modules=2,
...                 module_shape=(8, 4), n_trains=2, slow_data=False)
>>> run = RunDirectory(path)
>>> from xfconvert.components import AGIPD1M
>>> sorted(identify_sources(AGIPD1M, run, "SPB_DET_AGIPD1M-1", raw=True))
['SPB_DET_AGIPD1M-1/DET/0CH0:xtdf', 'SPB_DET_AGIPD1M-1/DET/1CH0:xtdf']
>>> sorted(identify_sources(AGIPD1M, run, "SPB_DET_AGIPD1M-1"))
['SPB_DET_AGIPD1M-1/CORR/0CH0:output', 'SPB_DET_AGIPD1M-1/CORR/1CH0:output']
>>> identify_multimod_detectors(run, single=True)[0]
'SPB_DET_AGIPD1M-1'
"""
from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Iterable

import numpy as np

from ..exceptions import NoDataError, OptionError, SourceNameError

if TYPE_CHECKING:
    from ..readers.collection import DataCollection

__all__ = ["RawDataWarning", "data_is_raw", "find_detector_names", "identify_sources",
           "identify_multimod_detectors"]


class RawDataWarning(UserWarning):
    """A component fell back to raw data because the run has no corrected sources."""


def _module_re(cls, detector_name: str | None, corrected: bool) -> re.Pattern:
    name = re.escape(detector_name) if detector_name is not None else cls._det_name_pat
    part = cls._source_corr_pat if corrected else cls._source_raw_pat
    return re.compile(f"(?P<detname>{name}){part}")


def find_detector_names(cls, data: "DataCollection") -> set[str]:
    """Names of the detectors of component class ``cls`` in ``data`` (either naming)."""
    raw_re, corr_re = _module_re(cls, None, False), _module_re(cls, None, True)
    names = set()
    for source in data.instrument_sources:
        m = raw_re.match(source) or corr_re.match(source)
        if m:
            names.add(m["detname"])
    return names


def find_detector_name(cls, data: "DataCollection") -> str:
    """The one detector of class ``cls`` in ``data``.

    Raises
    ------
    SourceNameError
        No such detector (a KeyError).
    OptionError
        Several of them (a ValueError): pass ``detector_name``.
    """
    names = find_detector_names(cls, data)
    if not names:
        raise SourceNameError(f"{cls._det_name_pat}({cls._source_raw_pat}|"
                              f"{cls._source_corr_pat})",
                              f"No {cls.__name__} detector found in the data.")
    if len(names) > 1:
        listed = ", ".join(repr(n) for n in sorted(names))
        raise OptionError(f"Multiple detectors found in the data: {listed}. "
                          f"Pass detector_name to {cls.__name__}() to pick one.")
    return names.pop()


def _matching_sources(data: "DataCollection", pattern: re.Pattern) -> dict[str, int]:
    found: dict[str, int] = {}
    for source in sorted(data.instrument_sources):
        m = pattern.match(source)
        if m:
            found[source] = int(m["modno"])
    by_modno: dict[int, str] = {}
    for source, modno in found.items():
        if modno in by_modno:
            raise OptionError(f"Two sources for module {modno}: {by_modno[modno]} and "
                              f"{source}. Select one of them first (data.deselect(...)).")
        by_modno[modno] = source
    return found


def data_is_raw(cls, data: "DataCollection", source: str) -> bool:
    """Whether ``source`` holds raw data: not ``/CORR/``-named, and the main key has an
    integer dtype (AGIPD: 4-D, i.e. frames with the data/gain axis)."""
    if "/CORR/" in source:
        return False
    kd = data[source, cls._main_data_key]
    if cls._raw_by_ndim is not None:
        return kd.ndim == cls._raw_by_ndim
    return bool(np.issubdtype(kd.dtype, np.integer))


def identify_sources(cls, data: "DataCollection", detector_name: str,
                     modules: Iterable[int] | None = None, raw: bool | None = None,
                     stacklevel: int = 3) -> dict[str, int]:
    """``{source: module number}`` of detector ``detector_name``, chosen as ``raw`` asks.

    Raises
    ------
    SourceNameError
        No sources of the asked kind (or none of ``modules``).
    OptionError
        ``raw=True`` but the ``/DET/`` sources hold corrected data.
    """
    if raw not in (None, True, False):
        raise OptionError(f"raw must be None, True or False, not {raw!r}.")
    if raw:
        found = _matching_sources(data, _module_re(cls, detector_name, False))
        corrected = [s for s in found if not data_is_raw(cls, data, s)]
        if corrected:
            raise OptionError(f"Raw data was not found: {detector_name}/DET/... sources "
                              f"are from corrected data ({corrected[0]}).")
    else:
        found = _matching_sources(data, _module_re(cls, detector_name, True))
        if not found:
            found = _matching_sources(data, _module_re(cls, detector_name, False))
            if any(data_is_raw(cls, data, s) for s in found):
                if raw is False:
                    raise SourceNameError(f"{detector_name}/CORR/...",
                                          "No corrected data (raw=False) for this detector.")
                warnings.warn("Falling back to raw data: no corrected sources of "
                              f"{detector_name}. Pass raw=False to make this an error, "
                              "or raw=True to work with raw data.", RawDataWarning,
                              stacklevel=stacklevel)
    if modules is not None:
        wanted = {int(m) for m in modules}
        found = {s: n for s, n in found.items() if n in wanted}
    if not found:
        kind = "(DET|CORR)" if raw is None else "DET" if raw else "CORR"
        raise SourceNameError(f"{detector_name}/{kind}/...",
                              "No module sources" + (f" for modules {sorted(wanted)}"
                                                     if modules is not None else "") + ".")
    return dict(sorted(found.items(), key=lambda kv: kv[1]))


def identify_multimod_detectors(data: "DataCollection", detector_name: str | None = None, *,
                                single: bool = False, clses=None):
    """Find the multi-module detectors in the data, raw or corrected.

    Parameters
    ----------
    data : DataCollection
    detector_name : str, optional
        Consider only detectors of this name.
    single : bool
        True: return the one ``(detector_name, class)`` found, raising if there is not
        exactly one. False: return a set of all of them.
    clses : iterable of classes, optional
        Component classes to look for (default: AGIPD1M, AGIPD500K, DSSC1M, LPD1M,
        LPDSolo, JUNGFRAU).

    Raises
    ------
    NoDataError
        ``single=True`` and no detector found (a ValueError).
    OptionError
        ``single=True`` and several detectors found (a ValueError).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xfconvert import RunDirectory
    >>> from xfconvert.testing import make_run
    >>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1",
    ...                             detector="jungfrau", n_modules=2, module_shape=(4, 4),
    ...                             memory_cells=1, n_trains=2, slow_data=False))
    >>> name, cls = identify_multimod_detectors(run, single=True)
    >>> name, cls.__name__
    ('SPB_IRDA_JF4M', 'JUNGFRAU')
    """
    if clses is None:
        from .jungfrau import JUNGFRAU
        from .xtdf import AGIPD1M, AGIPD500K, DSSC1M, LPD1M, LPDSolo
        clses = (AGIPD1M, AGIPD500K, DSSC1M, LPD1M, LPDSolo, JUNGFRAU)
    found = {(name, cls) for cls in clses for name in find_detector_names(cls, data)
             if detector_name is None or name == detector_name}
    if not single:
        return found
    if not found:
        raise NoDataError("No multi-module detector found"
                          + (f" named {detector_name!r}." if detector_name else "."))
    if len(found) > 1:
        names = ", ".join(sorted(f"{n} ({c.__name__})" for n, c in found))
        raise OptionError(f"Several multi-module detectors found: {names}. "
                          "Pass detector_name= or clses=.")
    return found.pop()
