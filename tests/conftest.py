"""Shared fixtures: small mock runs made once per session with the project's generator."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from xfconvert.testing import make_run

XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
XGM_OUT = "SA1_XTD2_XGM/DOOCS/MAIN:output"
AGIPD_MOD = "SPB_DET_AGIPD1M-1/DET/{}CH0:xtdf"


@pytest.fixture(scope="session")
def agipd_run(tmp_path_factory):
    """4 AGIPD modules (small pixels), 2 sequences, module 2 missing, trains missing in one."""
    return make_run(tmp_path_factory.mktemp("agipd") / "r0001", detector="agipd", n_modules=4,
                    module_shape=(16, 8), n_trains=12, frames_per_train=3, n_sequences=2,
                    missing_modules=[2], missing_trains={AGIPD_MOD.format(1): [10003, 10004]},
                    seed=3)


@pytest.fixture(scope="session", params=["0.5", "1.0", "1.2", "1.3"])
def format_run(request, tmp_path_factory):
    """The same run content in each format version (0.5 with the legacy index)."""
    version = request.param
    path = tmp_path_factory.mktemp(f"fv{version}") / "r0002"
    return make_run(path, detector="lpd", n_modules=2, module_shape=(8, 8), n_trains=8,
                    frames_per_train=2, n_sequences=2, format_version=version,
                    legacy_index=(version == "0.5"), control_every=2, run_number=2, seed=5)


def reference_read(run_dir, source, key):
    """Read (train_ids per entry, data) the slow, obvious way, straight from INDEX.

    Independent of the reader: loops over files and trains with h5py.
    """
    is_control = False
    rows = []
    for path in sorted(run_dir.glob("*.h5")):
        with h5py.File(path, "r") as f:
            if f"CONTROL/{source}" in f:
                is_control = True
                index = f[f"INDEX/{source}"]
                dset_path = f"CONTROL/{source}/{key.replace('.', '/')}"
            elif f"INSTRUMENT/{source}" in f:
                index = f[f"INDEX/{source}/{key.split('.')[0]}"]
                dset_path = f"INSTRUMENT/{source}/{key.replace('.', '/')}"
            else:
                continue
            tids = f["INDEX/trainId"][()]
            first = index["first"][()]
            if "count" in index:
                count = index["count"][()]
            else:
                count = np.where(index["status"][()] != 0,
                                 index["last"][()] - first + 1, 0)
            data = f[dset_path][()]
            for tid, a, n in zip(tids, first, count):
                if tid == 0:
                    continue
                for i in range(int(n)):
                    rows.append((int(tid), data[int(a) + i]))
    rows.sort(key=lambda r: r[0])
    assert rows, f"no data for {source} {key}"
    return np.array([r[0] for r in rows], dtype=np.uint64), np.stack([r[1] for r in rows])
