"""The runs the differential suite reads with both libraries.

Each :class:`RunSpec` names a small run, how to build it (our generator, or EXtra-data's
``tests.mockdata`` / ``tests.make_examples``, refilled with seeded random values) and the
*roles* calls refer to: ``ctrl`` is a float control key, ``inst`` an instrument key with
one entry per train, ``multi`` a key with several entries per train, and so on. A call
that needs a role only runs on the runs that have it.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import h5py
import numpy as np
from extra_data.tests import make_examples
from extra_data.tests.mockdata import write_file as ed_write_file
from extra_data.tests.mockdata.basler_camera import BaslerCamera
from extra_data.tests.mockdata.gauge import Gauge
from extra_data.tests.mockdata.detectors import AGIPDModule, DSSCModule, LPDModule
from extra_data.tests.mockdata.jungfrau import JUNGFRAUModule
from extra_data.tests.mockdata.motor import Motor
from extra_data.tests.mockdata.xgm import XGM

from xfconvert.testing import make_run

# Keys whose values mean something to the readers; refilling leaves them alone.
MEANINGFUL = {"trainId", "pulseId", "cellId", "memoryCell", "frameNumber", "timestamp",
              "pulseCount", "length", "status"}

# Datasets bigger than this (elements) keep EXtra-data's zeros: refilling big camera
# images would cost more time than the whole suite may take.
REFILL_LIMIT = 2 ** 21

XGM_SRC = "SA1_XTD2_XGM/DOOCS/MAIN"
CAM_SRC = "SPB_IRU_CAM/CAM/SIDEMIC"
MOTOR_SRC = "SPB_XTD9_MOTORS/MOTOR/STAGE_X"


@dataclass(frozen=True)
class RunSpec:
    """A run for the differential suite.

    ``roles`` maps role names to ``(source, key)``; ``flags`` are roles without a key
    (``light``: small enough for whole-run reads; ``suspect``, ``duplicates``...).
    ``file`` is the name of one file of the run, for H5File calls. Every call runs on
    ``full`` runs; the others get only the calls marked as layout checks, which keeps the
    suite fast.
    """

    name: str
    build: Callable[[Path], Path]
    roles: Mapping[str, tuple[str, str]]
    flags: frozenset[str] = field(default_factory=frozenset)
    file: str = ""
    full: bool = False

    def has(self, needs: tuple[str, ...]) -> bool:
        return all(n in self.roles or n in self.flags for n in needs)

    def src(self, role: str) -> str:
        return self.roles[role][0]

    def key(self, role: str) -> str:
        return self.roles[role][1]


# --- refilling EXtra-data's runs with random values ------------------------------------------

def _random_like(rng: np.random.Generator, dtype: np.dtype, shape: tuple) -> np.ndarray:
    if dtype.names:
        out = np.zeros(shape, dtype)
        for name in dtype.names:
            out[name] = _random_like(rng, dtype[name], shape)
        return out
    if dtype.kind == "f":
        return rng.normal(10, 3, shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, min(int(np.iinfo(dtype).max), 1000), shape, endpoint=True
                            ).astype(dtype)
    raise TypeError(dtype)


def _index_lengths(f: h5py.File) -> dict[str, int]:
    """Data group path -> number of entries its INDEX covers (the rest is padding)."""
    out: dict[str, int] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Group) and "first" in obj and "count" in obj:
            first, count = obj["first"][:], obj["count"][:]
            n = int((first + count)[count > 0].max()) if (count > 0).any() else 0
            root = "INSTRUMENT" if ":" in name else "CONTROL"
            out[f"{root}/{name}"] = n

    f["INDEX"].visititems(visit)
    return out


def refill_random(path: Path, seed: int, run_seed: int = 0) -> None:
    """Overwrite the indexed entries of every numeric data dataset with random values.

    Entries past the last indexed one (preallocated padding) stay as they are, like the
    DAQ leaves them. RUN values are refilled from ``run_seed``, so every sequence file of
    a run agrees on them, as real ones do.
    """
    with h5py.File(path, "r+") as f:
        lengths = _index_lengths(f)
        for group, n in lengths.items():
            if group not in f or not n:
                continue
            datasets: list[tuple[str, h5py.Dataset]] = []
            f[group].visititems(lambda name, obj: datasets.append((name, obj))
                                if isinstance(obj, h5py.Dataset) else None)
            for name, ds in datasets:
                _refill(ds, f"{group}/{name}", n, seed)
        if "RUN" in f:
            run_sets: list[tuple[str, h5py.Dataset]] = []
            f["RUN"].visititems(lambda name, obj: run_sets.append((name, obj))
                                if isinstance(obj, h5py.Dataset) else None)
            for name, ds in run_sets:
                _refill(ds, f"RUN/{name}", len(ds), run_seed)


def _refill(ds: h5py.Dataset, path: str, n: int, seed: int) -> None:
    leaf = path.rsplit("/", 2)
    key = leaf[-2] if leaf[-1] == "value" else leaf[-1]
    if key in MEANINGFUL or ds.dtype.kind not in "fiub" and not ds.dtype.names:
        return
    n = min(n, ds.shape[0])
    if n * int(np.prod(ds.shape[1:], dtype=np.int64)) > REFILL_LIMIT:
        return
    rng = np.random.default_rng([seed, zlib.crc32(path.encode())])
    ds[:n] = _random_like(rng, ds.dtype, (n, *ds.shape[1:]))


def _refill_run(run_dir: Path, seed: int) -> Path:
    for i, path in enumerate(sorted(run_dir.glob("*.h5"))):
        refill_random(path, seed * 1000 + i, seed)
    return run_dir


def _drop_train(path: Path, train_id: int, all_ids: list[int]) -> None:
    # The way EXtra-data's own tests make a module miss a train: rewrite INDEX/trainId.
    kept = [t for t in all_ids if t != train_id]
    with h5py.File(path, "r+") as f:
        f["INDEX/trainId"][:len(kept)] = kept


# --- builders ---------------------------------------------------------------------------------

def small(cls: type, dims: tuple[int, ...], data_size: int = 16) -> type:
    """EXtra-data's detector module class with small frames (its generator's knob)."""
    return type(f"Small{cls.__name__}", (cls,), {"image_dims": dims,
                                                   "detector_data_size": data_size})


class SmallJUNGFRAU(JUNGFRAUModule):
    """EXtra-data's JUNGFRAU module with (16, 8, 16) pixels per entry."""

    @property
    def instrument_keys(self):
        cells = (16, 8, 16)
        keys = [("frameNumber", "u8", (16,)), ("gain", "u1", cells),
                ("memoryCell", "u1", (16,)), ("timestamp", "f8", (16,))]
        return keys + ([("adc", "u2", cells)] if self.raw
                       else [("adc", "f4", cells), ("mask", "u4", cells)])


def ed_slow(d: Path, version: str = "1.0") -> Path:
    devices = [XGM(XGM_SRC), Motor(MOTOR_SRC), BaslerCamera(CAM_SRC, sensor_size=(32, 24))]
    ed_write_file(str(d / "RAW-R0001-DA01-S00000.h5"), devices, 12, firsttrain=10000,
                  chunksize=8, format_version=version)
    devices = [XGM(XGM_SRC), Motor(MOTOR_SRC), BaslerCamera(CAM_SRC, sensor_size=(32, 24))]
    ed_write_file(str(d / "RAW-R0001-DA01-S00001.h5"), devices, 9, firsttrain=10012,
                  chunksize=8, format_version=version)
    return _refill_run(d, 1)


def ed_xtdf(d: Path, cls: type, dims: tuple[int, ...], name: str, tag: str,
            modules=(0, 1, 3), raw: bool = True, channel: str = "xtdf",
            legacy: bool = False) -> Path:
    module_cls = small(cls, dims)
    prefix = "RAW" if raw else "CORR"
    ids = list(range(10000, 10010))
    for m in modules:
        path = d / f"{prefix}-R0001-{tag}{m:02}-S00000.h5"
        dev = module_cls(name.format(m), frames_per_train=4, raw=raw, channel_name=channel,
                         legacy_name=name.replace("/CORR/", "/DET/").format(m) if legacy
                         else None)
        ed_write_file(str(path), [dev], 9 if m == 1 else 10, chunksize=8,
                      format_version="1.0")
        if m == 1:
            _drop_train(path, 10003, ids)
    return _refill_run(d, 2)


def ed_jungfrau(d: Path) -> Path:
    for m in (1, 2):
        ed_write_file(str(d / f"RAW-R0001-JNGFR{m:02}-S00000.h5"),
                      [SmallJUNGFRAU(f"SPB_IRDA_JF4M/DET/JNGFR{m:02}", raw=True)], 8,
                      chunksize=1, format_version="1.0")
    return _refill_run(d, 3)


def ed_empty_source(d: Path) -> Path:
    """Like make_examples.make_da_file_with_empty_source (too slow here): a gauge that
    saved no control data beside an XGM and a motor."""
    ed_write_file(str(d / "RAW-R0001-DA01-S00000.h5"), [
        XGM("SA3_XTD10_XGM/XGM/DOOCS"), Motor("SA3_XTD10_MCP/MOTOR/X2"),
        Gauge("SA3_XTD10_VAC/GAUGE/G30520C", no_ctrl_data=True)],
        20, chunksize=16, format_version="1.0")
    return _refill_run(d, 5)


def ours_with_unreadable(d: Path) -> Path:
    """Our run plus a truncated HDF5 file and a file that is not HDF5 at all."""
    make_run(d, n_trains=6, seed=15)
    data = (d / "RAW-R0001-DA02-S00000.h5").read_bytes()
    (d / "RAW-R0001-DA03-S00000.h5").write_bytes(data[:len(data) // 2])
    (d / "RAW-R0001-DA04-S00000.h5").write_bytes(b"not HDF5 " * 100)
    return d


def ed_example(fn: Callable, *args, seed: int = 4, **kwargs) -> Callable[[Path], Path]:
    """A builder running one of EXtra-data's make_examples functions, then refilling."""
    def build(d: Path) -> Path:
        target = d / "RAW-R0001-DA01-S00000.h5" if "file" in fn.__name__ else d
        fn(str(target), *args, **kwargs)
        return _refill_run(d, seed)
    return build


def ours(**kwargs) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        return make_run(d, **kwargs)
    return build


AGIPD = "SPB_DET_AGIPD1M-1/DET/{}CH0:xtdf"
OURS_SLOW_ROLES = {
    "ctrl": (XGM_SRC, "beamPosition.ixPos"),
    "ctrl_int": (MOTOR_SRC, "status"),
    "inst": (f"{XGM_SRC}:output", "data.intensityTD"),
    "image": (f"{CAM_SRC}:daqOutput", "data.image.pixels"),
    "run_key": (XGM_SRC, "pulseEnergy.wavelengthUsed"),
}
ED_SLOW_ROLES = {
    "ctrl": (XGM_SRC, "beamPosition.ixPos"),
    "ctrl_int": (XGM_SRC, "current.bottom.rangeCode"),
    "ctrl_str": (XGM_SRC, "state"),
    "inst": (f"{XGM_SRC}:output", "data.intensityTD"),
    "image": (f"{CAM_SRC}:daqOutput", "data.image.pixels"),
    "run_key": (XGM_SRC, "pulseEnergy.wavelengthUsed"),
    "run_only": (XGM_SRC, "classId"),
}


def _det_roles(src: str, key: str = "image.data", missing: str = "") -> dict:
    roles = {"multi": (src, key), "inst": (src, "header.dataId")}
    if missing:
        roles["gappy"] = (missing, key)
    return roles


LIGHT = frozenset({"light"})

RUNS: list[RunSpec] = [
    # --- our generator -----------------------------------------------------------------------
    RunSpec("ours-slow", ours(n_trains=13, n_sequences=2, seed=11), OURS_SLOW_ROLES, LIGHT,
            "RAW-R0001-DA01-S00001.h5"),
    RunSpec("ours-agipd", ours(detector="agipd", n_modules=4, module_shape=(16, 8),
                               n_trains=12, frames_per_train=3, n_sequences=2,
                               missing_modules=[2],
                               missing_trains={AGIPD.format(1): [10003, 10004]}, seed=3),
            {**OURS_SLOW_ROLES, **_det_roles(AGIPD.format(0), missing=AGIPD.format(1))},
            LIGHT | {"root"}, "RAW-R0001-AGIPD01-S00000.h5", full=True),
    RunSpec("ours-proc", ours(detector="agipd", n_modules=4, module_shape=(16, 8),
                              n_trains=12, frames_per_train=3, n_sequences=2,
                              missing_modules=[2], corrected=True, corrected_naming="2026",
                              slow_data=False, seed=3),
            _det_roles("SPB_DET_AGIPD1M-1/CORR/0CH0:output"), LIGHT),
    RunSpec("ours-lpd", ours(detector="lpd", n_modules=2, module_shape=(8, 8), n_trains=8,
                             frames_per_train=2, slow_data=False, format_version="1.2",
                             seed=5),
            _det_roles("FXE_DET_LPD1M-1/DET/1CH0:xtdf"), LIGHT),
    RunSpec("ours-jungfrau", ours(detector="jungfrau", n_modules=2, module_shape=(8, 16),
                                  n_trains=6, memory_cells=3, slow_data=False, seed=6),
            {"inst": ("SPB_IRDA_JF4M/DET/JNGFR02:daqOutput", "data.adc"),
             "multi_cells": ("SPB_IRDA_JF4M/DET/JNGFR02:daqOutput", "data.memoryCell")},
            LIGHT),
    *(RunSpec(f"ours-fmt{v}", ours(detector="agipd", n_modules=2, module_shape=(8, 4),
                                   n_trains=8, frames_per_train=2, n_sequences=2,
                                   format_version=v, legacy_index=(v == "0.5"),
                                   control_every=2, seed=7),
              {**OURS_SLOW_ROLES, **_det_roles(AGIPD.format(1))}, LIGHT)
      for v in ("0.5", "1.0", "1.2", "1.3")),
    RunSpec("ours-padded", ours(detector="agipd", n_modules=2, module_shape=(8, 4),
                                n_trains=10, frames_per_train=2, n_sequences=2, pad_trains=7,
                                index_length="real", pad_entries=5, chunking="frame",
                                missing_trains={AGIPD.format(1): [10006]}, seed=8),
            {**OURS_SLOW_ROLES, **_det_roles(AGIPD.format(0), missing=AGIPD.format(1))},
            LIGHT, "RAW-R0001-DA01-S00000.h5"),
    RunSpec("ours-padded-legacy", ours(n_trains=9, n_sequences=2, pad_trains=4,
                                       index_length="padded", pad_entries=3,
                                       legacy_index=True, seed=9),
            OURS_SLOW_ROLES, LIGHT),
    RunSpec("ours-corr2026", ours(detector="agipd", n_modules=2, module_shape=(8, 4),
                                  n_trains=6, frames_per_train=2, corrected="both",
                                  corrected_naming="2026", seed=10),
            {**OURS_SLOW_ROLES,
             **_det_roles("SPB_DET_AGIPD1M-1/CORR/1CH0:output"),
             "raw_multi": (AGIPD.format(1), "image.data")}, LIGHT),
    RunSpec("ours-suspect", ours(n_trains=8, flag_zero_trains=[10002],
                                 out_of_order_trains={10005: 9990}, seed=12),
            OURS_SLOW_ROLES, LIGHT | {"suspect"}),
    RunSpec("ours-unreadable-files", ours_with_unreadable, OURS_SLOW_ROLES, LIGHT),
    RunSpec("ours-dup-identical", ours(n_trains=8, n_sequences=2, duplicate_trains=2,
                                       seed=13),
            OURS_SLOW_ROLES, LIGHT | {"duplicates"}),
    RunSpec("ours-dup-conflicting", ours(n_trains=8, n_sequences=2, duplicate_trains=2,
                                         duplicates="conflicting", seed=14),
            OURS_SLOW_ROLES, LIGHT | {"duplicates"}),
    # --- EXtra-data's generator, refilled ------------------------------------------------------
    RunSpec("ed-slow", ed_slow, ED_SLOW_ROLES, LIGHT, "RAW-R0001-DA01-S00001.h5", full=True),
    RunSpec("ed-slow-0.5", lambda d: ed_slow(d, "0.5"), ED_SLOW_ROLES, LIGHT),
    RunSpec("ed-agipd", lambda d: ed_xtdf(d, AGIPDModule, (2, 16, 8),
                                          "SPB_DET_AGIPD1M-1/DET/{}CH0", "AGIPD"),
            _det_roles(AGIPD.format(0), missing=AGIPD.format(1)), LIGHT,
            "RAW-R0001-AGIPD01-S00000.h5", full=True),
    RunSpec("ed-lpd", lambda d: ed_xtdf(d, LPDModule, (1, 8, 8),
                                        "FXE_DET_LPD1M-1/DET/{}CH0", "LPD", modules=(0, 1)),
            _det_roles("FXE_DET_LPD1M-1/DET/0CH0:xtdf"), LIGHT),
    RunSpec("ed-dssc", lambda d: ed_xtdf(d, DSSCModule, (1, 4, 16),
                                         "SCS_DET_DSSC1M-1/DET/{}CH0", "DSSC", modules=(2,)),
            _det_roles("SCS_DET_DSSC1M-1/DET/2CH0:xtdf"), LIGHT),
    RunSpec("ed-agipd-corr2026", lambda d: ed_xtdf(d, AGIPDModule, (2, 8, 4),
                                                   "SPB_DET_AGIPD1M-1/CORR/{}CH0", "AGIPD",
                                                   modules=(0, 1), raw=False,
                                                   channel="output", legacy=True),
            _det_roles("SPB_DET_AGIPD1M-1/CORR/0CH0:output"), LIGHT),
    RunSpec("ed-jungfrau", ed_jungfrau,
            {"inst": ("SPB_IRDA_JF4M/DET/JNGFR02:daqOutput", "data.adc"),
             "multi_cells": ("SPB_IRDA_JF4M/DET/JNGFR02:daqOutput", "data.memoryCell")},
            LIGHT),
    RunSpec("ed-remi", ed_example(make_examples.make_remi_run),
            {"inst": ("SQS_REMI_DLD6/DET/TOP:output/rec", "signals"),
             "run_only": ("SQS_REMI_DLD6/DET/TOP", "digitizer.baseline_region")}, LIGHT),
    RunSpec("ed-empty-source", ed_empty_source,
            {"ctrl": ("SA3_XTD10_XGM/XGM/DOOCS", "beamPosition.ixPos"),
             "ctrl_str": ("SA3_XTD10_XGM/XGM/DOOCS", "state"),
             "empty_ctrl": ("SA3_XTD10_VAC/GAUGE/G30520C", "AAlarmH"),
             "inst": ("SA3_XTD10_XGM/XGM/DOOCS:output", "data.intensityTD"),
             "run_only": ("SA3_XTD10_XGM/XGM/DOOCS", "classId")}, LIGHT),
    RunSpec("ed-lpd-mini", ed_example(make_examples.make_lpd_run_mini_missed_train),
            _det_roles("FXE_DET_LPD1M-1/DET/0CH0:xtdf",
                       missing="FXE_DET_LPD1M-1/DET/1CH0:xtdf"), LIGHT),
]

RUNS_BY_NAME = {spec.name: spec for spec in RUNS}
