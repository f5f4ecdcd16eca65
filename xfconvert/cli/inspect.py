"""``xfconvert ls`` and ``xfconvert validate``: look at runs, files and proposals."""
from __future__ import annotations

import os
import re
from pathlib import Path

import click

from ..readers.open import H5File, RunDirectory
from ..readers.validation import validate as validate_path
from .progress import progress_bar

_RUN_DIR = re.compile(r"^r\d{4}$")


def _human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def _proposal_listing(path: Path) -> list[str]:
    lines = []
    for data in ("raw", "proc"):
        base = path / data
        if not base.is_dir():
            continue
        for run_dir in sorted(p for p in base.iterdir() if _RUN_DIR.match(p.name)):
            files = [p for p in run_dir.iterdir() if p.suffix == ".h5"]
            size = sum(p.stat().st_size for p in files)
            lines.append(f"{data}/{run_dir.name}: {len(files)} files, {_human_size(size)}")
    return lines


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--detail", "details", multiple=True, metavar="PATTERN",
              help="List keys of sources matching this glob (repeatable).")
def ls(path: Path, details: tuple[str, ...]) -> None:
    """Show what a run directory, file or proposal directory holds."""
    if path.is_file():
        click.echo(H5File(path).info_text(details))
    elif any(p.suffix == ".h5" for p in path.iterdir()):
        click.echo(RunDirectory(path).info_text(details))
    elif (path / "raw").is_dir() or (path / "proc").is_dir():
        lines = _proposal_listing(path)
        click.echo("\n".join(lines) if lines else f"{path}: no runs found")
    else:
        raise click.BadParameter(f"{path} is not a run directory, EuXFEL file or proposal "
                                 "directory", param_hint="PATH")


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.pass_context
def validate(ctx: click.Context, path: Path) -> int:
    """Check the structure of a run directory or file; exit code 1 if problems are found."""
    n_files = sum(1 for p in path.iterdir() if p.suffix == ".h5") if path.is_dir() else 1
    with progress_bar(ctx, n_files, "Checking files") as bar:
        problems = validate_path(path, on_file=lambda _name: bar.update(1))
    if problems:
        click.echo(f"Found {len(problems)} problem(s) in {path}:")
        for problem in problems:
            click.echo(f"  - {problem}")
        return 1
    click.echo(f"No problems found in {n_files} file(s) under {os.fspath(path)}.")
    return 0
