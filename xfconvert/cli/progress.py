"""Progress bars on stderr, shown only on a terminal and never with --quiet."""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

import click


@contextlib.contextmanager
def progress_bar(ctx: click.Context, length: int, label: str) -> Iterator:
    """A click progress bar (``bar.update(n)``) or a silent stand-in."""
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    if quiet or not sys.stderr.isatty():
        yield _Silent()
        return
    with click.progressbar(length=length, label=label, file=sys.stderr,
                           show_eta=True, show_percent=True) as bar:
        yield bar


class _Silent:
    def update(self, n: int, current_item=None) -> None:
        pass
