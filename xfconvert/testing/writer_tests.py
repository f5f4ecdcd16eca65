"""WriterTests: the conformance suite every writer's tests subclass.

A writer's test module subclasses :class:`WriterTests`, names the writer and implements
three methods; it then inherits tests of the round trip, provenance, atomicity (failure
and Ctrl-C mid-write leave nothing under the target name), overwrite refusal, empty
selections and bad target directories. Needs pytest.

Examples
--------
>>> class TestMyWriter(WriterTests):  # doctest: +SKIP
...     writer = "euxfel"
...     def make_data(self, tmp_path):
...         return RunDirectory(make_run(tmp_path / "r1", n_trains=5))
...     def check_output(self, data, path):
...         ...  # read back with the users' tool and compare values with `data`
...     def read_provenance(self, path):
...         with h5py.File(path) as f:
...             return dict(f.attrs)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from ..exceptions import NoDataError, OutputError, OutputExistsError
from ..writers.base import convert
from ..writers.registry import get_writer

__all__ = ["WriterTests"]


class _Interrupt(KeyboardInterrupt):
    """Stands for Ctrl-C arriving in the middle of a write."""


class WriterTests:
    """Conformance tests for one writer (subclass; see the module docstring)."""

    writer: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}

    # ---- what a subclass provides -----------------------------------------------------
    def make_data(self, tmp_path: Path) -> Any:
        """The collection (or component) to write; small random mock data."""
        raise AssertionError("WriterTests subclasses must implement make_data")

    def check_output(self, data: Any, path: Path) -> None:
        """Read the output with the users' tool and compare every value with ``data``."""
        raise AssertionError("WriterTests subclasses must implement check_output")

    def read_provenance(self, path: Path) -> dict[str, Any]:
        """The provenance attributes of the output."""
        raise AssertionError("WriterTests subclasses must implement read_provenance")

    def empty_data(self, data: Any) -> Any:
        """A selection with nothing to write."""
        return data.select("NO_SUCH_SOURCE_*")

    # ---- helpers ------------------------------------------------------------------------
    @pytest.fixture
    def data(self, tmp_path):
        return self.make_data(tmp_path / "input")

    def target(self, tmp_path: Path) -> Path:
        out = tmp_path / "output"
        out.mkdir(exist_ok=True)
        return out / f"result{get_writer(self.writer).suffix}"

    @staticmethod
    def leftovers(directory: Path) -> list[str]:
        return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name
                      or ".old-" in p.name)

    # ---- the tests ------------------------------------------------------------------------
    def test_round_trip(self, data, tmp_path):
        target = self.target(tmp_path)
        assert convert(data, target, to=self.writer, **self.options) == target
        assert target.exists()
        assert self.leftovers(target.parent) == []
        self.check_output(data, target)

    def test_provenance(self, data, tmp_path):
        target = convert(data, self.target(tmp_path), to=self.writer, **self.options)
        prov = self.read_provenance(target)
        for key in ("xfconvert_version", "source_run", "selection"):
            assert key in prov, f"provenance lacks {key}"

    def test_plan_is_inspectable(self, data):
        from ..writers.base import make_options
        cls = get_writer(self.writer)
        plan = cls().plan(data, make_options(cls, dict(self.options)))
        assert plan.items and plan.total > 0
        assert isinstance(plan.describe(), str) and plan.describe()

    def test_refuses_overwrite(self, data, tmp_path):
        target = convert(data, self.target(tmp_path), to=self.writer, **self.options)
        before = _snapshot(target)
        with pytest.raises(OutputExistsError):
            convert(data, target, to=self.writer, **self.options)
        assert _snapshot(target) == before
        convert(data, target, to=self.writer, overwrite=True, **self.options)
        self.check_output(data, target)
        assert self.leftovers(target.parent) == []

    def test_failure_mid_write_leaves_nothing(self, data, tmp_path, monkeypatch):
        cls = get_writer(self.writer)
        real = cls.write_plan

        def failing(self_, plan, path, progress):
            def boom(done, total):
                raise RuntimeError("disk on fire")
            real(self_, plan, path, boom)

        monkeypatch.setattr(cls, "write_plan", failing)
        target = self.target(tmp_path)
        with pytest.raises((RuntimeError, OutputError)):
            convert(data, target, to=self.writer, **self.options)
        assert not target.exists()
        assert self.leftovers(target.parent) == []

    def test_ctrl_c_mid_write_leaves_nothing(self, data, tmp_path):
        target = self.target(tmp_path)

        def interrupt(done, total):
            raise _Interrupt()

        with pytest.raises(KeyboardInterrupt):
            convert(data, target, to=self.writer, progress=interrupt, **self.options)
        assert not target.exists()
        assert self.leftovers(target.parent) == []

    def test_empty_selection(self, data, tmp_path):
        target = self.target(tmp_path)
        with pytest.raises(NoDataError):
            convert(self.empty_data(data), target, to=self.writer, **self.options)
        assert not target.exists() and self.leftovers(target.parent) == []

    def test_bad_target_directory(self, data, tmp_path):
        with pytest.raises(OutputError, match="does not exist"):
            convert(data, tmp_path / "missing" / "out", to=self.writer, **self.options)
        (tmp_path / "plain-file").write_text("x")
        with pytest.raises(OutputError, match="not a directory"):
            convert(data, tmp_path / "plain-file" / "out", to=self.writer, **self.options)


def _snapshot(path: Path) -> list[tuple[str, int, int]]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
