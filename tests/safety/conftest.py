"""Helpers shared by the safety tests: snapshots of inputs and CLI runs."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from xfconvert.cli import main

RUN_MAP_NAME = "xfconvert_run_map.json"


def snapshot(path: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``path`` (or of ``path`` itself).

    The reader's own run-map cache is left out: opening a run may write it.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and p.name != RUN_MAP_NAME)
    return {str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run
