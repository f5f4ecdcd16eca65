"""Aliases: with_aliases, alias files, .alias[...], only_aliases, drop_aliases; as 1.25."""
from __future__ import annotations

import json

import numpy as np
import pytest

import xfconvert as xf

from .test_collection_parity import AGIPD, MOTOR, XGM, both, ed_run_dir, runs  # noqa: F401

ALIASES = {"sa1-xgm": XGM, "XGM_Out": XGM + ":output",
           "x-pos": (XGM, "beamPosition.ixPos"), "mod0": AGIPD.format(0),
           "stage": (MOTOR, "actualPosition"), "absent": "NO/SUCH/DEVICE",
           "absent-key": (XGM, "no.such.key")}

TOML = """\
sa1-xgm = "SA1_XTD2_XGM/DOOCS/MAIN"
x-pos = ["SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos"]

["SA1_XTD2_XGM/DOOCS/MAIN:output"]
xgm-td = "data.intensityTD"
"""

YAML = """\
sa1-xgm: SA1_XTD2_XGM/DOOCS/MAIN
x-pos: [SA1_XTD2_XGM/DOOCS/MAIN, beamPosition.ixPos]
SA1_XTD2_XGM/DOOCS/MAIN:output:
  xgm-td: data.intensityTD
"""


@pytest.fixture(scope="module")
def alias_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aliases")
    files = {"toml": tmp / "a.toml", "yaml": tmp / "a.yaml", "json": tmp / "a.json"}
    files["toml"].write_text(TOML)
    files["yaml"].write_text(YAML)
    files["json"].write_text(json.dumps({
        "sa1-xgm": XGM, "x-pos": [XGM, "beamPosition.ixPos"],
        XGM + ":output": {"xgm-td": "data.intensityTD"}}))
    return files


def describe(obj):
    """What an alias lookup gives, comparable across the libraries."""
    if hasattr(obj, "key"):
        return ("key", obj.source, obj.key)
    return ("source", obj.source, sorted(obj.keys()))


@pytest.mark.parametrize("item", ["sa1-xgm", "SA1_XGM", "xgm-out", "x-pos", "x_POS", "mod0",
                                  ("sa1-xgm", "beamPosition.iyPos"), ("mod0", "image.data"),
                                  "stage", "nope", "absent", "absent-key",
                                  ("x-pos", "image.data"), ("sa1-xgm", "no.key")])
def test_alias_lookup_matches(runs, item):
    a, b = both(runs, lambda d, m: describe(d.with_aliases(ALIASES).alias[item]))
    if a[0] == "raised":
        assert b[0] == "raised" and a[1] <= b[1]  # ours may add a builtin, never drop one
    else:
        assert a == b
    a, b = both(runs, lambda d, m: item in d.with_aliases(ALIASES).alias)
    assert a == b


@pytest.mark.parametrize("kind", ["json", "toml", "yaml"])
def test_alias_files_match(runs, alias_files, kind):
    path = alias_files[kind]
    for item in ["sa1-xgm", "x-pos", "xgm-td"]:
        a, b = both(runs, lambda d, m: describe(d.with_aliases(str(path)).alias[item]))
        assert a == b
    assert runs[1].with_aliases(path).alias.file_paths() == [path]


def test_alias_file_errors(tmp_path, runs):
    bad = tmp_path / "a.txt"
    bad.write_text("xgm SA1_XTD2_XGM/DOOCS/MAIN\n")
    with pytest.raises(ValueError, match="unknown format"):
        runs[1].with_aliases(bad)
    wrong = tmp_path / "w.json"
    wrong.write_text(json.dumps({"xgm": 3}))
    with pytest.raises(ValueError, match="'xgm'"):
        runs[1].with_aliases(wrong)
    with pytest.raises(FileNotFoundError):
        runs[1].with_aliases(tmp_path / "missing.json")


def test_conflicting_aliases_raise(runs):
    for dc in runs:
        with pytest.raises(ValueError):
            dc.with_aliases({"a-b": XGM}).with_aliases({"A_B": MOTOR})
        assert dc.with_aliases({"a": XGM}, {"A": XGM}).alias["a"].source == XGM


@pytest.mark.parametrize("options", [{}, {"strict": True}, {"require_all": True}])
def test_only_aliases_matches(runs, options):
    aliases = {k: v for k, v in ALIASES.items() if not k.startswith("absent")}
    a, b = both(runs, lambda d, m: d.only_aliases(aliases, **options))
    if a[0] == "raised":  # strict, and an aliased source is not in this run
        assert b[0] == "raised" and a[1] <= b[1]
        return
    assert {s: None if k is None else frozenset(k) for s, k in a.selection.items()} == \
        {s: None if k is None else frozenset(k) for s, k in b.selection.items()}
    assert [int(t) for t in a.train_ids] == b.train_ids
    a, b = both(runs, lambda d, m: d.only_aliases(ALIASES, strict=True))
    assert a[0] == b[0] == "raised"


@pytest.mark.parametrize("call", [
    lambda d: d.alias.select("sa1-xgm", "beamPosition.*"),
    lambda d: d.alias.select(["x-pos", ("mod0", "image.data"), "xgm-out"]),
    lambda d: d.alias.select({"sa1-xgm": {"beamPosition.iyPos"}, "mod0": set()}),
    lambda d: d.alias.deselect([("sa1-xgm", "beamPosition.*")]),
])
def test_alias_select_matches(runs, call):
    a, b = both(runs, lambda d, m: call(d.with_aliases(ALIASES)).selection)
    assert {s: None if k is None else frozenset(k) for s, k in a.items()} == \
        {s: None if k is None else frozenset(k) for s, k in b.items()}


def test_aliases_survive_selections_and_union(runs):
    motor = sorted(runs[1].select("*/MOTOR/*").all_sources)[0]
    xf_dc = runs[1].with_aliases({"sa1-xgm": XGM}, {"stage": (motor, "actualPosition")})
    derived = [xf_dc.select("*XGM*"), xf_dc.select_trains(xf.by_index[:3]),
               xf_dc.deselect("*/DET/*"), next(xf_dc.split_trains(2)),
               xf_dc.select("*XGM*").union(runs[1].select("*/MOTOR/*"))]
    for dc in derived:
        assert dc.alias["sa1-xgm"].source == XGM
    sel = xf_dc.select_trains(xf.by_index[:3])
    np.testing.assert_array_equal(sel.alias["stage"].ndarray(),
                                  sel[motor, "actualPosition"].ndarray())
    assert xf_dc.drop_aliases()._aliases == {}
    with pytest.raises(KeyError):
        xf_dc.drop_aliases().alias["sa1-xgm"]
    with pytest.raises(ValueError):
        xf_dc.union(runs[1].with_aliases({"sa1-xgm": motor}))


def test_info_shows_aliases_as_1_25(runs, capsys):
    ed_dc, xf_dc = runs
    aliases = {"sa1-xgm": XGM, "x-pos": (XGM, "beamPosition.ixPos")}
    ed_dc.with_aliases(aliases).info(details_for_sources=["*XGM*"])
    assert xf_dc.with_aliases(aliases).info_text(["*XGM*"]) + "\n" == capsys.readouterr().out
