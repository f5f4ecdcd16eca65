"""Benchmark: opening a run of many small files, without and with the run-map cache.

The limit is what any reader must at least do without a cache: open each file with
h5py, read INDEX/trainId and METADATA/dataSources/dataSourceId, close it. Rows:

* ``limit``: that loop, with plain h5py;
* ``RunDirectory(use_cache=False)``: opening from scratch, no cache read or written;
* ``RunDirectory, writes cache``: from scratch, then writing ``xfconvert_run_map.json``;
* ``RunDirectory, warm cache``: the cache file is present and valid.

Between runs every FileAccess is closed and forgotten, so each run really reopens.

Run: ``python benchmarks/open_run.py [--quick] [--repeats N]``. 52 files is the size the
speed goal (<= 0.15 s without a cache) is stated for.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (Table, bench_root, cached_dataset, fmt_bytes, fmt_ratio,  # noqa: E402
                     fmt_time, measure_interleaved, parse_args, print_footer, reset_file_access,
                     warm_page_cache)

FIRST_TRAIN = 10000


def make_small_run(path: Path, n_files: int, trains_per_file: int) -> None:
    """``n_files`` small files named like a real run: aggregators DA01.. with sequences,
    each aggregator holding one motor and covering consecutive trains."""
    from xfconvert.testing import Motor, write_file
    path.mkdir(parents=True)
    n_agg = 2 if n_files <= 10 else 10
    n_agg = min(n_agg, n_files)
    per_agg = [n_files // n_agg + (1 if i < n_files % n_agg else 0) for i in range(n_agg)]
    for agg, n_seq in enumerate(per_agg, start=1):
        motor = Motor(f"SPB_XTD{agg:02d}_MOTORS/MOTOR/STAGE_X")
        for seq in range(n_seq):
            start = FIRST_TRAIN + seq * trains_per_file
            write_file(path / f"RAW-R0001-DA{agg:02d}-S{seq:05d}.h5", [motor],
                       np.arange(start, start + trains_per_file, dtype=np.uint64),
                       sequence=seq, run_start_train=FIRST_TRAIN)


def h5py_limit(paths: list[str]) -> int:
    """Open each file, read INDEX/trainId and METADATA dataSourceId, close it."""
    n = 0
    for p in paths:
        with h5py.File(p, "r") as f:
            tids = f["INDEX/trainId"][()]
            sources = f["METADATA/dataSources/dataSourceId"][()]
            n += len(tids) + len(sources)
    return n


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    started = time.perf_counter()
    sizes = [5, 20] if args.quick else [10, 52, 100, 1000]
    trains_per_file = 3 if args.quick else 10

    from xfconvert import RunDirectory
    from xfconvert.readers.run_map import CACHE_FILENAME

    table = Table(
        "Opening a run of N small files (time/limit: lower is better, 1.00 = the h5py loop)",
        ["N files", "operation", "best", "per file", "time/limit", "peak dRSS"],
    )
    with bench_root("open_run") as root:
        # Keep any user-level run-map cache out of the user's home directory.
        os.environ["XFCONVERT_CACHE_DIR"] = str(root / "user_cache")
        for n_files in sizes:
            run_dir, made = cached_dataset(
                root, f"r_{n_files:04d}", {"n_files": n_files, "trains": trains_per_file},
                lambda p: make_small_run(p, n_files, trains_per_file))
            paths = sorted(str(p) for p in run_dir.glob("*.h5"))
            assert len(paths) == n_files, (len(paths), n_files)
            nbytes = warm_page_cache(paths)
            print(f"N={n_files}: {n_files} files, {fmt_bytes(nbytes)}"
                  + (f", made in {made:.1f} s" if made else ", reused"), flush=True)
            cache_file = run_dir / CACHE_FILENAME

            def no_cache():
                return RunDirectory(run_dir, use_cache=False)

            def drop_cache():
                reset_file_access()
                cache_file.unlink(missing_ok=True)

            def with_cache():
                return RunDirectory(run_dir)

            def warm_setup():
                reset_file_access()
                if not cache_file.is_file():
                    RunDirectory(run_dir)
                    reset_file_access()

            res = measure_interleaved([
                ("limit", lambda: h5py_limit(paths), None),
                ("cold", no_cache, reset_file_access),
                ("writes", with_cache, drop_cache),
                ("warm", with_cache, warm_setup),
            ], repeats=args.repeats)
            assert cache_file.is_file(), "RunDirectory did not write its run-map cache"
            limit, cold, writes, warm = (res[k] for k in ("limit", "cold", "writes", "warm"))
            reset_file_access()

            run = RunDirectory(run_dir)
            assert len(run.files) == n_files and len(run.train_ids) > 0
            del run
            reset_file_access()

            rows = [("limit: h5py open + INDEX/trainId + METADATA", limit),
                    ("RunDirectory(use_cache=False)", cold),
                    ("RunDirectory, no cache yet (writes it)", writes),
                    ("RunDirectory, warm cache", warm)]
            for label, m in rows:
                table.add(n_files, label, fmt_time(m.best), fmt_time(m.best / n_files),
                          fmt_ratio(m.best / limit.best), fmt_bytes(m.peak_rss))
            table.add("", f"cache file {fmt_bytes(cache_file.stat().st_size)}")
            table.separator()
        reset_file_access()
    table.print()
    print_footer(started, args.repeats)


if __name__ == "__main__":
    main()
