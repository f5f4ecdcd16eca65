"""Helpers shared by the benchmark scripts: data directory, timing, peak memory, tables.

Not a benchmark itself (``make bench`` runs every ``benchmarks/*.py``, so running this
file just says so and exits 0).

Conventions the scripts follow:

* data lives in a temporary directory removed at the end, or is kept and reused under
  ``$XFCONVERT_BENCH_DIR`` when that is set (a parameters file beside each data set says
  whether it can be reused);
* files are read once before timing, so the page cache is warm for every measurement;
* each operation runs once untimed (warm-up), then ``--repeats`` (default 3) timed runs
  (interleaved with the limit's runs, so drifting machine load hits both alike),
  of which the best time and the largest peak-RSS increase are reported; freed memory
  is returned to the OS before each run, so every run starts from the same heap;
* every table shows the ratio against a limit measured in the same run, never a constant.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from xfconvert.writers.base import fsync_path

__all__ = [
    "parse_args", "bench_root", "cached_dataset", "slow_data_run", "warm_page_cache", "Measurement",
    "measure_interleaved", "reset_file_access", "Table", "fmt_time", "fmt_bytes", "fmt_rate",
    "fmt_ratio", "max_rss_bytes", "print_footer", "release_freed_memory", "load_average",
    "ChildResult", "run_child", "measure_interleaved_mixed", "fsync_paths", "free_disk_bytes",
]

MB = 1 << 20


# ---- command line ----------------------------------------------------------------------
def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="tiny data sizes (a smoke run of a few seconds)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats per operation; the best is reported (default 3)")
    args = parser.parse_args(argv)
    args.repeats = max(1, args.repeats)
    return args


# ---- data ------------------------------------------------------------------------------
@contextlib.contextmanager
def bench_root(name: str) -> Iterator[Path]:
    """Directory for this script's data: ``$XFCONVERT_BENCH_DIR/name`` (kept) or a
    temporary directory (removed on exit)."""
    base = os.environ.get("XFCONVERT_BENCH_DIR")
    if base:
        root = Path(base) / name
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    tmp = tempfile.mkdtemp(prefix=f"xfconvert-bench-{name}-")
    try:
        yield Path(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cached_dataset(root: Path, name: str, params: dict[str, Any],
                   make: Callable[[Path], Any]) -> tuple[Path, float]:
    """``root/name`` made by ``make(path)``, unless it exists with the same ``params``.

    Returns the path and the seconds spent making it (0 when reused).
    """
    path = root / name
    stamp = root / f"{name}.params.json"
    wanted = json.dumps(params, sort_keys=True)
    if path.is_dir() and stamp.is_file() and stamp.read_text() == wanted:
        return path, 0.0
    shutil.rmtree(path, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    t0 = time.perf_counter()
    make(path)
    elapsed = time.perf_counter() - t0
    stamp.write_text(wanted)
    return path, elapsed


def slow_data_run(root: Path, n_sources: int, n_keys: int, n_trains: int
                  ) -> tuple[Path, list[Path]]:
    """A cached slow-data run (sources x keys x trains), page cache warmed; announces it."""
    from xfconvert.testing import make_slow_data_run
    params = dict(n_sources=n_sources, keys_per_source=n_keys, n_trains=n_trains)
    run_dir, made = cached_dataset(root, "slow", params,
                                   lambda p: make_slow_data_run(p, **params))
    paths = sorted(run_dir.glob("*.h5"))
    disk = warm_page_cache(paths)
    print(f"slow: {n_sources} sources x {n_keys} keys x {n_trains} trains in {len(paths)} "
          f"files, {fmt_bytes(disk)}" + (f", made in {made:.1f} s" if made else ", reused"),
          flush=True)
    return run_dir, paths


def warm_page_cache(paths: Iterable[os.PathLike | str], block: int = 16 * MB) -> int:
    """Read files once so later reads come from the page cache; returns bytes read."""
    buf = bytearray(block)
    view = memoryview(buf)
    total = 0
    for p in paths:
        with open(p, "rb", buffering=0) as fh:
            while True:
                n = fh.readinto(view)
                if not n:
                    break
                total += n
    return total


def reset_file_access() -> None:
    """Close every xfconvert file handle and forget the shared FileAccess objects, so the
    next open really re-reads each file (FileAccess objects are cached per path, and the
    open-files limiter keeps references to open ones)."""
    from xfconvert.readers.file_access import FileAccess
    with FileAccess._instances_lock:
        instances = list(FileAccess._instances.values())
        FileAccess._instances.clear()
    for fa in instances:
        fa.close()
    del instances
    gc.collect()


# ---- memory ----------------------------------------------------------------------------
def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _rss_bytes() -> int:
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    import psutil
    return psutil.Process().memory_info().rss


def _load_libc():
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap memory back to the OS (glibc malloc_trim), so
    every run starts from the same state: otherwise one run's freed arrays are reused by
    the next without page faults, which flatters whichever operation runs second and
    hides its memory use."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def max_rss_bytes() -> int:
    """Peak RSS of the whole process so far (ru_maxrss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---- timing ----------------------------------------------------------------------------
class Measurement:
    """Best time of several runs, and the peak RSS increase of one run."""

    def __init__(self, best: float, times: list[float], peak_rss: int):
        self.best = best
        self.times = times
        self.peak_rss = peak_rss

    def __repr__(self) -> str:
        return f"Measurement(best={self.best:.4f}s, peak_rss={self.peak_rss / MB:.1f} MB)"


def measure_interleaved(ops: list[tuple[str, Callable[[], Any], Callable[[], Any] | None]],
                        *, repeats: int = 3) -> dict[str, Measurement]:
    """Like :func:`measure` for several operations ``(name, fn, setup)``, but the timed
    runs are interleaved (round 1 of every operation, then round 2...), so a change of
    machine load during the benchmark shifts the limit and the operations compared with
    it alike, instead of skewing their ratio."""
    return measure_interleaved_mixed(ops, repeats=repeats)


# ---- output ----------------------------------------------------------------------------
def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.2f} GiB"
    if n >= MB:
        return f"{n / MB:.1f} MiB"
    return f"{n / 1024:.0f} KiB"


def fmt_rate(nbytes: float | None, seconds: float | None) -> str:
    if not nbytes or not seconds:
        return "-"
    rate = nbytes / seconds
    return f"{rate / 1e9:.2f} GB/s" if rate >= 1e9 else f"{rate / 1e6:.0f} MB/s"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class Table:
    """A plain-text table printed at the end (columns sized to their contents)."""

    def __init__(self, title: str, columns: list[str], notes: Iterable[str] = ()):
        self.title = title
        self.columns = columns
        self.rows: list[list[str]] = []
        self.notes = list(notes)

    def add(self, *cells: Any) -> None:
        row = ["" if c is None else str(c) for c in cells]
        self.rows.append(row + [""] * (len(self.columns) - len(row)))

    def separator(self) -> None:
        self.rows.append([])

    def print(self) -> None:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        line = "  ".join("-" * w for w in widths)
        print(f"\n{self.title}")
        print("  ".join(c.ljust(w) for c, w in zip(self.columns, widths)).rstrip())
        print(line)
        for row in self.rows:
            if not row:
                print()
                continue
            cells = [cell.ljust(w) if i < 2 else cell.rjust(w)
                     for i, (cell, w) in enumerate(zip(row, widths))]
            print("  ".join(cells).rstrip())
        for note in self.notes:
            print(note)


def load_average() -> str:
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "?"


def print_footer(started: float, repeats: int) -> None:
    print(f"load average at the end {load_average()} on {os.cpu_count()} CPUs "
          "(other processes make timings noisy)")
    print(f"\nbest of {repeats} timed runs after one warm-up run; page cache warmed first; "
          "peak dRSS = largest RSS increase during a timed run; "
          f"peak RSS of the process {fmt_bytes(max_rss_bytes())}; "
          f"total {time.perf_counter() - started:.1f} s")


# ---- operations measured in a child process -------------------------------------------
# Peak memory of a whole conversion is most honestly the peak RSS of a process that does
# nothing else: the child imports and opens (untimed), resets its peak-RSS mark, then runs
# the timed code, and reports its time, RSS before, peak increase and its own peak RSS
# (VmHWM; not ru_maxrss, which after fork+exec also holds the parent's peak).
_CHILD_CODE = r"""
import gc, json, resource, sys, time
def _kib(field):
    try:
        with open('/proc/self/status') as fh:
            for line in fh:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
_g = {'__name__': '__child__'}
exec(compile(sys.argv[1], '<child setup>', 'exec'), _g)
gc.collect()
before = _kib('VmRSS')
setup_hwm = _kib('VmHWM')  # this process's own peak (ru_maxrss can carry the parent's)
try:
    with open('/proc/self/clear_refs', 'w') as fh:
        fh.write('5')
    reset = True
except OSError:
    reset = False
t0 = time.perf_counter()
exec(compile(sys.argv[2], '<child timed>', 'exec'), _g)
seconds = time.perf_counter() - t0
hwm = _kib('VmHWM') if reset else None
max_rss = (max(setup_hwm, hwm) if hwm is not None and setup_hwm is not None
           else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
peak = (hwm if hwm is not None else max_rss) - (before or 0)
print('@@XFCONVERT_CHILD@@' + json.dumps(dict(
    seconds=seconds, before=(before or 0) * 1024, peak_increase=max(0, peak) * 1024,
    max_rss=max_rss * 1024, extra=_g.get('child_report'))))
"""


class ChildResult:
    """What :func:`run_child` measured: seconds of the timed code, RSS before it, peak
    RSS increase during it, the child's own peak RSS, and ``child_report`` (any JSON value
    the timed code put in that global)."""

    def __init__(self, seconds: float, before: int, peak_increase: int, max_rss: int,
                 extra: Any = None):
        self.seconds = seconds
        self.before = before
        self.peak_increase = peak_increase
        self.max_rss = max_rss
        self.extra = extra

    def __repr__(self) -> str:
        return (f"ChildResult({self.seconds:.3f}s, before={self.before / MB:.0f} MB, "
                f"dRSS={self.peak_increase / MB:.0f} MB, max_rss={self.max_rss / MB:.0f} MB)")


def run_child(setup: str, timed: str, *, env: dict[str, str] | None = None,
              timeout: float | None = 1800) -> ChildResult:
    """Run ``setup`` (untimed: imports, opening) then ``timed`` in a fresh Python process
    (this interpreter); both share one global namespace. Raises RuntimeError with the
    child's stderr if it fails."""
    import subprocess
    import sys
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", _CHILD_CODE, setup, timed],
                          capture_output=True, text=True, env=full_env, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("@@XFCONVERT_CHILD@@"):
            d = json.loads(line[len("@@XFCONVERT_CHILD@@"):])
            return ChildResult(d["seconds"], d["before"], d["peak_increase"], d["max_rss"],
                               d.get("extra"))
    tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
    raise RuntimeError(f"child process failed (exit {proc.returncode}):\n{tail}")


def measure_interleaved_mixed(ops: list[tuple[str, Callable[[], Any], Callable[[], Any] | None]],
                              *, repeats: int = 3, warmup: bool = True
                              ) -> dict[str, Measurement]:
    """:func:`measure_interleaved` for operations of which some run in a child process:
    an ``fn`` that returns a :class:`ChildResult` (e.g. ``lambda: run_child(...)``) is
    timed and measured by the child (its time excludes starting Python and imports);
    its Measurement also gets ``max_rss`` (largest peak RSS of the child) and
    ``before`` (child RSS before the timed code). Other ``fn`` are measured in-process
    as :func:`measure_interleaved` does (``max_rss`` is None for them)."""
    can_reset = _reset_peak()
    peaks = {name: 0 for name, _, _ in ops}
    max_rss: dict[str, int | None] = {name: None for name, _, _ in ops}
    before_rss: dict[str, int | None] = {name: None for name, _, _ in ops}
    times: dict[str, list[float]] = {name: [] for name, _, _ in ops}
    if warmup:
        for name, fn, setup in ops:
            if setup is not None:
                setup()
            result = fn()
            del result
    for _ in range(repeats):
        for name, fn, setup in ops:
            if setup is not None:
                setup()
            release_freed_memory()
            if can_reset:
                _reset_peak()
            before = _rss_bytes()
            t0 = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - t0
            if isinstance(result, ChildResult):
                times[name].append(result.seconds)
                peaks[name] = max(peaks[name], result.peak_increase)
                max_rss[name] = max(max_rss[name] or 0, result.max_rss)
                before_rss[name] = max(before_rss[name] or 0, result.before)
            else:
                times[name].append(elapsed)
                peak_kib = _status_kib("VmHWM") if can_reset else None
                if peak_kib is not None:
                    peaks[name] = max(peaks[name], peak_kib * 1024 - before)
                else:
                    peaks[name] = max(peaks[name], _rss_bytes() - before)
            del result
    out = {}
    for name in times:
        m = Measurement(min(times[name]), times[name], peaks[name])
        m.max_rss = max_rss[name]
        m.before = before_rss[name]
        out[name] = m
    return out


# ---- files -----------------------------------------------------------------------------
def fsync_paths(paths: Iterable[os.PathLike | str]) -> None:
    """fsync files and directories (what an atomic writer does before renaming)."""
    for p in paths:
        fsync_path(p, recursive=False)


def free_disk_bytes(path: os.PathLike | str) -> int:
    return shutil.disk_usage(path).free


if __name__ == "__main__":
    print("benchmarks/_common.py holds helpers for the other benchmark scripts; nothing to run.")
