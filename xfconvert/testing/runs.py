"""Write whole mock runs: a directory of sequence files for each aggregator and module.

Examples
--------
>>> import tempfile
>>> run = make_run(tempfile.mkdtemp() + '/r0001', detector='agipd', n_modules=2,
...                module_shape=(8, 4), n_trains=4, n_sequences=2)
>>> sorted(p.name for p in run.iterdir())[:3]
['RAW-R0001-AGIPD00-S00000.h5', 'RAW-R0001-AGIPD00-S00001.h5', 'RAW-R0001-AGIPD01-S00000.h5']
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..exceptions import OptionError
from .devices import DETECTORS, XGM, Camera, Device, Gauge, ManyKeysDevice, Motor
from .files import file_name, write_file

XGM_NAME = "SA1_XTD2_XGM/DOOCS/MAIN"
MOTOR_NAMES = ("SPB_XTD9_MOTORS/MOTOR/STAGE_X", "SPB_XTD9_MOTORS/MOTOR/STAGE_Y")
GAUGE_NAME = "SPB_XTD9_VAC/GAUGE/G1"
CAMERA_NAME = "SPB_IRU_CAM/CAM/SIDEMIC"
SLOW_DATA_NAME = "BENCH_SLOW/MDL/DEVICE_{i:03d}"


def sequence_bounds(n_trains: int, n_sequences: int, shift: int = 0) -> list[tuple[int, int]]:
    """Split ``n_trains`` into ``n_sequences`` consecutive ``(start, stop)`` blocks.

    ``shift`` moves every inner boundary by that many trains, so different aggregators
    can split at slightly different points, as real runs do; the shift is dropped if it
    would leave a block empty.

    Examples
    --------
    >>> sequence_bounds(10, 2), sequence_bounds(10, 2, shift=1)
    ([(0, 5), (5, 10)], [(0, 6), (6, 10)])
    """
    if not 1 <= n_sequences <= n_trains:
        raise OptionError(f"Cannot split {n_trains} trains into {n_sequences} sequences")
    base = np.linspace(0, n_trains, n_sequences + 1).round().astype(int)
    edges = base.copy()
    edges[1:-1] += shift
    if np.any(np.diff(edges) < 1):
        edges = base
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _write_group(run_dir: Path, tag: str, devices: Sequence[Device], train_ids: np.ndarray,
                 n_sequences: int, shift: int, corrected: bool, run_number: int,
                 **options) -> None:
    for seq, (start, stop) in enumerate(sequence_bounds(len(train_ids), n_sequences, shift)):
        write_file(run_dir / file_name(tag, seq, run_number, corrected), devices,
                   train_ids[start:stop], sequence=seq, run_number=run_number,
                   run_start_train=int(train_ids[0]), **options)


def make_run(path: str | Path, *, detector: str | None = None, n_trains: int = 10,
             first_train_id: int = 10000, frames_per_train: int = 4, n_sequences: int = 1,
             format_version: str = "1.0", legacy_index: bool = False, corrected: bool = False,
             missing_modules: Iterable[int] = (),
             missing_trains: Mapping[str, Iterable[int]] | None = None,
             control_every: int = 1, module_shape: tuple[int, int] | None = None,
             n_modules: int | None = None, slow_data: bool = True, run_number: int = 1,
             proposal: int = 700000, seed: int = 0, memory_cells: int = 16) -> Path:
    """Write a realistic mock run into directory ``path`` (created if needed).

    The run has aggregator DA01 (an XGM with control data and ``:output``, two motors
    and a gauge) and DA02 (a camera), plus one file group per detector module.

    Parameters
    ----------
    path : str or Path
        Run directory.
    detector : {'agipd', 'agipd500k', 'lpd', 'dssc', 'jungfrau'}, optional
        Multi-module detector to include.
    n_trains, first_train_id : int
        Consecutive train IDs of the run.
    frames_per_train : int
        Frames per train of XTDF detectors.
    n_sequences : int
        Sequence files per aggregator/module; DA02 and the detector split one train
        later and earlier than DA01 where the blocks are big enough.
    format_version, legacy_index, missing_trains, control_every, seed
        As for :func:`~xfconvert.testing.files.write_file`.
    corrected : bool
        Write corrected detector data; every file of the run is then named ``CORR-``.
    missing_modules : iterable of int
        Module numbers for which no file is written.
    module_shape : tuple of int, optional
        Pixel shape of each module (default: the real geometry).
    n_modules : int, optional
        Number of detector modules (default: the whole detector).
    slow_data : bool
        Write the DA01 and DA02 aggregators.
    run_number, proposal : int
        Written to file names and METADATA.
    memory_cells : int
        Memory cells per train of JUNGFRAU.

    Returns
    -------
    Path
        The run directory.

    Examples
    --------
    >>> import tempfile
    >>> run = make_run(tempfile.mkdtemp() + '/r0002', run_number=2)
    >>> sorted(p.name for p in run.iterdir())
    ['RAW-R0002-DA01-S00000.h5', 'RAW-R0002-DA02-S00000.h5']
    """
    if detector is not None and detector not in DETECTORS:
        raise OptionError(f"detector must be one of {sorted(DETECTORS)}, not {detector!r}")
    run_dir = Path(path)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_ids = np.arange(first_train_id, first_train_id + n_trains, dtype=np.uint64)
    # Every file of the run reads missing_trains, so iterators must become lists first.
    missing = {pattern: list(ids) for pattern, ids in (missing_trains or {}).items()}
    options = dict(format_version=format_version, legacy_index=legacy_index, seed=seed,
                   missing_trains=missing, control_every=control_every,
                   proposal=proposal)
    common = dict(n_sequences=n_sequences, corrected=corrected, run_number=run_number,
                  **options)

    if slow_data:
        da01 = [XGM(XGM_NAME), *(Motor(n) for n in MOTOR_NAMES), Gauge(GAUGE_NAME)]
        _write_group(run_dir, "DA01", da01, train_ids, shift=0, **common)
        _write_group(run_dir, "DA02", [Camera(CAMERA_NAME)], train_ids, shift=1, **common)

    if detector is not None:
        spec = DETECTORS[detector]
        per_train = memory_cells if detector == "jungfrau" else frames_per_train
        skip = set(missing_modules)
        for module in spec.modules(n_modules):
            if module in skip:
                continue
            device = spec.module_class(spec.device_name(module), per_train,
                                       corrected=corrected, module_shape=module_shape)
            _write_group(run_dir, spec.file_tag(module), [device], train_ids, shift=-1,
                         **common)
    return run_dir


def make_slow_data_run(path: str | Path, n_sources: int = 50, keys_per_source: int = 80,
                       n_trains: int = 30000, *, n_aggregators: int = 2, n_sequences: int = 3,
                       first_train_id: int = 10000, format_version: str = "1.0",
                       control_every: int = 1, run_number: int = 1, proposal: int = 700000,
                       seed: int = 0) -> Path:
    """Write a run of many control sources with many scalar keys, for benchmarks.

    Sources (``BENCH_SLOW/MDL/DEVICE_000``...) are dealt round-robin to aggregators
    DA01, DA02...; each aggregator is split into ``n_sequences`` files.

    Returns
    -------
    Path
        The run directory.

    Examples
    --------
    >>> import tempfile
    >>> run = make_slow_data_run(tempfile.mkdtemp(), n_sources=3, keys_per_source=2,
    ...                          n_trains=20, n_sequences=2)
    >>> len(list(run.glob('RAW-R0001-DA0*-S0000*.h5')))
    4
    """
    run_dir = Path(path)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_ids = np.arange(first_train_id, first_train_id + n_trains, dtype=np.uint64)
    devices = [ManyKeysDevice(SLOW_DATA_NAME.format(i=i), keys_per_source)
               for i in range(n_sources)]
    for agg in range(min(n_aggregators, n_sources)):
        _write_group(run_dir, f"DA{agg + 1:02d}", devices[agg::n_aggregators], train_ids,
                     n_sequences, shift=0, corrected=False, run_number=run_number,
                     format_version=format_version, seed=seed, control_every=control_every,
                     proposal=proposal)
    return run_dir
