"""Fast reads of frame ranges from virtual detector stacks.

A virtual detector stack is a ``(frames, modules, ...)`` virtual dataset whose module
slices map to the module files, such as ``entry_1/instrument_1/detector_1/data`` in the
CXI files written by ``write_virtual_cxi``. Reading several frames of all modules with
``data[a:b]`` is slow when the module files are chunked (as EuXFEL files are): HDF5 pairs
the memory selection of each module, ``(frames, 1, ...)``, with the source selection,
``(frames, ...)``; the two differ in shape only by the module axis between the frame and
pixel axes, but HDF5 then copies every element on its own. :func:`read_stack_frames`
reads the same bytes into the same C-ordered array through a memory dataspace with the
module axis merged into the next axis (and, when each source entry holds several frames,
like JUNGFRAU memory cells, the frame axis split into entries), so that each module's
memory selection has the shape of its source selection and HDF5 copies whole blocks.
"""
from __future__ import annotations

import math

import h5py
import numpy as np

from ..exceptions import OptionError


def read_stack_frames(dataset: h5py.Dataset, start: int | None = None,
                      stop: int | None = None, *, out: np.ndarray | None = None
                      ) -> np.ndarray:
    """Read frames ``start:stop`` of a ``(frames, modules, ...)`` stack, quickly.

    Returns the same values as ``dataset[start:stop]``, but reads a virtual detector
    stack at the speed of its module files rather than element by element (see the
    module documentation). Other datasets are read with ``read_direct``.

    Parameters
    ----------
    dataset : h5py.Dataset
        The stack, e.g. ``f["entry_1/instrument_1/detector_1/data"]`` of a CXI file
        from ``write_virtual_cxi``.
    start, stop : int, optional
        Frame range, with Python slice semantics (negative counts from the end,
        out-of-range bounds are clipped).
    out : numpy.ndarray, optional
        C-contiguous array of shape ``(n_frames,) + dataset.shape[1:]`` to read into; its
        dtype may differ from the dataset's (HDF5 converts). Default: a new array of the
        dataset's dtype.

    Returns
    -------
    numpy.ndarray
        ``out`` (or the new array), frames first, then modules, then pixel axes.

    Raises
    ------
    OptionError
        If ``out`` has the wrong shape or is not a writeable C-contiguous array.

    Examples
    --------
    >>> import h5py, numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for m in range(2):
    ...     with h5py.File(os.path.join(d, f"m{m}.h5"), "w") as f:
    ...         _ = f.create_dataset("data", data=np.arange(24).reshape(6, 2, 2) + 100 * m,
    ...                              chunks=(1, 2, 2))
    >>> layout = h5py.VirtualLayout((6, 2, 2, 2), dtype="i8")
    >>> for m in range(2):
    ...     layout[:, m] = h5py.VirtualSource(os.path.join(d, f"m{m}.h5"), "data", (6, 2, 2))
    >>> with h5py.File(os.path.join(d, "stack.h5"), "w") as f:
    ...     stack = f.create_virtual_dataset("data", layout)
    ...     frames = read_stack_frames(stack, 2, 5)
    ...     same = np.array_equal(frames, stack[2:5])
    >>> frames.shape, same, int(frames[0, 1, 0, 0])
    ((3, 2, 2, 2), True, 108)
    """
    first, last, _ = slice(start, stop).indices(dataset.shape[0])
    n_frames = max(last - first, 0)
    shape = (n_frames,) + tuple(dataset.shape[1:])
    out = _output_array(out, shape, dataset.dtype)
    if n_frames == 0:
        return out
    prefix = _entry_prefix(dataset)
    if prefix is None:
        dataset.read_direct(out, np.s_[first:last])
        return out
    for a, b, whole in _pieces(first, last, math.prod(prefix)):
        _read_piece(dataset, a, b, prefix if whole else None, out[a - first:b - first])
    return out


def _output_array(out: np.ndarray | None, shape: tuple[int, ...], dtype) -> np.ndarray:
    """``out`` checked against ``shape``, or a new array."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray) or tuple(out.shape) != shape:
        got = getattr(out, "shape", type(out).__name__)
        raise OptionError(f"out must be a numpy array of shape {shape}, got {got}.")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise OptionError("out must be a writeable C-contiguous array.")
    return out


def _entry_prefix(dataset: h5py.Dataset) -> tuple[int, ...] | None:
    """Axes of a source entry before the frame axes (JUNGFRAU: ``(memory cells,)``;
    XTDF detectors: ``()``), judged from the first mapping; None unless the dataset is a
    stack (a virtual dataset of 3 or more axes whose first mapping fills one position of
    axis 1 with entries of the frame shape), which ``read_direct`` reads well anyway."""
    if not dataset.is_virtual or dataset.ndim < 3:
        return None
    dcpl = dataset.id.get_create_plist()
    if dcpl.get_virtual_count() == 0:
        return None
    low, high = dcpl.get_virtual_vspace(0).get_select_bounds()
    if low[1] != high[1]:
        return None
    frame_shape = tuple(dataset.shape[2:])
    entry_shape = tuple(dcpl.get_virtual_srcspace(0).shape[1:])
    n_prefix = len(entry_shape) - len(frame_shape)
    if n_prefix < 0 or entry_shape[n_prefix:] != frame_shape or 0 in entry_shape:
        return None
    return entry_shape[:n_prefix]


def _pieces(first: int, last: int, per_entry: int) -> list[tuple[int, int, bool]]:
    """Split frames ``first:last`` into (start, stop, whole) pieces: whole source entries
    of ``per_entry`` frames, and the partial entries at either end."""
    whole_from = min(-(-first // per_entry) * per_entry, last)
    whole_to = max(last // per_entry * per_entry, whole_from)
    pieces = [(first, whole_from, False), (whole_from, whole_to, True),
              (whole_to, last, False)]
    return [p for p in pieces if p[1] > p[0]]


def _read_piece(dataset: h5py.Dataset, a: int, b: int, prefix: tuple[int, ...] | None,
                out: np.ndarray) -> None:
    """Read frames ``a:b`` through a memory dataspace shaped like the source selections:
    ``(entries,) + prefix + pixels`` for whole entries, ``(frames,) + pixels`` for part of
    one entry, with the module axis merged into the first pixel axis."""
    shape = tuple(dataset.shape)
    pixels = (shape[1] * shape[2],) + shape[3:]
    n = b - a
    if prefix is None:
        mem_shape = (n,) + pixels
    else:
        mem_shape = (n // max(math.prod(prefix), 1),) + prefix + pixels
    file_space = dataset.id.get_space()
    file_space.select_hyperslab((a,) + (0,) * (len(shape) - 1), (n,) + shape[1:])
    mem_space = h5py.h5s.create_simple(mem_shape)
    dataset.id.read(mem_space, file_space, out.reshape(mem_shape))
