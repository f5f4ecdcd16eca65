"""Running a Zarr plan: creating the arrays, then writing blocks serially or on dask.

Every :class:`~xfconvert.writers.zarr.BlockWrite` covers whole chunks (whole shards with
sharding), so blocks never share a chunk and any number of processes can write them at
once without locks. With ``workers > 1`` the blocks run on a local
``dask.distributed.LocalCluster`` of single-threaded worker processes; with
``scheduler=ADDRESS`` on an existing cluster, whose workers must see the output path.
Each dask task writes a bundle of consecutive blocks of about ``TASK_BYTES``, reading
its entries itself (the plan's FileAccess objects pickle by path).

Examples
--------
>>> from xfconvert.writers.base import convert
>>> convert(run, "out.zarr", to="zarr", workers=2)                      # doctest: +SKIP
>>> convert(run, "out.zarr", to="zarr", scheduler="tcp://head:8786")    # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..exceptions import OptionError, OutputError

log = logging.getLogger(__name__)

__all__ = ["create_arrays", "run_writes", "write_blocks", "own_io_threads", "stop_io",
           "CONNECT_TIMEOUT", "IO_THREADS"]

#: Seconds to wait for an existing dask scheduler to answer.
CONNECT_TIMEOUT = 10.0
#: Bytes of blocks bundled into one dask task (a task is at least one block).
TASK_BYTES = 64 << 20
#: Threads of zarr's I/O executor while xfconvert writes (zarr's own, so it can be drained).
IO_THREADS = 4
#: Seconds to wait for cancelled zarr I/O to finish.
STOP_TIMEOUT = 5.0


@contextlib.contextmanager
def own_io_threads() -> Iterator[None]:
    """Have zarr run its file I/O on an executor it owns (and :func:`stop_io` can drain).

    By default zarr hands file I/O to asyncio's executor, which nothing can wait for:
    after an interrupt, chunks still in flight would recreate a removed store.
    """
    import zarr
    if zarr.config.get("threading.max_workers", None) is not None:
        yield
        return
    with zarr.config.set({"threading.max_workers": IO_THREADS}):
        yield


def stop_io() -> None:
    """Cancel zarr's pending writes and wait for those already running to finish.

    zarr runs its writes as asyncio tasks on its own I/O thread; a KeyboardInterrupt in
    the main thread leaves them running. They are cancelled, then zarr's executor is shut
    down (waiting for the file writes in progress) and its event loop stopped; zarr makes
    new ones on its next use.
    """
    import asyncio

    from zarr.core import sync
    loop = sync.loop[0]
    if loop is None or loop.is_closed():
        return

    async def cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)

    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(STOP_TIMEOUT)
    sync.cleanup_resources()


def _compressors(options) -> Any:
    from zarr.codecs import BloscCodec, BloscShuffle, ZstdCodec
    if options.compression == "zstd":
        return ZstdCodec(level=options.compression_level)
    if options.compression == "blosc":
        return BloscCodec(cname="zstd", clevel=options.compression_level,
                          shuffle=BloscShuffle.shuffle)
    return None


def create_arrays(store, plan, report: Callable[[int], None]) -> int:
    """Create the root, the groups and every array; write the small ones.

    ``report(done)`` is called with the bytes written so far after each small array.
    Returns the bytes written.
    """
    import zarr
    root = zarr.create_group(store, zarr_format=3, attributes=plan.root_attrs)
    for name, attrs in plan.groups.items():
        root.require_group(name).attrs.update(attrs)
    compressors = _compressors(plan.options)
    done = 0
    for spec in plan.arrays:
        arr = zarr.create_array(store, name=spec.path, shape=spec.shape, dtype=spec.dtype,
                                chunks=spec.chunks, shards=spec.shards,
                                compressors=compressors, fill_value=spec.fill_value,
                                dimension_names=spec.dims, attributes=spec.attrs,
                                zarr_format=3)
        if spec.values is not None and spec.values.size:
            arr[...] = spec.values
            done += spec.values.nbytes
            report(done)
    return done


def write_blocks(path: str, blocks: Sequence,
                 report: Callable[[int], None] | None = None) -> int:
    """Write ``blocks`` into the store at ``path``; return their bytes (a dask task).

    The next block is read in a second thread while Zarr compresses and writes the
    current one (h5py and the codecs release the interpreter in turns), so at most two
    blocks are in memory. ``report(done)`` gets the bytes written so far after each block.
    """
    import zarr
    store = zarr.storage.LocalStore(path)
    arrays: dict[str, Any] = {}
    done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xfconvert-read") as pool:
        pending = pool.submit(blocks[0].read) if blocks else None
        for i, block in enumerate(blocks):
            data = pending.result()
            pending = pool.submit(blocks[i + 1].read) if i + 1 < len(blocks) else None
            if not Path(path).is_dir():
                # The conversion was abandoned and its temporary output removed.
                raise OutputError(f"Output {path} disappeared while writing {block.path}.")
            if block.path not in arrays:
                arrays[block.path] = zarr.open_array(store, path=block.path, mode="r+")
            block.store(arrays[block.path], data)
            del data
            done += block.nbytes
            if report is not None:
                report(done)
    return done


def _bundles(blocks: Sequence) -> list[list]:
    """Consecutive blocks grouped into tasks of about TASK_BYTES."""
    bundles: list[list] = []
    size = math.inf
    for block in blocks:
        if size + block.nbytes > TASK_BYTES:
            bundles.append([])
            size = 0
        bundles[-1].append(block)
        size += block.nbytes
    return bundles


def run_writes(path: str, blocks: Sequence, options, report: Callable[[int], None]) -> None:
    """Write every block: in this process, or on dask when options ask for it.

    ``report(done)`` gets the bytes written so far after each block (serial) or task.
    """
    if options.scheduler is None and options.workers <= 1:
        write_blocks(path, blocks, report)
        return
    try:
        import distributed
    except ImportError:
        log.warning("dask.distributed is not installed: writing %s serially instead of "
                    "with %s. Install it with: pip install 'xfconvert[dask]'", path,
                    options.scheduler or f"{options.workers} workers")
        write_blocks(path, blocks, report)
        return
    with _client(distributed, options) as client:
        futures = [client.submit(write_blocks, path, bundle, pure=False)
                   for bundle in _bundles(blocks)]
        try:
            done = 0
            for fut in distributed.as_completed(futures, loop=client.loop):
                done += fut.result()
                report(done)
        except BaseException:
            client.cancel(futures)
            raise


@contextlib.contextmanager
def _client(distributed, options) -> Iterator[Any]:
    """A dask client on the given scheduler, or on a new local cluster (closed after)."""
    if options.scheduler is not None:
        if options.workers > 1:
            log.info("scheduler given: ignoring workers=%d", options.workers)
        try:
            client = distributed.Client(options.scheduler, timeout=CONNECT_TIMEOUT,
                                        set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            raise OptionError(f"Cannot connect to the dask scheduler at "
                              f"{options.scheduler!r} within {CONNECT_TIMEOUT:g} s: "
                              f"{err}") from err
        with client:
            yield client
        return
    cluster = distributed.LocalCluster(n_workers=options.workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       silence_logs=logging.WARNING)
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client

