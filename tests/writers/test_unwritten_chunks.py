"""Writers on runs whose preallocated datasets have chunks that were never written
(issue 11): values equal what EXtra-data 1.25 reads from the input."""
import h5py
import numpy as np
import pytest

from xfconvert import RunDirectory, H5File
from xfconvert.testing import make_run
from xfconvert.writers.chunk_alloc import allocated_chunk_offsets

extra_data = pytest.importorskip("extra_data")


@pytest.fixture(scope="module", params=["ours", "extra_data"])
def prealloc_run(request, tmp_path_factory):
    """Our generator's preallocated option, and EXtra-data's generator (the DAQ layout,
    random values written only into the first entries, tail chunks left unwritten)."""
    where = tmp_path_factory.mktemp("prealloc") / "r0001"
    if request.param == "ours":
        return make_run(where, detector="agipd", n_trains=6, n_modules=2,
                        module_shape=(8, 4), pad_entries=5, pad_trains=2, seed=11)
    from tests.readers.parity_runs import make_extra_data_run
    return make_extra_data_run(where, n_trains=8, chunksize=4, n_sequences=1, seed=3)


def _unwritten_datasets(run_dir) -> int:
    n = 0
    for path in sorted(run_dir.glob("*.h5")):
        with h5py.File(path, "r") as f:
            def visit(name, obj):
                nonlocal n
                if isinstance(obj, h5py.Dataset) and obj.chunks and obj.size:
                    n_chunks = np.prod([-(-s // c) for s, c in zip(obj.shape, obj.chunks)])
                    n += len(allocated_chunk_offsets(obj)) < n_chunks
            f.visititems(visit)
    return n


def test_generator_leaves_chunks_unwritten(prealloc_run):
    assert _unwritten_datasets(prealloc_run) > 0


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_write_copies_what_extra_data_reads(prealloc_run, tmp_path, compression):
    out = tmp_path / "subset.h5"
    RunDirectory(prealloc_run).write(out, compression=compression)
    ref = extra_data.RunDirectory(prealloc_run)
    got = extra_data.H5File(out)
    assert sorted(got.all_sources) == sorted(ref.all_sources)
    n_keys = 0
    for source in ref.all_sources:
        for key in ref[source].keys():
            np.testing.assert_array_equal(got[source, key].ndarray(),
                                          ref[source, key].ndarray(), err_msg=f"{source} {key}")
            n_keys += 1
    assert n_keys > 10


def test_virtual_matches_extra_data(prealloc_run, tmp_path):
    out = tmp_path / "v.h5"
    run = RunDirectory(prealloc_run)
    run.write_virtual(out)
    ref = extra_data.RunDirectory(prealloc_run)
    got = H5File(out)
    for source in ref.instrument_sources:
        for key in ref[source].keys():
            np.testing.assert_array_equal(got[source, key].ndarray(),
                                          ref[source, key].ndarray(), err_msg=f"{source} {key}")
