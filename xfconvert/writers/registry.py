"""Finding writers: the ``xfconvert.writers`` entry-point group.

Built-in writers register exactly as third-party ones do, in their package's metadata::

    [project.entry-points."xfconvert.writers"]
    mywriter = "mypackage.module:MyWriter"

Entry points are loaded on first use and cached. A plugin that fails to load is reported
with a warning and left out; it never breaks the others.

Examples
--------
>>> from xfconvert.writers.registry import list_writers, get_writer
>>> "euxfel" in list_writers()
True
>>> get_writer("euxfel").suffix
'.h5'
"""
from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from importlib.metadata import entry_points

from ..exceptions import OptionError

log = logging.getLogger(__name__)

__all__ = ["list_writers", "get_writer", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "xfconvert.writers"
_REQUIRED = ("name", "description", "suffix", "output_is_directory", "options_type",
             "plan", "write_plan")


@lru_cache(maxsize=1)
def _load_all() -> dict[str, type]:
    writers: dict[str, type] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            cls = ep.load()
        except Exception as err:  # a broken plugin must not break xfconvert
            warnings.warn(f"xfconvert writer plugin {ep.name!r} ({ep.value}) failed to "
                          f"load: {err}", RuntimeWarning, stacklevel=2)
            continue
        missing = [attr for attr in _REQUIRED if not hasattr(cls, attr)]
        if missing:
            warnings.warn(f"xfconvert writer plugin {ep.name!r} ({ep.value}) lacks "
                          f"{', '.join(missing)}; ignored.", RuntimeWarning, stacklevel=2)
            continue
        if ep.name in writers:
            warnings.warn(f"Two xfconvert writers named {ep.name!r}; keeping "
                          f"{writers[ep.name].__module__}.", RuntimeWarning, stacklevel=2)
            continue
        writers[ep.name] = cls
    return writers


def list_writers() -> dict[str, type]:
    """Installed writers by name (loaded on the first call, then cached)."""
    return dict(_load_all())


def get_writer(name_or_class: str | type) -> type:
    """The writer class for a name, or the class itself if a writer class is given.

    Raises
    ------
    OptionError
        If no writer has that name.
    """
    if isinstance(name_or_class, type):
        return name_or_class
    writers = _load_all()
    try:
        return writers[name_or_class]
    except KeyError:
        raise OptionError(f"No writer named {name_or_class!r}; available: "
                          f"{', '.join(sorted(writers)) or '(none installed)'}.") from None


def clear_cache() -> None:
    """Forget loaded writers (after installing a plugin in a running process)."""
    _load_all.cache_clear()
