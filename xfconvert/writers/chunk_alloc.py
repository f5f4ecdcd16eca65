"""Which chunks of a chunked HDF5 dataset exist in the file.

The DAQ (and EXtra-data's mock generator) preallocate datasets and leave the chunks past
the last written entry unwritten; h5py's ``read_direct_chunk`` cannot read those, so every
raw chunk copy asks here first, once per dataset.

Examples
--------
>>> import tempfile, h5py, numpy as np
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "f.h5"
>>> with h5py.File(path, "w") as f:
...     ds = f.create_dataset("d", shape=(8, 2), chunks=(2, 2), dtype="u2")
...     ds[0:3] = 7
>>> with h5py.File(path, "r") as f:
...     sorted(allocated_chunk_offsets(f["d"]))
[(0, 0), (2, 0)]
"""
from __future__ import annotations

import h5py


def allocated_chunk_offsets(dset: h5py.Dataset) -> frozenset[tuple[int, ...]]:
    """Offsets (in elements) of the chunks of ``dset`` that were written.

    Parameters
    ----------
    dset : h5py.Dataset
        A chunked dataset (an unchunked one yields an empty set).

    Returns
    -------
    frozenset of tuple of int
    """
    if dset.chunks is None:
        return frozenset()
    dsid = dset.id
    offsets: list[tuple[int, ...]] = []
    if hasattr(dsid, "chunk_iter"):
        # One HDF5 call visiting every chunk (HDF5 >= 1.12.3 / 1.14).
        dsid.chunk_iter(lambda info: offsets.append(tuple(info.chunk_offset)))
    else:
        offsets = [tuple(dsid.get_chunk_info(i).chunk_offset)
                   for i in range(dsid.get_num_chunks())]
    return frozenset(offsets)
