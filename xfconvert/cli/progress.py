"""Progress bars on stderr, shown only on a terminal and never with --quiet."""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

import click


def _quiet(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("quiet")) or not sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(ctx: click.Context, length: int, label: str) -> Iterator:
    """A click progress bar (``bar.update(n)``) or a silent stand-in."""
    if _quiet(ctx):
        yield _Silent()
        return
    with click.progressbar(length=length, label=label, file=sys.stderr,
                           show_eta=True, show_percent=True) as bar:
        yield bar


class _Silent:
    def update(self, n: int, current_item=None) -> None:
        pass


class LazyProgress:
    """A ``progress(done, total)`` callback drawing a bar once the total is known."""

    def __init__(self, ctx: click.Context, label: str):
        self.ctx, self.label = ctx, label
        self._stack = contextlib.ExitStack()
        self._bar = None
        self._done = 0

    def __enter__(self) -> "LazyProgress":
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = self._stack.enter_context(progress_bar(self.ctx, total, self.label))
        if done > self._done:
            self._bar.update(done - self._done)
            self._done = done
