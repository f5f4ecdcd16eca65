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


DUPLICATES = ("identical", "conflicting")


def _write_group(run_dir: Path, tag: str, devices: Sequence[Device], train_ids: np.ndarray,
                 n_sequences: int, shift: int, corrected: bool, run_number: int,
                 duplicate_trains: int = 0, duplicates: str = "identical",
                 replace_ids: Mapping[int, int] | None = None, **options) -> None:
    for seq, (start, stop) in enumerate(sequence_bounds(len(train_ids), n_sequences, shift)):
        # A later sequence file repeats the last trains of the one before it.
        dup_start = max(start - duplicate_trains, 0) if seq else start
        conflicts = train_ids[dup_start:start] if duplicates == "conflicting" else ()
        tids = train_ids[dup_start:stop]
        if replace_ids:
            tids = np.array([replace_ids.get(int(t), int(t)) for t in tids], dtype=np.uint64)
        write_file(run_dir / file_name(tag, seq, run_number, corrected), devices, tids,
                   sequence=seq, run_number=run_number, run_start_train=int(train_ids[0]),
                   conflict_trains=conflicts, out_of_order=bool(replace_ids), **options)


def _detector_devices(detector: str, corrected: bool, corrected_naming: str,
                      jungfrau_label: str, per_train: int, n_modules: int | None,
                      skip: set[int], module_shape: tuple[int, int] | None
                      ) -> list[tuple[str, Device]]:
    spec = DETECTORS[detector]
    if detector == "jungfrau":
        spec = spec.with_label(jungfrau_label)
    naming = corrected_naming if corrected else "legacy"
    return [(spec.file_tag(m),
             spec.module_class(spec.device_name(m, naming), per_train, corrected=corrected,
                               module_shape=module_shape, channel=spec.channel(naming)))
            for m in spec.modules(n_modules) if m not in skip]


def make_run(path: str | Path, *, detector: str | None = None, n_trains: int = 10,
             first_train_id: int = 10000, frames_per_train: int = 4, n_sequences: int = 1,
             format_version: str = "1.0", legacy_index: bool = False, corrected: bool = False,
             missing_modules: Iterable[int] = (),
             missing_trains: Mapping[str, Iterable[int]] | None = None,
             control_every: int = 1, module_shape: tuple[int, int] | None = None,
             n_modules: int | None = None, slow_data: bool = True, run_number: int = 1,
             proposal: int = 700000, seed: int = 0, memory_cells: int = 16,
             corrected_naming: str = "legacy", jungfrau_label: str = "JNGFR",
             pad_trains: int = 0, index_length: str = "padded", pad_entries: int = 0,
             chunking: str = "default", duplicate_trains: int = 0,
             duplicates: str = "identical", flag_zero_trains: Iterable[int] = (),
             out_of_order_trains: Mapping[int, int] | None = None) -> Path:
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
    corrected : bool or 'both'
        Write corrected detector data; every file of the run is then named ``CORR-``.
        ``'both'``: raw (``RAW-``) and corrected (``CORR-``) detector files side by side,
        which needs ``corrected_naming='2026'`` so their source names differ.
    corrected_naming : {'legacy', '2026'}
        Corrected sources named like raw ones (``<DET>/DET/<n>CH0:xtdf``, float data) or
        the 2026 way (``<DET>/CORR/<n>CH0:output``, JUNGFRAU ``<DET>/CORR/<label>:output``).
    jungfrau_label : {'JNGFR', 'MODULE_', 'RECEIVER-'}
        How JUNGFRAU modules are labelled in source names.
    pad_trains, index_length, pad_entries, chunking
        DAQ-like preallocated layouts, as for :func:`~xfconvert.testing.files.write_file`.
    duplicate_trains : int
        Each sequence file after the first also holds the last this-many trains of the
        file before it (the same train of one source in two files).
    duplicates : {'identical', 'conflicting'}
        Whether those repeated trains hold the same data (a re-written sequence file) or
        different data.
    flag_zero_trains : iterable of int
        Trains flagged suspect (``INDEX/flag == 0``) in the DA01 files.
    out_of_order_trains : mapping of int to int, optional
        ``{train ID: ID written instead}`` in the DA01 files, making those IDs out of order.
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

    Raw and 2026-named corrected AGIPD data in one run:

    >>> run = make_run(tempfile.mkdtemp() + '/r0003', detector='agipd', n_modules=1,
    ...                module_shape=(8, 4), n_trains=2, slow_data=False, corrected='both',
    ...                corrected_naming='2026', run_number=3)
    >>> sorted(p.name for p in run.iterdir())
    ['CORR-R0003-AGIPD00-S00000.h5', 'RAW-R0003-AGIPD00-S00000.h5']
    """
    if detector is not None and detector not in DETECTORS:
        raise OptionError(f"detector must be one of {sorted(DETECTORS)}, not {detector!r}")
    if corrected not in (False, True, "both"):
        raise OptionError(f"corrected must be True, False or 'both', not {corrected!r}")
    if corrected == "both" and corrected_naming != "2026":
        raise OptionError("corrected='both' needs corrected_naming='2026': raw and legacy "
                          "corrected sources have the same names")
    if duplicates not in DUPLICATES or duplicate_trains < 0:
        raise OptionError(f"duplicates must be one of {DUPLICATES} and duplicate_trains >= 0")
    run_dir = Path(path)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_ids = np.arange(first_train_id, first_train_id + n_trains, dtype=np.uint64)
    # Every file of the run reads missing_trains, so iterators must become lists first.
    missing = {pattern: list(ids) for pattern, ids in (missing_trains or {}).items()}
    options = dict(format_version=format_version, legacy_index=legacy_index, seed=seed,
                   missing_trains=missing, control_every=control_every,
                   proposal=proposal, pad_trains=pad_trains, index_length=index_length,
                   pad_entries=pad_entries, chunking=chunking,
                   duplicate_trains=duplicate_trains, duplicates=duplicates)
    common = dict(n_sequences=n_sequences, run_number=run_number, **options)
    slow_corrected = corrected is True

    if slow_data:
        da01 = [XGM(XGM_NAME), *(Motor(n) for n in MOTOR_NAMES), Gauge(GAUGE_NAME)]
        _write_group(run_dir, "DA01", da01, train_ids, shift=0, corrected=slow_corrected,
                     flag_zero_trains=list(flag_zero_trains),
                     replace_ids=dict(out_of_order_trains or {}), **common)
        _write_group(run_dir, "DA02", [Camera(CAMERA_NAME)], train_ids, shift=1,
                     corrected=slow_corrected, **common)

    if detector is not None:
        per_train = memory_cells if detector == "jungfrau" else frames_per_train
        kinds = [False, True] if corrected == "both" else [bool(corrected)]
        for corr in kinds:
            for tag, device in _detector_devices(detector, corr, corrected_naming,
                                                 jungfrau_label, per_train, n_modules,
                                                 set(missing_modules), module_shape):
                _write_group(run_dir, tag, [device], train_ids, shift=-1, corrected=corr,
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
