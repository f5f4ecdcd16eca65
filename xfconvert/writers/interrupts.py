"""Stopping a conversion on SIGINT or SIGTERM, every time.

A Python signal handler runs between two bytecodes of the main thread, wherever that is.
When it lands in a weakref callback or a ``__del__`` method, the ``KeyboardInterrupt`` it
raises is printed as "Exception ignored in ..." and lost, and the conversion would go
on. So the handler also *records* the stop, and the conversion checks the record at
every progress report and just before the output is renamed into place
(:func:`checkpoint`); any exception raised while a stop is recorded is reported as the
interrupt (h5py, for one, may turn an interrupt inside its own code into a TypeError).

:func:`handling_signals` is for programs (the ``xfconvert`` command uses it for SIGINT
and SIGTERM). :func:`recording` is what :func:`xfconvert.writers.base.convert` uses: in the
main thread, with Python's default Ctrl-C handler in place, it records Ctrl-C for the
duration of the call; otherwise it changes nothing.

Examples
--------
>>> import signal
>>> from xfconvert.exceptions import Interrupted
>>> with handling_signals():
...     try:
...         signal.raise_signal(signal.SIGTERM)
...     except Interrupted as err:
...         print(err.signum == signal.SIGTERM, stop_requested() == signal.SIGTERM)
True True
>>> stop_requested() is None
True
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

from ..exceptions import Interrupted

__all__ = ["handling_signals", "recording", "checkpoint", "stop_requested", "deferred"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_stop: list[int] = []  # the first signal received, while handlers are installed
_deferring: list[bool] = []  # non-empty inside deferred(): record, do not raise


def stop_requested() -> int | None:
    """The signal number that asked to stop, or None."""
    return _stop[0] if _stop else None


def checkpoint() -> None:
    """Raise :class:`~xfconvert.exceptions.Interrupted` if a stop was requested."""
    if _stop:
        raise Interrupted(_stop[0])


def _on_signal(signum, frame) -> None:
    if _stop:
        return  # already stopping: let the cleanup finish
    _stop.append(signum)
    if not _deferring:
        raise Interrupted(signum)


def _unraisable(previous):
    def hook(unraisable) -> None:
        # An interrupt swallowed in a callback is recorded already; do not print it.
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and _stop:
            return
        previous(unraisable)
    return hook


@contextlib.contextmanager
def handling_signals(signals=_SIGNALS) -> Iterator[None]:
    """Install the recording handler for ``signals`` (main thread only) for a block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _on_signal) for s in signals}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable(previous_hook)
    _stop.clear()
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sys.unraisablehook = previous_hook
        _stop.clear()


@contextlib.contextmanager
def recording() -> Iterator[None]:
    """Record Ctrl-C during a library call, if Python's default handler is in place."""
    in_main = threading.current_thread() is threading.main_thread()
    if in_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        with handling_signals((signal.SIGINT,)):
            yield
    else:
        yield


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Record but do not raise interrupts during a short critical section (the final
    renames, after which the output is complete and stays)."""
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
