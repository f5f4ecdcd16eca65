"""Benchmark: writers of HDF5 outputs (EuXFEL subsets, selected frames, CXI, virtual datasets).

Limits, measured in the same run on the same files with the page cache warm:

* ``run.write`` (writer ``euxfel``) of a whole 16-module AGIPD run, two sizes: beside
  ``shutil.copyfile`` of the same input files, without and with an fsync of the copies
  (the writer fsyncs its atomic output before renaming it, so the fsync'd copy is the
  ratio's limit). The conversion runs in a child process: its time excludes starting
  Python, importing and opening the run; its peak RSS is the child's own (VmHWM);
* ``write_frames`` of 400 (train, pulse) pairs x 16 modules: beside reading the same
  frames' ``image.data`` with ``read_direct`` of each contiguous run of selected entries
  into a preallocated buffer, writing it with h5py to a plain file and fsyncing it;
* ``write_virtual_cxi`` of the 16-module run, then reads of 32 consecutive frames in one
  call from the CXI stack, with ``xfconvert.read_stack_frames`` and with h5py's
  ``read_direct``, beside ``read_direct`` of the same frames from the 16 module files (all
  into preallocated buffers);
* ``write_virtual`` of a slow-data run (50 sources x 80 keys) beside h5py building the
  same virtual datasets (one ``VirtualLayout`` per dataset, one mapping per file).

Goals (from the issue): write >= 0.5 of the copy (never below 0.3), peak RSS <= 256 MB
whatever the size; CXI bulk frame reads >= 0.3 of direct module reads; write_virtual of
~4,000 keys in a few seconds (milliseconds per key).

Run: ``python benchmarks/write.py [--quick] [--repeats N]``.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (slow_data_run, MB, Table, bench_root, cached_dataset, fmt_bytes, fmt_rate,  # noqa: E402
                     fmt_ratio, fmt_time, free_disk_bytes, fsync_paths,
                     measure_interleaved_mixed, parse_args, print_footer, reset_file_access,
                     run_child, warm_page_cache)

DETECTOR = "SPB_DET_AGIPD1M-1"
FRAME_BYTES = 2 * 512 * 128 * 2  # raw AGIPD image.data entry: (data/gain, 512, 128) uint16
RSS_GOAL = 256 * MB


def module_source(m: int) -> str:
    return f"{DETECTOR}/DET/{m}CH0:xtdf"


def agipd_run(root: Path, name: str, n_trains: int, frames: int, n_sequences: int) -> Path:
    from xfconvert.testing import make_run
    params = dict(n_modules=16, n_trains=n_trains, frames=frames, n_sequences=n_sequences)
    path, made = cached_dataset(root, name, params, lambda p: make_run(
        p, detector="agipd", n_modules=16, n_trains=n_trains, frames_per_train=frames,
        n_sequences=n_sequences, slow_data=False))
    nbytes = warm_page_cache(sorted(path.glob("*.h5")))
    print(f"{name}: 16 modules x {n_trains} trains x {frames} frames, {fmt_bytes(nbytes)} on "
          "disk" + (f", made in {made:.1f} s" if made else ", reused"), flush=True)
    return path


def _rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _child_env(root: Path) -> dict[str, str]:
    return {"XFCONVERT_CACHE_DIR": str(root / "user_cache")}


def _rss(m) -> str:
    return fmt_bytes(m.max_rss) if getattr(m, "max_rss", None) else "-"


# ---- run.write (euxfel) --------------------------------------------------------------------
def euxfel_write(table: Table, root: Path, runs: list[tuple[str, Path]], repeats: int,
                 notes: list[str]) -> None:
    for label, run_dir in runs:
        inputs = sorted(run_dir.glob("*.h5"))
        nbytes = sum(p.stat().st_size for p in inputs)
        copy_dir = root / "copy"
        target = root / "write_out.h5"

        def fresh_copy_dir():
            _rm(copy_dir)
            copy_dir.mkdir()

        def copy():
            for p in inputs:
                shutil.copyfile(p, copy_dir / p.name)

        def copy_fsync():
            copy()
            fsync_paths([copy_dir / p.name for p in inputs] + [copy_dir])

        setup = ("from xfconvert import RunDirectory\n"
                 "from xfconvert.writers import convert\n"
                 "import xfconvert.writers.euxfel  # imported before timing\n"
                 f"run = RunDirectory({str(run_dir)!r})\n")
        timed = f"convert(run, {str(target)!r}, to='euxfel')\n"
        res = measure_interleaved_mixed([
            ("copy", copy, fresh_copy_dir),
            ("copy_fsync", copy_fsync, fresh_copy_dir),
            ("write", lambda: run_child(setup, timed, env=_child_env(root)),
             lambda: (_rm(target), _rm(copy_dir))),
        ], repeats=repeats)
        _rm(copy_dir)
        out_bytes = target.stat().st_size
        _rm(target)
        lim = res["copy_fsync"]
        rows = [("limit: shutil.copyfile of the input files", res["copy"], ""),
                ("limit: copyfile + fsync (as the writer)", lim, ""),
                ("convert(run, out, to='euxfel')", res["write"], ">= 0.5 (>= 0.3)")]
        for name, m, goal in rows:
            table.add(label, name, fmt_time(m.best), fmt_bytes(nbytes),
                      fmt_rate(nbytes, m.best), fmt_ratio(lim.best / m.best),
                      fmt_ratio(res["copy"].best / m.best), goal, fmt_bytes(m.peak_rss),
                      _rss(m))
        w = res["write"]
        table.add(label, f"  output {fmt_bytes(out_bytes)}; child RSS before writing "
                  f"{fmt_bytes(w.before)}; RSS goal <= {fmt_bytes(RSS_GOAL)}: "
                  + ("met" if w.max_rss <= RSS_GOAL else "MISSED"))
        table.separator()
        notes.append(f"{label}: write at {w.best and nbytes / w.best / 1e9:.2f} GB/s, "
                     f"child peak RSS {fmt_bytes(w.max_rss)} (dRSS {fmt_bytes(w.peak_rss)})")


# ---- write_frames ------------------------------------------------------------------------
class ModuleFrames:
    """Entries of one module's image.data that hold the selected (train, pulse) pairs,
    as contiguous runs per file, found with plain h5py (files kept open)."""

    def __init__(self, run_dir: Path, m: int, codes: np.ndarray):
        src = module_source(m)
        self.files = [h5py.File(p, "r") for p in sorted(run_dir.glob(f"*-AGIPD{m:02d}-S*.h5"))]
        self.runs: list[tuple[h5py.Dataset, int, int]] = []  # (dataset, start, stop)
        for f in self.files:
            tid = f[f"INSTRUMENT/{src}/image/trainId"][()].reshape(-1).astype(np.uint64)
            pid = f[f"INSTRUMENT/{src}/image/pulseId"][()].reshape(-1).astype(np.uint64)
            sel = np.flatnonzero(np.isin(tid * np.uint64(1 << 16) + pid, codes))
            if not sel.size:
                continue
            ds = f[f"INSTRUMENT/{src}/image/data"]
            breaks = np.flatnonzero(np.diff(sel) != 1) + 1
            for piece in np.split(sel, breaks):
                self.runs.append((ds, int(piece[0]), int(piece[-1]) + 1))
        self.n = sum(b - a for _, a, b in self.runs)
        self.entry_shape = self.runs[0][0].shape[1:]
        self.dtype = self.runs[0][0].dtype

    def read_into(self, out: np.ndarray) -> None:
        pos = 0
        for ds, a, b in self.runs:
            ds.read_direct(out, source_sel=np.s_[a:b], dest_sel=np.s_[pos:pos + b - a])
            pos += b - a

    def close(self) -> None:
        for f in self.files:
            f.close()


def pick_frames(run_dir: Path, n_pairs: int, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """``n_pairs`` distinct (train, pulse) pairs of module 0, at random, in storage order."""
    tids, pids = [], []
    for p in sorted(run_dir.glob("*-AGIPD00-S*.h5")):
        with h5py.File(p, "r") as f:
            g = f[f"INSTRUMENT/{module_source(0)}/image"]
            tids.append(g["trainId"][()].reshape(-1))
            pids.append(g["pulseId"][()].reshape(-1))
    tid, pid = np.concatenate(tids).astype(np.uint64), np.concatenate(pids).astype(np.uint64)
    n_pairs = min(n_pairs, tid.size)
    pick = np.sort(np.random.default_rng(seed).choice(tid.size, n_pairs, replace=False))
    return tid[pick], pid[pick], tid.size


def write_frames(table: Table, root: Path, run_dir: Path, n_pairs: int, repeats: int,
                 notes: list[str]) -> None:
    trains, pulses, n_total = pick_frames(run_dir, n_pairs)
    codes = trains * np.uint64(1 << 16) + pulses
    mods = [ModuleFrames(run_dir, m, codes) for m in range(16)]
    n_max = max(mf.n for mf in mods)
    buf = np.ones((n_max,) + mods[0].entry_shape, mods[0].dtype)
    nbytes = sum(mf.n for mf in mods) * buf[0].nbytes
    n_runs = sum(len(mf.runs) for mf in mods)
    plain = root / "frames_plain.h5"
    target = root / "frames_out.h5"

    def limit():
        with h5py.File(plain, "w") as out:
            for m, mf in enumerate(mods):
                mf.read_into(buf)
                ds = out.create_dataset(f"m{m:02d}", shape=(mf.n,) + mf.entry_shape,
                                        dtype=mf.dtype)
                ds.write_direct(buf, source_sel=np.s_[:mf.n])
        fsync_paths([plain])

    setup = ("import numpy as np\n"
             "from xfconvert import RunDirectory\n"
             "from xfconvert.components import AGIPD1M\n"
             "from xfconvert.writers.euxfel import write_frames\n"
             f"det = AGIPD1M(RunDirectory({str(run_dir)!r}))\n"
             f"trains = np.array({trains.tolist()!r}, dtype=np.uint64)\n"
             f"pulses = np.array({pulses.tolist()!r}, dtype=np.uint64)\n")
    timed = f"write_frames(det, {str(target)!r}, trains, pulses)\n"
    res = measure_interleaved_mixed([
        ("limit", limit, lambda: _rm(plain)),
        ("ours", lambda: run_child(setup, timed, env=_child_env(root)),
         lambda: (_rm(target), _rm(plain))),
    ], repeats=repeats)
    with h5py.File(target, "r") as f:
        got = f[f"INSTRUMENT/{module_source(0)}/image/data"].shape[0]
    if got != mods[0].n:
        notes.append(f"write_frames: module 0 has {got} frames in the output, expected "
                     f"{mods[0].n}")
    _rm(target)
    _rm(plain)
    for mf in mods:
        mf.close()
    label = f"{len(trains)} pairs x 16 mod"
    lim, ours = res["limit"], res["ours"]
    table.add(label, "limit: read_direct of contiguous runs + h5py write + fsync",
              fmt_time(lim.best), fmt_bytes(nbytes), fmt_rate(nbytes, lim.best), "1.00", "-",
              "", fmt_bytes(lim.peak_rss), "-")
    table.add(label, "write_frames(AGIPD1M(run), out, trains, pulses)", fmt_time(ours.best),
              fmt_bytes(nbytes), fmt_rate(nbytes, ours.best), fmt_ratio(lim.best / ours.best),
              "-", ">= 0.5 (>= 0.3)", fmt_bytes(ours.peak_rss), _rss(ours))
    table.add(label, f"  child RSS before writing {fmt_bytes(ours.before)}; RSS goal <= "
              f"{fmt_bytes(RSS_GOAL)}: " + ("met" if ours.max_rss <= RSS_GOAL else "MISSED"))
    table.separator()
    notes.append(f"write_frames: {len(trains)} pairs picked at random from the "
                 f"{n_total} frames of each module make {n_runs} contiguous runs "
                 "over 16 modules; bytes counted are image.data only (the writer also copies "
                 "the small per-frame and per-train keys)")


# ---- CXI ---------------------------------------------------------------------------------
def load_cxi():
    try:
        from xfconvert.writers.cxi import write_virtual_cxi
        return write_virtual_cxi, ""
    except Exception as err:  # noqa: BLE001 - being written concurrently
        return None, f"{type(err).__name__}: {err}"


def _frames_dataset(f: h5py.File) -> h5py.Dataset:
    """The detector stack of a CXI file: the largest virtual dataset."""
    found: list[h5py.Dataset] = []
    f.visititems(lambda n, o: found.append(o) if isinstance(o, h5py.Dataset) and o.is_virtual
                 and o.ndim >= 4 else None)
    if not found:
        raise LookupError("no virtual detector dataset of 4 or more dimensions")
    return max(found, key=lambda d: d.size * d.dtype.itemsize)


def cxi(table: Table, root: Path, run_dir: Path, repeats: int, notes: list[str]) -> None:
    write_virtual_cxi, why = load_cxi()
    if write_virtual_cxi is None:
        print("cxi: not available", flush=True)
        table.add("CXI", "cxi: not available")
        table.separator()
        notes.append(f"cxi: not available ({why})")
        return
    from xfconvert import RunDirectory, read_stack_frames
    from xfconvert.components import AGIPD1M
    run = RunDirectory(run_dir)
    det = AGIPD1M(run)
    target = root / "stack.cxi"

    def write():
        write_virtual_cxi(det, target)

    w = measure_interleaved_mixed([("cxi", write, lambda: _rm(target))], repeats=repeats)["cxi"]
    table.add("CXI 16 mod", "write_virtual_cxi(AGIPD1M(run), out)", fmt_time(w.best), "", "",
              "", "", "", fmt_bytes(w.peak_rss), "-")
    reset_file_access()
    del run, det

    from read import RawModulePlan  # the same raw plan as the read benchmark
    raws = [RawModulePlan(run_dir, m) for m in range(16)]
    f = h5py.File(target, "r")
    try:
        ds = _frames_dataset(f)
    except LookupError as err:
        f.close()
        for r in raws:
            r.close()
        notes.append(f"cxi: {target.name}: {err}")
        table.add("CXI 16 mod", f"cxi read: {err}")
        return
    n_frames = min(ds.shape[0], raws[0].n_entries)
    block = 32 if n_frames >= 32 else n_frames
    starts = list(range(0, n_frames - block + 1, block))
    cxi_buf = np.ones((block,) + ds.shape[1:], ds.dtype)
    mod_buf = np.ones((16, block) + raws[0].entry_shape, raws[0].dtype)
    nbytes = len(starts) * mod_buf.nbytes

    def cxi_bulk():
        for a in starts:
            read_stack_frames(ds, a, a + block, out=cxi_buf)

    def cxi_h5py():
        for a in starts:
            ds.read_direct(cxi_buf, source_sel=np.s_[a:a + block])

    def cxi_single():
        for a in starts:
            for i in range(block):
                ds.read_direct(cxi_buf, source_sel=np.s_[a + i:a + i + 1],
                               dest_sel=np.s_[i:i + 1])

    def module_read(a: int, out: np.ndarray) -> None:
        for m, r in enumerate(raws):
            pos, dst = 0, 0
            for src_ds, s, e in r.pieces:  # entries a:a+block, which may span files
                lo, hi = max(a, pos), min(a + block, pos + e - s)
                if lo < hi:
                    src_ds.read_direct(out[m], source_sel=np.s_[s + lo - pos:s + hi - pos],
                                       dest_sel=np.s_[dst:dst + hi - lo])
                    dst += hi - lo
                pos += e - s

    def direct():
        for a in starts:
            module_read(a, mod_buf)

    # Sanity: the stack holds the module frames (its module axis is the second one).
    module_read(starts[0], mod_buf)
    read_stack_frames(ds, starts[0], starts[0] + block, out=cxi_buf)
    if cxi_buf.nbytes != mod_buf.nbytes:
        notes.append(f"cxi: stack {ds.name} {ds.shape} {ds.dtype}: {cxi_buf.nbytes} bytes per "
                     f"{block} frames, module files {mod_buf.nbytes}")
    elif not np.array_equal(np.moveaxis(mod_buf, 0, 1).reshape(cxi_buf.shape), cxi_buf):
        notes.append(f"cxi: stack {ds.name} {ds.shape}: values differ from the module files "
                     "(frame or module order?)")
    res = measure_interleaved_mixed([("direct", direct, None), ("bulk", cxi_bulk, None),
                                     ("h5py", cxi_h5py, None), ("single", cxi_single, None)],
                                    repeats=repeats)
    lim = res["direct"]
    label = f"CXI {len(starts)}x{block} frames"
    for name, m, goal in [
        ("limit: read_direct of the frames from 16 module files", lim, ""),
        (f"CXI stack, {block} frames per call, read_stack_frames", res["bulk"], ">= 0.3"),
        (f"CXI stack, {block} frames per call, h5py read_direct", res["h5py"], ""),
        ("CXI stack, 1 frame per call, h5py read_direct", res["single"], ""),
    ]:
        table.add(label, name, fmt_time(m.best), fmt_bytes(nbytes), fmt_rate(nbytes, m.best),
                  fmt_ratio(lim.best / m.best), "-", goal, fmt_bytes(m.peak_rss), "-")
    table.separator()
    chunks = ds.chunks
    notes.append(f"cxi: stack {ds.name} shape {ds.shape} {ds.dtype}, output chunks {chunks}, "
                 f"{len(ds.virtual_sources())} virtual mappings")
    f.close()
    for r in raws:
        r.close()
    _rm(target)


# ---- write_virtual of slow data ------------------------------------------------------------
def slow_virtual(table: Table, root: Path, quick: bool, repeats: int, notes: list[str]) -> None:
    from xfconvert import RunDirectory
    n_sources, n_keys, n_trains = (5, 8, 1000) if quick else (50, 80, 30000)
    run_dir, paths = slow_data_run(root, n_sources, n_keys, n_trains)

    # The limit's listing (done once, untimed: the reader has it from its run map too).
    pieces: dict[str, list[tuple[str, tuple, np.dtype]]] = {}
    for p in paths:
        with h5py.File(p, "r") as f:
            def visit(name, obj, p=p):
                if isinstance(obj, h5py.Dataset) and name.rsplit("/", 1)[-1] in (
                        "value", "timestamp"):
                    pieces.setdefault("CONTROL/" + name, []).append(
                        (str(p), obj.shape, obj.dtype))
            f["CONTROL"].visititems(visit)
    n_datasets = len(pieces)
    n_columns = n_sources * n_keys
    plain = root / "vds_plain.h5"
    target = root / "vds_out.h5"

    def limit():
        with h5py.File(plain, "w") as out:
            for path, parts in pieces.items():
                n = sum(s[0] for _, s, _ in parts)
                layout = h5py.VirtualLayout((n,) + parts[0][1][1:], parts[0][2])
                pos = 0
                for fname, shape, dtype in parts:
                    layout[pos:pos + shape[0]] = h5py.VirtualSource(fname, path, shape=shape,
                                                                    dtype=dtype)
                    pos += shape[0]
                out.create_virtual_dataset(path, layout)
        fsync_paths([plain])

    run = RunDirectory(run_dir)

    def ours():
        run.write_virtual(target)

    def fresh():
        RunDirectory(run_dir).write_virtual(target)

    res = measure_interleaved_mixed([
        ("limit", limit, lambda: _rm(plain)),
        ("ours", ours, lambda: _rm(target)),
        ("fresh", fresh, lambda: (_rm(target), reset_file_access())),
    ], repeats=repeats)
    with h5py.File(target, "r") as f:
        n_out = sum(1 for p in pieces if p in f)
    if n_out != n_datasets:
        notes.append(f"write_virtual: {n_out} of the {n_datasets} value/timestamp datasets "
                     "are in the output")
    _rm(target)
    _rm(plain)
    del run
    reset_file_access()
    lim = res["limit"]
    label = f"{n_columns} keys x {n_trains}"
    for name, m, goal in [
        (f"limit: h5py, {n_datasets} VirtualLayouts, 1 mapping/file", lim, ""),
        ("run.write_virtual(out) (run open)", res["ours"], "a few s"),
        ("RunDirectory(run).write_virtual(out)", res["fresh"], "a few s"),
    ]:
        table.add(label, name, fmt_time(m.best), "", "", fmt_ratio(lim.best / m.best), "-",
                  goal, fmt_bytes(m.peak_rss), "-",
                  f"{m.best / n_columns * 1e3:.2f} ms")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    if args.quick and "--repeats" not in (sys.argv[1:] if argv is None else argv):
        args.repeats = 1  # a smoke run: one timed run after the warm-up
    started = time.perf_counter()
    q = args.quick
    # (label, trains, frames per train, sequences); 16 modules x 256 KiB per frame
    sizes = [(2, 2, 1), (4, 2, 2)] if q else [(32, 4, 2), (128, 4, 4)]
    n_pairs = 16 if q else 400

    notes: list[str] = [
        "ratio: limit time / our time (1.00 = as fast as the limit); for run.write the "
        "limit is copyfile + fsync,",
        "  ratio copy: against copyfile without fsync; conversions run in a child process "
        "(time excludes start-up and opening);",
        "  peak RSS = the child's own peak RSS (whole process); peak dRSS = increase during "
        "the timed part.",
    ]
    table = Table("Writers (ratio = limit time / our time: higher is better, 1.00 = limit)",
                  ["case", "operation", "best", "size", "speed", "ratio", "ratio copy",
                   "goal", "peak dRSS", "peak RSS", "per key"])
    with bench_root("write") as root:
        os.environ["XFCONVERT_CACHE_DIR"] = str(root / "user_cache")
        # Each size needs its input, a copy and an output (plus the other sizes' inputs).
        free = free_disk_bytes(root)
        need = sum(3 * 16 * t * fr * FRAME_BYTES for t, fr, _ in sizes) + (2 << 30)
        while need > free * 0.8 and sizes[-1][0] > 8:
            t, fr, s = sizes[-1]
            sizes[-1] = (t // 2, fr, s)
            need = sum(3 * 16 * t * fr * FRAME_BYTES for t, fr, _ in sizes) + (2 << 30)
            notes.append(f"scaled the large run down to {t // 2} trains: {fmt_bytes(free)} "
                         "free on disk")
        runs = []
        for t, fr, s in sizes:
            run_dir = agipd_run(root, f"agipd_{t}x{fr}", t, fr, s)
            runs.append((f"~{fmt_bytes(16 * t * fr * FRAME_BYTES)} run", run_dir))
        euxfel_write(table, root, runs, args.repeats, notes)
        print("run.write done", flush=True)
        write_frames(table, root, runs[-1][1], n_pairs, args.repeats, notes)
        print("write_frames done", flush=True)
        cxi(table, root, runs[0][1], args.repeats, notes)
        print("cxi done", flush=True)
        slow_virtual(table, root, q, args.repeats, notes)
        reset_file_access()
    table.notes = notes
    table.print()
    print_footer(started, args.repeats)


if __name__ == "__main__":
    main()
