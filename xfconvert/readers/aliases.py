"""Aliases: short names for sources and (source, key) pairs of a DataCollection.

An alias maps to a source name (``'xgm' -> 'SA1_XTD2_XGM/DOOCS/MAIN'``) or to a
``(source, key)`` pair. Aliases are compared case-insensitively, with ``_`` and ``-``
treated alike. Definitions come from dicts or from alias files:

- JSON (``.json``) and TOML (``.toml``, read with the standard library's ``tomllib``);
- YAML (``.yaml``/``.yml``) when PyYAML is installed.

In a file, a top-level string value aliases a source, a two-item list aliases a
``(source, key)`` pair, and a table/mapping named after a source holds ``alias: key``
pairs for that source.

Examples
--------
>>> import json, tempfile, pathlib
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> run = RunDirectory(make_run(tmp / "r", n_trains=3))
>>> _ = (tmp / "aliases.json").write_text(json.dumps({
...     "xgm": "SA1_XTD2_XGM/DOOCS/MAIN",
...     "SA1_XTD2_XGM/DOOCS/MAIN:output": {"xgm-td": "data.intensityTD"}}))
>>> run = run.with_aliases(tmp / "aliases.json")
>>> run.alias["xgm-td"].shape
(3, 1000)
>>> sorted(run.alias.select("xgm", "beamPosition.*").all_sources)
['SA1_XTD2_XGM/DOOCS/MAIN']
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ..exceptions import MissingDependencyError, OptionError, SourceNameError

if TYPE_CHECKING:
    from .collection import DataCollection

__all__ = ["AliasIndexer", "aliased_pairs", "load_alias_file", "merge_aliases", "normalise_alias",
           "parse_alias_defs"]

AliasTarget = Union[str, "tuple[str, str]"]


def normalise_alias(alias: str) -> str:
    """The form aliases are stored and compared in: lower case, ``-`` for ``_``.

    >>> normalise_alias("SA1_XGM")
    'sa1-xgm'
    """
    return alias.lower().replace("_", "-")


def _check_target(alias, target, where: str) -> AliasTarget:
    if isinstance(target, str):
        return target
    if isinstance(target, (tuple, list)) and len(target) == 2 and \
            all(isinstance(t, str) for t in target):
        return (target[0], target[1])
    raise OptionError(f"Alias {alias!r} in {where}: expected a source name or a "
                      f"(source, key) pair, got {target!r}.")


def _read_file(path: Path) -> Mapping[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".json":
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    if suffix == ".toml":
        import tomllib
        with open(path, "rb") as f:
            return tomllib.load(f)
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as err:
            raise MissingDependencyError("PyYAML", f"Reading the YAML alias file {path}",
                                         "yaml") from err
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f) or {}
    raise OptionError(f"Alias file {path}: unknown format {suffix!r}; use .json, .toml, "
                      ".yaml or .yml.")


def load_alias_file(path) -> dict[str, AliasTarget]:
    """Read alias definitions from a JSON, TOML or YAML file.

    Returns
    -------
    dict
        alias (as written) -> source, or ``(source, key)``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    OptionError
        An unknown file format, or a value that is not a source, a pair or a table.
    MissingDependencyError
        A YAML file without PyYAML installed.
    """
    path = Path(path)
    data = _read_file(path)
    if not isinstance(data, Mapping):
        raise OptionError(f"Alias file {path}: expected a mapping at the top level.")
    aliases: dict[str, AliasTarget] = {}
    for name, value in data.items():
        if isinstance(value, Mapping):
            for alias, key in value.items():
                aliases[alias] = _check_target(alias, (name, key), str(path))
        else:
            aliases[name] = _check_target(name, value, str(path))
    return aliases


def parse_alias_defs(alias_defs: Iterable) -> tuple[list[dict[str, AliasTarget]], list[Path]]:
    """Dicts and alias-file paths -> (alias dicts, the files read)."""
    dicts, files = [], []
    for alias_def in alias_defs:
        if isinstance(alias_def, Mapping):
            dicts.append({alias: _check_target(alias, target, "the alias dict")
                          for alias, target in alias_def.items()})
        elif isinstance(alias_def, (str, os.PathLike)):
            files.append(Path(alias_def))
            dicts.append(load_alias_file(alias_def))
        else:
            raise TypeError(f"An alias definition is a dict or a file path, got "
                            f"{type(alias_def).__name__}.")
    return dicts, files


def merge_aliases(alias_dicts: Iterable[Mapping[str, AliasTarget]]) -> dict[str, AliasTarget]:
    """Merge alias dicts (normalising names); the same alias for two targets raises.

    Raises
    ------
    OptionError
        Conflicting definitions (also a ValueError).
    """
    merged: dict[str, AliasTarget] = {}
    for aliases in alias_dicts:
        for alias, target in aliases.items():
            name = normalise_alias(alias)
            if merged.setdefault(name, target) != target:
                raise OptionError(f"Conflicting definitions of alias {name!r}: "
                                  f"{merged[name]!r} and {target!r}.")
    return merged


def aliased_pairs(aliases: Mapping[str, AliasTarget], present_in: "DataCollection | None"
                  ) -> list[tuple[str, str]]:
    """``(source, key glob)`` pairs selecting every aliased source and key.

    A source alias takes all of its keys (key aliases of that source add nothing). With
    ``present_in``, sources and keys that data does not have are left out.
    """
    sources = {v for v in aliases.values() if isinstance(v, str)}
    pairs = [(s, "*") for s in sorted(sources)]
    pairs += sorted({v for v in aliases.values() if isinstance(v, tuple) and v[0] not in sources})
    if present_in is not None:
        pairs = [(s, k) for s, k in pairs if s in present_in.all_sources
                 and (k == "*" or k in present_in[s])]
    return pairs


class AliasIndexer:
    """``data.alias[...]``: sources and keys by alias.

    ``alias['xgm']`` gives a SourceData (or a KeyData for a (source, key) alias);
    ``alias['xgm', 'beamPosition.ixPos']`` a KeyData of an aliased source.
    """

    __slots__ = ("data",)

    def __init__(self, data: "DataCollection"):
        self.data = data

    def _resolve(self, alias: str) -> AliasTarget:
        try:
            return self.data._aliases[normalise_alias(alias)]
        except KeyError:
            known = ", ".join(sorted(self.data._aliases)) or "none defined"
            raise SourceNameError(alias, f"It is not an alias of this data either "
                                         f"(aliases: {known}).") from None

    def _resolve_source(self, alias: str) -> str:
        target = self._resolve(alias)
        if isinstance(target, tuple):
            raise OptionError(f"Alias {alias!r} names a (source, key) pair {target!r}, "
                              "not a source.")
        return target

    def __getitem__(self, item):
        if isinstance(item, tuple) and len(item) == 2:
            return self.data[self._resolve_source(item[0]), item[1]]
        if isinstance(item, str):
            return self.data[self._resolve(item)]
        raise TypeError("Expected alias['name'] or alias['source alias', 'key'].")

    def __contains__(self, item) -> bool:
        try:
            self[item]
        except KeyError:
            return False
        return True

    def _ipython_key_completions_(self) -> list[str]:
        return list(self.data._aliases)

    def file_paths(self) -> list[Path]:
        """The alias files these aliases were read from."""
        return list(self.data._alias_files)

    def _selection(self, seln, key_glob: str):
        if isinstance(seln, str):
            seln = [(seln, key_glob)]
        if isinstance(seln, Mapping):
            return {self._resolve_source(alias): keys for alias, keys in seln.items()}
        out = []
        for item in seln:
            if isinstance(item, tuple) and len(item) == 2:
                out.append((self._resolve_source(item[0]), item[1]))
            else:
                target = self._resolve(item)
                out.append((target, "*") if isinstance(target, str) else target)
        return out

    def select(self, seln_or_alias, key_glob: str = "*", require_all: bool = False,
               require_any: bool = False) -> "DataCollection":
        """:meth:`DataCollection.select` with aliases for sources: an alias and a key
        glob, an iterable of aliases and (source alias, key glob) pairs, or a dict of
        source aliases to key sets."""
        return self.data.select(self._selection(seln_or_alias, key_glob),
                                require_all=require_all, require_any=require_any)

    def deselect(self, seln_or_alias, key_glob: str = "*") -> "DataCollection":
        """:meth:`DataCollection.deselect` with aliases (same forms as :meth:`select`)."""
        return self.data.deselect(self._selection(seln_or_alias, key_glob))

    def __str__(self) -> str:
        return f"<xfconvert AliasIndexer with {len(self.data._aliases)} aliases>"

    def __repr__(self) -> str:
        aliases = self.data._aliases
        if not aliases:
            return "No aliases have been loaded."
        lines = []
        for path in self.file_paths():
            lines.append(f"Alias file: {path}")
        lines.append("Loaded aliases:")
        for alias in sorted(aliases):
            target = aliases[alias]
            mark = " " if alias in self else "✗"
            shown = target if isinstance(target, str) else f"({target[0]}, {target[1]})"
            lines.append(f"{mark} {alias}: {shown}")
        return "\n".join(lines)
