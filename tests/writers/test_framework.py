"""The writer framework: registry, options, atomic outputs, schema mirrors, plugins."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import typing
from importlib import resources
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Literal, Optional

import pytest

from xfconvert import RunDirectory
from xfconvert.exceptions import NoDataError, OptionError, OutputError, OutputExistsError
from xfconvert.testing import make_run
from xfconvert.writers import base, registry
from xfconvert.writers.base import WritePlan, atomic_output, convert, make_options


@dataclasses.dataclass(frozen=True)
class _Opts:
    level: int = 1
    ratio: float = 0.5
    fast: bool = False
    mode: Literal["a", "b"] = "a"
    name: Optional[str] = None


class TextWriter:
    """A minimal third-party writer: train IDs of each source, one line per source."""

    name = "text"
    description = "Train counts as text"
    suffix = ".txt"
    output_is_directory = False
    options_type = _Opts

    def plan(self, data, options):
        items = sorted(data.all_sources)
        return WritePlan(data, options, items, total=len(items))

    def write_plan(self, plan, path, progress):
        with open(path, "w") as fh:
            for i, src in enumerate(plan.items, 1):
                fh.write(f"{src} {len(plan.data.train_ids)} {plan.options.level}\n")
                progress(i, plan.total)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return RunDirectory(make_run(tmp_path_factory.mktemp("fw") / "r0001", n_trains=4))


def test_builtin_writers_registered():
    names = set(registry.list_writers())
    assert {"euxfel", "virtual", "parquet"} <= names
    with pytest.raises(OptionError, match="No writer named 'nope'"):
        registry.get_writer("nope")
    assert registry.get_writer(TextWriter) is TextWriter


def test_broken_plugin_warns_and_others_still_load(monkeypatch):
    real = registry.entry_points

    def fake_entry_points(group):
        eps = list(real(group=group))
        return eps + [EntryPoint("broken", "no_such_module_xyz:Writer", group),
                      EntryPoint("incomplete", "json:JSONDecoder", group)]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    registry.clear_cache()
    try:
        with pytest.warns(RuntimeWarning) as record:
            names = set(registry.list_writers())
        messages = " ".join(str(w.message) for w in record)
        assert "broken" in messages and "incomplete" in messages
        assert "euxfel" in names and "broken" not in names and "incomplete" not in names
    finally:
        monkeypatch.undo()
        registry.clear_cache()


def test_make_options_converts_and_checks():
    opts = make_options(TextWriter, {"level": "0x10", "ratio": "0.25", "fast": "yes",
                                     "mode": "b"})
    assert opts == _Opts(level=16, ratio=0.25, fast=True, mode="b")
    with pytest.raises(OptionError, match="no option.*bogus"):
        make_options(TextWriter, {"bogus": 1})
    with pytest.raises(OptionError, match="one of a, b"):
        make_options(TextWriter, {"mode": "c"})
    with pytest.raises(OptionError, match="needs int"):
        make_options(TextWriter, {"level": "ten"})
    with pytest.raises(OptionError, match="needs bool"):
        make_options(TextWriter, {"fast": "perhaps"})


def test_third_party_writer_through_convert(run, tmp_path):
    target = convert(run, tmp_path / "out.txt", to=TextWriter, level="3")
    lines = target.read_text().splitlines()
    assert len(lines) == len(run.all_sources) and lines[0].endswith(" 4 3")
    with pytest.raises(OutputExistsError):
        convert(run, target, to=TextWriter)
    with pytest.raises(NoDataError):
        convert(run.select("NOTHING*"), tmp_path / "empty.txt", to=TextWriter)
    assert not (tmp_path / "empty.txt").exists()


def test_atomic_output_file_and_directory(tmp_path):
    target = tmp_path / "a.txt"
    with pytest.raises(ValueError):
        with atomic_output(target) as tmp:
            tmp.write_text("partial")
            raise ValueError("stop")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as tmp:
            tmp.write_text("partial")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    store = tmp_path / "store.zarr"
    for content in ("one", "two"):
        with atomic_output(store, overwrite=True, directory=True) as tmp:
            assert tmp.is_dir() and not any(tmp.iterdir())
            (tmp / "x").write_text(content)
    assert (store / "x").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]
    with pytest.raises(OutputError, match="produced no output"):
        with atomic_output(tmp_path / "nothing"):
            pass
    with pytest.raises(OutputError, match="produced no output"):
        with atomic_output(tmp_path / "nothing", directory=True):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]


def test_os_errors_become_output_errors(tmp_path):
    with pytest.raises(OutputError, match="No space"):
        with atomic_output(tmp_path / "full.h5") as tmp:
            tmp.write_text("x")
            raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_sigkill_mid_write_leaves_no_target(tmp_path):
    target = tmp_path / "out.bin"
    script = textwrap.dedent(f"""
        import sys, time
        from xfconvert.writers.base import atomic_output
        with atomic_output({str(target)!r}) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"x" * 1000)
                fh.flush()
                print("writing", flush=True)
                time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert not target.exists()
    # The rerun removes the dead process's temporary file, and only that.
    (left,) = [p for p in tmp_path.iterdir()]
    assert left.name.startswith("out.bin.tmp-") and len(left.name) == len("out.bin.tmp-") + 8
    with atomic_output(target) as tmp:
        tmp.write_text("done")
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_rerun_leaves_live_temporary_outputs_alone(tmp_path):
    target = tmp_path / "out.zarr"
    script = textwrap.dedent(f"""
        import time
        from xfconvert.writers.base import atomic_output
        with atomic_output({str(target)!r}, directory=True) as tmp:
            print(tmp, flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        live = Path(proc.stdout.readline().strip())
        with atomic_output(target, directory=True) as tmp:
            (tmp / "x").write_text("mine")
        assert live.is_dir() and (target / "x").read_text() == "mine"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_killed_between_directory_renames_restores_the_old_output(tmp_path):
    from xfconvert.writers.atomic import clean_stale, temp_name
    target = tmp_path / "out.zarr"
    old = temp_name(target, "old", "0123abcd")
    old.mkdir()
    (old / "x").write_text("previous")
    stale = temp_name(target, "tmp", "0123abcd")
    stale.mkdir()
    assert set(clean_stale(target)) == {old, stale}
    assert (target / "x").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]
    old.mkdir()
    assert clean_stale(target) == [old] and not old.exists()
    unrelated = tmp_path / "out.zarr.tmp-notmine"
    unrelated.mkdir()
    assert clean_stale(target) == [] and unrelated.exists()


def test_sigterm_in_cli_cleans_up(tmp_path):
    """The CLI's handler turns SIGTERM into an interrupt, so temporary outputs are removed."""
    target = tmp_path / "out.bin"
    script = textwrap.dedent(f"""
        import sys, time
        from xfconvert.writers.base import atomic_output
        from xfconvert.writers.interrupts import handling_signals
        with handling_signals():
            try:
                with atomic_output({str(target)!r}) as tmp:
                    tmp.write_bytes(b"x")
                    print("writing", flush=True)
                    time.sleep(60)
            except KeyboardInterrupt as err:
                sys.exit(128 + err.signum)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 143
    assert list(tmp_path.iterdir()) == []


def _schema_type(hint):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        return {_schema_type(a) for a in args if a is not type(None)}.pop()
    if origin is Literal:
        return "string"
    return {int: "integer", float: "number", bool: "boolean", str: "string"}[hint]


@pytest.mark.parametrize("name", sorted(registry.list_writers()))
def test_options_mirrored_by_json_schema(name):
    cls = registry.get_writer(name)
    path = resources.files("xfconvert.schemas").joinpath(f"writer_{name}.json")
    schema = json.loads(path.read_text())
    props = schema["properties"]
    fields = {f.name: f for f in dataclasses.fields(cls.options_type)}
    assert set(props) == set(fields), f"schema and options of {name} differ"
    assert schema.get("additionalProperties") is False
    hints = typing.get_type_hints(cls.options_type)
    for fname, f in fields.items():
        prop = props[fname]
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        assert _schema_type(hints[fname]) in types, fname
        if f.default is not dataclasses.MISSING:
            assert prop.get("default") == f.default, fname
        if typing.get_origin(hints[fname]) is Literal:
            assert set(prop["enum"]) == set(typing.get_args(hints[fname])), fname
