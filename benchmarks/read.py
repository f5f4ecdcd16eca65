"""Benchmark: reading detector arrays and slow-data tables, beside raw h5py reads.

Limits, measured in the same run on the same files with the page cache warm:

* detector data: ``h5py.Dataset.read_direct`` of the same dataset slices (found from the
  INDEX ``first``/``count``) into a preallocated array, files already open;
* slow data: ``f[path][()]`` of every ``CONTROL/.../value`` dataset of every file.

Rows (AGIPD-1M raw mock data, real module geometry: one frame is 256 KiB):

* one module, ~10 MiB and ~200 MiB: ``run[src, 'image.data'].ndarray()``, the same with
  a preallocated ``out=``, and ``run.get_array(src, 'image.data')``;
* all 16 modules, ~10 MiB and ~200 MiB in total: ``AGIPD1M(run).get_array('image.data')``
  (component made in the timed call), ``AGIPD1M(...).trains()`` over image.data and
  image.pulseId, ``get_dask_array('image.data').mean()`` on 2 threads (beside a raw read
  plus numpy's mean), and ``for tid, data in run.select('*/DET/*', 'image.data').trains()``;
* slow data, 50 sources x 80 keys x 30,000 trains: ``run.get_dataframe()`` on an open run,
  and opened from scratch (run-map cache present) beside opening + listing + reading raw.

Goals (from the issue): get_array >= 0.95 of the limit on large arrays and >= 0.9 on
small ones; trains() overhead <= 10 %; get_dataframe within 1.5x of the raw read.

Run: ``python benchmarks/read.py [--quick] [--repeats N]``.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (slow_data_run, Table, bench_root, cached_dataset, fmt_bytes, fmt_rate,  # noqa: E402
                     fmt_ratio, fmt_time, measure_interleaved, parse_args, print_footer,
                     reset_file_access, warm_page_cache)

DETECTOR = "SPB_DET_AGIPD1M-1"
KEY = "image.data"


def module_source(m: int) -> str:
    return f"{DETECTOR}/DET/{m}CH0:xtdf"


# ---- raw h5py limits -----------------------------------------------------------------
class RawModulePlan:
    """The dataset slices of one module's ``image.data``, found from INDEX with plain h5py.

    Files stay open (as the reader's do between repeats) so the limit is the read alone.
    """

    def __init__(self, run_dir: Path, m: int):
        src = module_source(m)
        self.pieces: list[tuple[h5py.Dataset, int, int]] = []
        self.files: list[h5py.File] = []
        for path in sorted(run_dir.glob(f"*-AGIPD{m:02d}-S*.h5")):
            f = h5py.File(path, "r")
            self.files.append(f)
            first = f[f"INDEX/{src}/image/first"][()].astype(np.int64)
            count = f[f"INDEX/{src}/image/count"][()].astype(np.int64)
            nz = count > 0
            if not nz.any():
                continue
            start, stop = int(first[nz][0]), int((first + count)[nz].max())
            # Mock data are contiguous; a gap would make this limit read extra bytes.
            assert stop - start == int(count.sum()), f"{path}: entries not contiguous"
            ds = f[f"INSTRUMENT/{src}/image/data"]
            self.pieces.append((ds, start, stop))
        ds0 = self.pieces[0][0]
        self.entry_shape = ds0.shape[1:]
        self.dtype = ds0.dtype
        self.n_entries = sum(b - a for _, a, b in self.pieces)

    def read_into(self, out: np.ndarray) -> None:
        pos = 0
        for ds, a, b in self.pieces:
            n = b - a
            ds.read_direct(out, source_sel=np.s_[a:b], dest_sel=np.s_[pos:pos + n])
            pos += n

    def close(self) -> None:
        for f in self.files:
            f.close()


# ---- data ----------------------------------------------------------------------------
def make_agipd_run(path: Path, n_modules: int, n_trains: int, frames: int,
                   n_sequences: int) -> None:
    from xfconvert.testing import make_run
    make_run(path, detector="agipd", n_modules=n_modules, n_trains=n_trains,
             frames_per_train=frames, n_sequences=n_sequences, slow_data=False)


def agipd_run(root: Path, name: str, n_modules: int, n_trains: int, frames: int,
              n_sequences: int) -> Path:
    params = dict(n_modules=n_modules, n_trains=n_trains, frames=frames,
                  n_sequences=n_sequences)
    path, made = cached_dataset(root, name, params, lambda p: make_agipd_run(
        p, n_modules, n_trains, frames, n_sequences))
    nbytes = warm_page_cache(sorted(path.glob("*.h5")))
    print(f"{name}: {n_modules} module(s) x {n_trains} trains x {frames} frames, "
          f"{fmt_bytes(nbytes)} on disk" + (f", made in {made:.1f} s" if made else ", reused"),
          flush=True)
    return path


# ---- detector benchmarks -------------------------------------------------------------
def single_module(table: Table, run_dir: Path, label: str, goal: float, repeats: int) -> None:
    from xfconvert import RunDirectory
    src = module_source(0)
    raw = RawModulePlan(run_dir, 0)
    shape = (raw.n_entries,) + raw.entry_shape
    prealloc = np.ones(shape, dtype=raw.dtype)  # touched, so no page faults while timed
    nbytes = prealloc.nbytes
    run = RunDirectory(run_dir)
    kd = run[src, KEY]
    assert kd.shape == shape, (kd.shape, shape)

    raw.read_into(prealloc)
    check = prealloc.copy()
    res = measure_interleaved([
        ("limit", lambda: raw.read_into(prealloc), None),
        ("limit_new", lambda: raw.read_into(np.empty(shape, raw.dtype)), None),
        ("ndarray", lambda: run[src, KEY].ndarray(), None),
        ("ndarray_out", lambda: run[src, KEY].ndarray(out=prealloc), None),
        ("get_array", lambda: run.get_array(src, KEY), None),
    ], repeats=repeats)
    limit, limit_new = res["limit"], res["limit_new"]
    # (label, measurement, goal, returns a new array)
    rows = [
        ("limit: h5py read_direct, preallocated", limit, None, False),
        ("limit (new array): read_direct, np.empty", limit_new, None, True),
        ("run[src, key].ndarray()", res["ndarray"], goal, True),
        ("run[src, key].ndarray(out=preallocated)", res["ndarray_out"], goal, False),
        ("run.get_array(src, key)", res["get_array"], goal, True),
    ]
    assert np.array_equal(run[src, KEY].ndarray(), check), "ndarray() differs from raw read"
    for name, m, g, new in rows:
        table.add(label, name, fmt_time(m.best), fmt_bytes(nbytes), fmt_rate(nbytes, m.best),
                  fmt_ratio(limit.best / m.best),
                  fmt_ratio(limit_new.best / m.best) if new else "-",
                  f">= {g}" if g else "", fmt_bytes(m.peak_rss))
    raw.close()
    del run, kd, prealloc, check
    reset_file_access()


def load_agipd1m():
    """The AGIPD1M component class, or (None, reason) while it is being written."""
    try:
        from xfconvert.components import AGIPD1M
        return AGIPD1M, "xfconvert.components"
    except Exception as err:  # noqa: BLE001 - any failure means "not available"
        reason = f"{type(err).__name__}: {err}"
    try:
        from xfconvert.components.xtdf import AGIPD1M
        return AGIPD1M, "xfconvert.components.xtdf (not exported by xfconvert.components)"
    except Exception as err:  # noqa: BLE001
        return None, f"{reason}; {type(err).__name__}: {err}"


def all_modules(table: Table, run_dir: Path, label: str, goal: float, repeats: int,
                notes: list[str]) -> None:
    from xfconvert import RunDirectory
    raws = [RawModulePlan(run_dir, m) for m in range(16)]
    n = raws[0].n_entries
    assert all(r.n_entries == n for r in raws)
    shape = (16, n) + raws[0].entry_shape
    prealloc = np.ones(shape, dtype=raws[0].dtype)
    nbytes = prealloc.nbytes

    def raw_all():
        for m, r in enumerate(raws):
            r.read_into(prealloc[m])

    def raw_all_new():
        out = np.empty(shape, dtype=raws[0].dtype)
        for m, r in enumerate(raws):
            r.read_into(out[m])
        return out

    run = RunDirectory(run_dir)
    sel = run.select("*/DET/*", KEY)

    def iterate():
        n_trains = 0
        for _tid, _data in sel.trains():
            n_trains += 1
        return n_trains

    ops = [("limit", raw_all, None), ("limit_new", raw_all_new, None)]
    AGIPD1M, where = load_agipd1m()
    component_ok = False
    if AGIPD1M is None:
        notes.append(f"component not available: {where}")
    else:
        if f"AGIPD1M imported from {where}" not in notes:
            notes.append(f"AGIPD1M imported from {where}")

        def component():
            return AGIPD1M(run, raw=True).get_array(KEY)

        # trains() yields every key of the modules; keep the frames and their pulse IDs.
        frames_only = run.select("*/DET/*", "image.[dp]*")

        def component_trains():
            n_trains = 0
            for _tid, _data in AGIPD1M(frames_only, raw=True).trains():
                n_trains += 1
            return n_trains

        def component_dask_mean():
            import dask
            with dask.config.set(scheduler="threads", num_workers=2):
                return AGIPD1M(run, raw=True).get_dask_array(KEY).mean("train_pulse").compute()

        def raw_mean():
            return raw_all_new().mean(axis=1)

        try:
            arr = component()
            if arr.size * arr.dtype.itemsize != nbytes:
                notes.append(f"{label}: component array has {arr.nbytes} bytes, "
                             f"raw read {nbytes}")
            del arr
            ops += [("component", component, None),
                    ("component_trains", component_trains, None),
                    ("component_dask", component_dask_mean, None),
                    ("raw_mean", raw_mean, None)]
            component_ok = True
        except Exception as err:  # noqa: BLE001 - concurrent work may be unfinished
            notes.append(f"{label}: AGIPD1M(run).get_array failed: "
                         f"{type(err).__name__}: {err}")
    ops.append(("trains", iterate, None))
    res = measure_interleaved(ops, repeats=repeats)
    limit, limit_new = res["limit"], res["limit_new"]

    for name, m in [("limit: h5py read_direct x16, preallocated", limit),
                    ("limit (new array): x16 into np.empty", limit_new)]:
        table.add(label, name, fmt_time(m.best), fmt_bytes(nbytes), fmt_rate(nbytes, m.best),
                  fmt_ratio(limit.best / m.best),
                  fmt_ratio(limit_new.best / m.best) if m is limit_new else "-", "",
                  fmt_bytes(m.peak_rss))
    if component_ok:
        for key, name, row_goal in [
                ("component", "AGIPD1M(run).get_array(key)", f">= {goal}"),
                ("component_trains", "AGIPD1M(image.data+pulseId).trains()",
                 "overhead <= 10 %"),
                ("component_dask", "get_dask_array(key).mean(), 2 threads", ">= 0.8"),
                ("raw_mean", "raw read (new array) + numpy mean", "")]:
            m = res[key]
            table.add(label, name, fmt_time(m.best), fmt_bytes(nbytes),
                      fmt_rate(nbytes, m.best), fmt_ratio(limit.best / m.best),
                      fmt_ratio(limit_new.best / m.best), row_goal, fmt_bytes(m.peak_rss))
        notes.append(f"{label}: component trains() overhead "
                     f"{(res['component_trains'].best / limit_new.best - 1) * 100:+.0f} % vs "
                     "the new-array limit; dask mean at "
                     f"{res['raw_mean'].best / res['component_dask'].best:.2f} of raw read + "
                     "numpy mean")
    else:
        table.add(label, "component: not available")
    m = res["trains"]
    table.add(label, "select('*/DET/*', key).trains()", fmt_time(m.best), fmt_bytes(nbytes),
              fmt_rate(nbytes, m.best), fmt_ratio(limit.best / m.best),
              fmt_ratio(limit_new.best / m.best), "overhead <= 10 %", fmt_bytes(m.peak_rss))
    notes.append(f"{label}: trains() overhead {(m.best / limit.best - 1) * 100:+.0f} % vs the "
                 f"preallocated limit, {(m.best / limit_new.best - 1) * 100:+.0f} % vs the "
                 "new-array limit")
    for r in raws:
        r.close()
    del run, sel, prealloc
    reset_file_access()


# ---- slow data -------------------------------------------------------------------------
def value_paths(f: h5py.File) -> list[str]:
    found: list[str] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.endswith("/value"):
            found.append(name)

    f["CONTROL"].visititems(lambda name, obj: visit("CONTROL/" + name, obj))
    return found


def slow_data(table: Table, root: Path, quick: bool, repeats: int) -> None:
    from xfconvert import RunDirectory
    n_sources, n_keys, n_trains = (5, 8, 1000) if quick else (50, 80, 30000)
    run_dir, paths = slow_data_run(root, n_sources, n_keys, n_trains)

    open_files = [h5py.File(p, "r") for p in paths]
    per_file = [(f, value_paths(f)) for f in open_files]
    n_columns = n_sources * n_keys
    value_bytes = sum(f[p].nbytes for f, ps in per_file for p in ps)

    def raw_read():
        return [f[p][()] for f, ps in per_file for p in ps]

    def raw_open_list_read():
        out = []
        for path in paths:
            with h5py.File(path, "r") as f:
                out.extend(f[p][()] for p in value_paths(f))
        return out

    run = RunDirectory(run_dir)  # also writes the run-map cache used below
    df = run.get_dataframe()
    assert df.shape == (n_trains, n_columns), df.shape
    del df

    def fresh_get_dataframe():
        return RunDirectory(run_dir).get_dataframe()

    res = measure_interleaved([
        ("limit", raw_read, None),
        ("ours", run.get_dataframe, None),
        ("limit_open", raw_open_list_read, None),
        ("fresh", fresh_get_dataframe, reset_file_access),
    ], repeats=repeats)
    limit, ours, limit_open, fresh = (res[k] for k in ("limit", "ours", "limit_open", "fresh"))
    label = f"{n_columns} keys x {n_trains}"
    for name, m, lim, goal in [
        ("limit: h5py f[path][()] of every value", limit, limit, ""),
        ("run.get_dataframe() (run already open)", ours, limit, "<= 1.5x"),
        ("limit: h5py open + list + read, per file", limit_open, limit_open, ""),
        ("RunDirectory(cached).get_dataframe()", fresh, limit_open, "<= 1.5x"),
    ]:
        per_key = (m.best - lim.best) / n_columns
        table.add(label, name, fmt_time(m.best), fmt_bytes(value_bytes),
                  fmt_rate(value_bytes, m.best), fmt_ratio(m.best / lim.best), goal,
                  f"{per_key * 1e6:+.0f} us" if m is not lim else "", fmt_bytes(m.peak_rss))
    for f in open_files:
        f.close()
    del run
    reset_file_access()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    started = time.perf_counter()
    q = args.quick
    # (label, n_trains, frames per train, sequences, goal)
    single = [("1 module ~10 MiB", 2 if q else 10, 2 if q else 4, 1, 0.9),
              ("1 module ~200 MiB", 8 if q else 200, 4, 2, 0.95)]
    multi = [("16 mod ~10 MiB", 1 if q else 3, 1, 1, 0.9),
             ("16 mod ~200 MiB", 2 if q else 25, 2, 1 if q else 2, 0.95)]

    det_table = Table(
        "Detector reads (ratio = limit time / our time: 1.00 = as fast as raw h5py)",
        ["case", "operation", "best", "size", "speed", "ratio", "ratio new", "goal",
         "peak dRSS"])
    notes: list[str] = [
        "ratio: against read_direct into an array allocated (and touched) beforehand;",
        "ratio new: against read_direct into a fresh np.empty, i.e. including the page faults",
        "  any function returning a new array pays (for rows that return a new array).",
    ]
    slow_table = Table(
        "Slow data get_dataframe (ratio = our time / limit time: lower is better)",
        ["case", "operation", "best", "values", "speed", "ratio", "goal", "per key",
         "peak dRSS"])
    with bench_root("read") as root:
        os.environ["XFCONVERT_CACHE_DIR"] = str(root / "user_cache")
        for i, (label, n_trains, frames, seqs, goal) in enumerate(single):
            run_dir = agipd_run(root, f"agipd_1mod_{i}", 1, n_trains, frames, seqs)
            single_module(det_table, run_dir, label, goal, args.repeats)
            det_table.separator()
        for i, (label, n_trains, frames, seqs, goal) in enumerate(multi):
            run_dir = agipd_run(root, f"agipd_16mod_{i}", 16, n_trains, frames, seqs)
            all_modules(det_table, run_dir, label, goal, args.repeats, notes)
            det_table.separator()
        det_table.notes = notes
        slow_data(slow_table, root, q, args.repeats)
    det_table.print()
    slow_table.print()
    print_footer(started, args.repeats)


if __name__ == "__main__":
    main()
