"""Detector components on xfconvert and on EXtra-data 1.25: the same call, compared.

Every call of ``XTDF_CALLS`` runs on every XTDF detector case of ``CASES`` (and
``JF_CALLS`` on the JUNGFRAU cases), on runs of both generators: ours (raw, corrected
with 2026 names, both side by side, missing modules and trains, LPD parallel gain,
JUNGFRAU with 1, 3 and 16 cells and each module label) and EXtra-data's
``tests.mockdata`` detector modules refilled with seeded random values. Results (values,
dims, coordinates, dtypes) or the builtin class of the exception raised must agree.

``KNOWN`` lists the calls where xfconvert deliberately differs (the reasons are in
docs/components.md); they are checked to still differ, so the list cannot go stale.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import extra_data
import extra_data.components
import numpy as np
import pytest
from extra_data.tests.mockdata.detectors import AGIPDModule, DSSCModule, LPDModule

import xfconvert
import xfconvert.components

from .compare import Mismatch, Outcome, assert_same
from .conftest import open_dir
from .runs import RUNS_BY_NAME, RunSpec, ed_jungfrau, ed_xtdf, ours

COMPONENTS = {"xfconvert": xfconvert.components, "extra_data": extra_data.components}
LIBS = {"xfconvert": xfconvert, "extra_data": extra_data}

JF = "SPB_IRDA_JF4M/{}/JNGFR{:02}"


def _spec(name: str, build) -> RunSpec:
    return RunSpec(name, build, {})


RUNS = {spec.name: spec for spec in [
    RUNS_BY_NAME["ours-agipd"], RUNS_BY_NAME["ours-proc"], RUNS_BY_NAME["ours-corr2026"],
    RUNS_BY_NAME["ours-lpd"], RUNS_BY_NAME["ours-jungfrau"], RUNS_BY_NAME["ed-agipd"],
    RUNS_BY_NAME["ed-lpd"], RUNS_BY_NAME["ed-dssc"], RUNS_BY_NAME["ed-agipd-corr2026"],
    RUNS_BY_NAME["ed-jungfrau"], RUNS_BY_NAME["ed-lpd-mini"],
    _spec("comp-lpd-gain", ours(detector="lpd", n_modules=2, module_shape=(8, 8), n_trains=5,
                                frames_per_train=6, slow_data=False, n_sequences=2, seed=21)),
    _spec("comp-dssc-proc", ours(detector="dssc", n_modules=3, module_shape=(4, 8),
                                 n_trains=6, frames_per_train=3, corrected=True,
                                 corrected_naming="2026", missing_modules=[1],
                                 missing_trains={"SCS_DET_DSSC1M-1/CORR/2CH0:output": [10002]},
                                 slow_data=False, seed=22)),
    _spec("comp-agipd500k", ours(detector="agipd500k", n_modules=3, module_shape=(8, 4),
                                 n_trains=5, frames_per_train=2, slow_data=False, seed=23)),
    _spec("comp-jf1", ours(detector="jungfrau", n_modules=3, module_shape=(4, 8), n_trains=5,
                           memory_cells=1, missing_modules=[2], corrected=True,
                           corrected_naming="2026", jungfrau_label="MODULE_",
                           slow_data=False, seed=24)),
    _spec("comp-jf16", ours(detector="jungfrau", n_modules=2, module_shape=(4, 4), n_trains=4,
                            memory_cells=16, jungfrau_label="RECEIVER-", n_sequences=2,
                            missing_trains={"SPB_IRDA_JF4M/DET/RECEIVER-2:daqOutput": [10001]},
                            slow_data=False, seed=25)),
    _spec("comp-ed-agipd-legacy-corr", lambda d: ed_xtdf(
        d, AGIPDModule, (8, 4), "SPB_DET_AGIPD1M-1/DET/{}CH0", "AGIPD", modules=(0, 2),
        raw=False)),
    _spec("comp-ed-lpd-corr2026", lambda d: ed_xtdf(
        d, LPDModule, (8, 8), "FXE_DET_LPD1M-1/CORR/{}CH0", "LPD", modules=(0, 1, 3),
        raw=False, channel="output")),
    _spec("comp-ed-dssc-raw", lambda d: ed_xtdf(
        d, DSSCModule, (1, 4, 16), "SCS_DET_DSSC1M-1/DET/{}CH0", "DSSC", modules=(0, 1, 3))),
    _spec("comp-ed-jungfrau", ed_jungfrau),
]}


@dataclass(frozen=True)
class Case:
    """A component over one run: ``cls(run, **kwargs)``."""

    name: str
    run: str
    cls: str
    kwargs: dict = field(default_factory=dict)
    corrected: bool = False

    @property
    def jungfrau(self) -> bool:
        return self.cls == "JUNGFRAU"


CASES = [
    Case("agipd-raw", "ours-agipd", "AGIPD1M"),
    Case("agipd-raw-true", "ours-agipd", "AGIPD1M", {"raw": True}),
    Case("agipd-raw-modules", "ours-agipd", "AGIPD1M", {"modules": [1, 3], "raw": True}),
    Case("agipd-raw-min2", "ours-agipd", "AGIPD1M", {"min_modules": 3}),
    Case("agipd-proc2026", "ours-proc", "AGIPD1M", corrected=True),
    Case("agipd-both", "ours-corr2026", "AGIPD1M", corrected=True),
    Case("agipd-both-raw", "ours-corr2026", "AGIPD1M", {"raw": True}),
    Case("agipd-both-corr", "ours-corr2026", "AGIPD1M", {"raw": False}, corrected=True),
    Case("lpd-raw", "ours-lpd", "LPD1M"),
    Case("lpd-gain", "comp-lpd-gain", "LPD1M", {"parallel_gain": True, "raw": True}),
    Case("dssc-proc2026", "comp-dssc-proc", "DSSC1M", corrected=True),
    Case("agipd500k", "comp-agipd500k", "AGIPD500K", {"raw": True}),
    Case("ed-agipd", "ed-agipd", "AGIPD1M"),
    Case("ed-agipd-corr2026", "ed-agipd-corr2026", "AGIPD1M", {"raw": False}, corrected=True),
    Case("ed-agipd-legacy-corr", "comp-ed-agipd-legacy-corr", "AGIPD1M", corrected=True),
    Case("ed-lpd", "ed-lpd", "LPD1M", {"raw": True}),
    Case("ed-lpd-corr2026", "comp-ed-lpd-corr2026", "LPD1M", corrected=True),
    Case("ed-dssc", "ed-dssc", "DSSC1M"),
    Case("ed-dssc-raw", "comp-ed-dssc-raw", "DSSC1M", {"raw": True}),
    Case("ed-lpd-mini", "ed-lpd-mini", "LPD1M"),
    Case("jf-raw", "ours-jungfrau", "JUNGFRAU"),
    Case("jf-n4", "ours-jungfrau", "JUNGFRAU", {"n_modules": 4, "raw": True}),
    Case("jf1-corr", "comp-jf1", "JUNGFRAU", corrected=True),
    Case("jf1-first3", "comp-jf1", "JUNGFRAU", {"first_modno": 3, "raw": False},
         corrected=True),
    Case("jf16", "comp-jf16", "JUNGFRAU", {"raw": True}),
    Case("ed-jf", "comp-ed-jungfrau", "JUNGFRAU"),
]
CASES_BY_NAME = {c.name: c for c in CASES}

Fn = Callable[[Any, Any], Any]  # fn(det, lib)


def _first_trains(it, n: int = 3) -> list:
    out = []
    for item in it:
        out.append(item)
        if len(out) == n:
            break
    return out


def _unnamed(arr):
    # A DataArray over a dask array takes the dask key as its name, in both libraries.
    return arr.compute().rename(None)


def _parts(it) -> list:
    return [[int(t) for t in p.train_ids] for p in it]


COMMON: dict[str, Fn] = {
    "repr": lambda d, lib: repr(d),
    "detector_name": lambda d, lib: d.detector_name,
    "source_to_modno": lambda d, lib: dict(d.source_to_modno),
    "modno_to_source": lambda d, lib: dict(d.modno_to_source),
    "n_modules": lambda d, lib: d.n_modules,
    "train_ids": lambda d, lib: [int(t) for t in d.train_ids],
    "frame_counts": lambda d, lib: d.frame_counts,
    "train_id_to_ix": lambda d, lib: d.train_id_to_ix,
    "train_id_chunks": lambda d, lib: d.train_id_chunks,
    "train_ids_perframe": lambda d, lib: d.train_ids_perframe,
    "frames_per_train": lambda d, lib: int(d.frames_per_train),
    "module_shape": lambda d, lib: tuple(d.module_shape),
    "availability": lambda d, lib: d.data_availability(),
    "availability_gaps": lambda d, lib: d.data_availability(module_gaps=True),
    "select_trains": lambda d, lib: [int(t) for t in d.select_trains(np.s_[1:3]).train_ids],
    "split_parts": lambda d, lib: _parts(d.split_trains(parts=2)),
    "split_tpp": lambda d, lib: _parts(d.split_trains(trains_per_part=2)),
    "split_fpp": lambda d, lib: _parts(d.split_trains(frames_per_part=5)),
    "split_all": lambda d, lib: _parts(d.split_trains(3, 2, 7)),
    "split_none": lambda d, lib: _parts(d.split_trains()),
    "identify": lambda d, lib: {(name, cls.__name__) for name, cls in
                                lib.components.identify_multimod_detectors(d.data)},
}

XTDF: dict[str, Fn] = {
    "get_array": lambda d, lib: d.get_array("image.data"),
    "get_array_stacked": lambda d, lib: d.get_array("image.data", unstack_pulses=False),
    "get_array_by_id": lambda d, lib: d.get_array("image.data", pulses=lib.by_id[0:9]),
    "get_array_by_id_list": lambda d, lib: d.get_array("image.data",
                                                       pulses=lib.by_id[[4, 8, 100]]),
    "get_array_by_index": lambda d, lib: d.get_array("image.data", pulses=lib.by_index[1:]),
    "get_array_strided": lambda d, lib: d.get_array("image.data", pulses=np.s_[::2],
                                                    unstack_pulses=False),
    "get_array_list": lambda d, lib: d.get_array("image.data", pulses=[0, 2]),
    "get_array_int": lambda d, lib: d.get_array("image.data", pulses=1),
    "get_array_cell": lambda d, lib: d.get_array("image.data", subtrain_index="cellId"),
    "get_array_fill_astype": lambda d, lib: d.get_array("image.data", fill_value=-1,
                                                        astype=np.float32),
    "get_array_roi": lambda d, lib: d.get_array("image.data", roi=np.s_[..., 1:3, :2]),
    "get_array_roi_int": lambda d, lib: d.get_array("image.data", roi=np.s_[0]),
    "get_array_bad_subtrain": lambda d, lib: d.get_array("image.data", subtrain_index="x"),
    "get_array_neg_step": lambda d, lib: d.get_array("image.data", pulses=np.s_[::-1]),
    "get_array_neg_index": lambda d, lib: d.get_array("image.data", pulses=np.s_[-2:]),
    "pulse_ids": lambda d, lib: d.get_array("image.pulseId"),
    "cell_ids_stacked": lambda d, lib: d.get_array("image.cellId", unstack_pulses=False),
    "header": lambda d, lib: d.get_array("header.pulseCount"),
    "header_fill": lambda d, lib: d.get_array("header.pulseCount", fill_value=7,
                                              astype=np.int32),
    "dask": lambda d, lib: _unnamed(d.get_dask_array("image.data")),
    "dask_cell": lambda d, lib: _unnamed(d.get_dask_array(
        "image.data", subtrain_index="cellId", fill_value=3, astype=np.float64)),
    "dask_header": lambda d, lib: _unnamed(d.get_dask_array("header.pulseCount")),
    # max, not mean: a sum over other chunks rounds differently.
    "dask_groupby": lambda d, lib: _unnamed(d.get_dask_array("image.data")
                                            .groupby("pulseId").max()),
    "kd_shape": lambda d, lib: (d["image.data"].shape,
                                d["image.data"].buffer_shape(module_gaps=True),
                                d["image.data"].buffer_shape(roi=np.s_[..., :2])),
    "kd_meta": lambda d, lib: (d["image.data"].ndim, d["image.data"].dimensions,
                               d["image.data"].dtype, d["image.data"].modules),
    "kd_coords": lambda d, lib: (d["image.data"].train_id_coordinates(),
                                 d["image.data"].pulse_id_coordinates(),
                                 d["image.data"].cell_id_coordinates()),
    "kd_ndarray": lambda d, lib: d["image.data"].ndarray(),
    "kd_ndarray_gaps": lambda d, lib: d["image.data"].ndarray(module_gaps=True, fill_value=5),
    "kd_xarray": lambda d, lib: d["image.data"].xarray(),
    "kd_xarray_unstack": lambda d, lib: d["image.data"].xarray(unstack_pulses=True,
                                                               subtrain_index="cellId"),
    "kd_select_pulses": lambda d, lib: d["image.data"].select_pulses(lib.by_id[4:40])
    .xarray(),
    "kd_sel_coords": lambda d, lib: d["image.data"].select_pulses(np.s_[1:])
    .pulse_id_coordinates(),
    "kd_dask": lambda d, lib: d["image.data"].dask_array(),
    "kd_select_trains": lambda d, lib: d["image.data"].select_trains(np.s_[1:]).ndarray(),
    "kd_split": lambda d, lib: [p.shape for p in d["image.data"].split_trains(parts=2)],
    "kd_availability": lambda d, lib: d["image.data"].data_availability(module_gaps=True),
    "header_kd": lambda d, lib: (d["header.pulseCount"].shape,
                                 d["header.pulseCount"].dimensions,
                                 d["header.pulseCount"].xarray(),
                                 d["header.pulseCount"].ndarray(module_gaps=True)),
    "trains": lambda d, lib: _first_trains(d.trains()),
    "trains_by_id": lambda d, lib: _first_trains(d.trains(pulses=lib.by_id[[0, 8]])),
    "trains_by_index": lambda d, lib: _first_trains(d.trains(pulses=np.s_[1:])),
    "select_trains_array": lambda d, lib: d.select_trains(lib.by_id[10001:10004])
    .get_array("image.data", pulses=np.s_[:2]),
    "masked": lambda d, lib: d.masked_data().ndarray(),
    "masked_bits": lambda d, lib: d.masked_data(mask_bits=[1, 4], masked_value=-2)
    .xarray(),
}

JFCALLS: dict[str, Fn] = {
    "get_array": lambda d, lib: d.get_array("data.adc"),
    "get_array_fill": lambda d, lib: d.get_array("data.adc", fill_value=9, astype=np.float64),
    "get_array_roi_cells": lambda d, lib: d.get_array("data.adc", roi=np.s_[:1, 1:3]),
    "memory_cell": lambda d, lib: d.get_array("data.memoryCell"),
    "frame_number": lambda d, lib: d.get_array("data.frameNumber"),
    "dask": lambda d, lib: _unnamed(d.get_dask_array("data.adc")),
    "kd": lambda d, lib: (d["data.adc"].shape, d["data.adc"].buffer_shape(module_gaps=True),
                          d["data.adc"].dimensions, d["data.adc"].modules,
                          d["data.adc"].train_id_coordinates()),
    "kd_ndarray_gaps": lambda d, lib: d["data.adc"].ndarray(module_gaps=True),
    "kd_xarray": lambda d, lib: d["data.adc"].xarray(),
    "trains": lambda d, lib: _first_trains(d.trains()),
    "trains_all": lambda d, lib: [t for t, _ in d.trains(require_all=False)],
    "cell_ids": lambda d, lib: d.cell_ids(),
    "masked": lambda d, lib: d.masked_data().ndarray(),
}

# Calls where xfconvert deliberately differs from 1.25 (see docs/components.md).
KNOWN = {
    # 1.25 raises NotImplementedError for negative positions; they count from the end of
    # each train here.
    "get_array_neg_index",
    # 1.25 names the dims of a roi-reduced frame from the unreduced entry: an error.
    "get_array_roi_int",
    # A roi with more axes than the entries: 1.25 IndexError, here OptionError (ValueError).
    "get_array_roi[ed-lpd-corr2026]", "get_array_roi[ed-agipd-legacy-corr]",
    # 1.25 bugs: select_trains after trains were dropped by min_modules then a pulse
    # slice (TypeError); trains(pulses=) with LPD parallel gain (duplicate MultiIndex);
    # module_gaps with first_modno > 1 (IndexError); trains(require_all=False) with a
    # module missing a train (AlignmentError).
    "select_trains_array[agipd-raw-min2]", "trains_by_id[lpd-gain]",
    "trains_by_index[lpd-gain]", "availability_gaps[jf1-first3]",
    "kd_ndarray_gaps[jf1-first3]", "trains_all[jf16]",
    # 1.25 raises RuntimeError for data without a mask; we raise PropertyNameError
    # (a KeyError naming the missing key).
    "masked[agipd-raw]", "masked_bits[agipd-raw]", "masked[agipd-raw-true]",
    "masked_bits[agipd-raw-true]", "masked[agipd-raw-modules]",
    "masked_bits[agipd-raw-modules]", "masked[agipd-raw-min2]", "masked_bits[agipd-raw-min2]",
    "masked[agipd-both-raw]", "masked_bits[agipd-both-raw]", "masked[lpd-raw]",
    "masked_bits[lpd-raw]", "masked[lpd-gain]", "masked_bits[lpd-gain]", "masked[agipd500k]",
    "masked_bits[agipd500k]", "masked[ed-agipd]", "masked_bits[ed-agipd]", "masked[ed-lpd]",
    "masked_bits[ed-lpd]", "masked[ed-dssc]", "masked_bits[ed-dssc]", "masked[ed-dssc-raw]",
    "masked_bits[ed-dssc-raw]", "masked[ed-lpd-mini]", "masked_bits[ed-lpd-mini]",
    "masked[jf-raw]", "masked[jf-n4]", "masked[jf16]", "masked[ed-jf]",
}


def _ids() -> list:
    out = []
    for case in CASES:
        calls = {**COMMON, **(JFCALLS if case.jungfrau else XTDF)}
        out += [pytest.param(case.name, name, id=f"{name}[{case.name}]") for name in calls]
    return out


_DETS: dict[tuple[str, str], Outcome] = {}


@pytest.fixture
def component(run_path) -> Callable[[str, Case], Any]:
    """``component(lib, case)``: the case's component in that library, built once."""
    def get(lib: str, case: Case) -> Any:
        key = (lib, case.name)
        if key not in _DETS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = open_dir(LIBS[lib], run_path(RUNS[case.run]))
                cls = getattr(COMPONENTS[lib], case.cls)
                _DETS[key] = Outcome.of(lambda: cls(run, **case.kwargs))
        outcome = _DETS[key]
        if outcome.error is not None:
            raise outcome.error
        return outcome.value
    return get


def _outcome(component, lib: str, case: Case, fn: Fn) -> Outcome:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Outcome.of(lambda: fn(component(lib, case), LIBS[lib]))


@pytest.mark.parametrize("case_name, call", _ids())
def test_component_call(component, case_name: str, call: str) -> None:
    case = CASES_BY_NAME[case_name]
    fn = {**COMMON, **(JFCALLS if case.jungfrau else XTDF)}[call]
    ours = _outcome(component, "xfconvert", case, fn)
    theirs = _outcome(component, "extra_data", case, fn)
    if call in KNOWN or f"{call}[{case_name}]" in KNOWN:
        with pytest.raises(Mismatch):
            assert_same(ours, theirs, f"{call}[{case_name}]")
        return
    assert_same(ours, theirs, f"{call}[{case_name}]")


@pytest.mark.parametrize("raw", [None, True, False])
@pytest.mark.parametrize("run", ["ours-agipd", "ours-proc", "ours-corr2026",
                                 "comp-ed-agipd-legacy-corr", "comp-jf1"])
def test_raw_argument(run_path, run: str, raw) -> None:
    """Which sources ``raw=`` picks (or the builtin error class), and the fallback warning."""
    results = {}
    for lib in ("xfconvert", "extra_data"):
        data = open_dir(LIBS[lib], run_path(RUNS[run]))
        cls = COMPONENTS[lib].JUNGFRAU if "jf" in run else COMPONENTS[lib].AGIPD1M
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcome = Outcome.of(lambda: sorted(cls(data, raw=raw).source_to_modno))
        results[lib] = (outcome, bool(caught))
    assert_same(results["xfconvert"][0], results["extra_data"][0], f"raw={raw} on {run}")
    assert results["xfconvert"][1] == results["extra_data"][1], "fallback warning"


@pytest.mark.parametrize("kwargs", [{"min_modules": 0}, {"min_modules": 9},
                                    {"modules": [7]}, {"detector_name": "NOPE_AGIPD1M-1"}])
def test_bad_options(run_path, kwargs) -> None:
    outcomes = []
    for lib in ("xfconvert", "extra_data"):
        data = open_dir(LIBS[lib], run_path(RUNS["ours-agipd"]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcomes.append(Outcome.of(lambda: COMPONENTS[lib].AGIPD1M(data, **kwargs)))
    assert outcomes[0].error is not None
    assert_same(*outcomes, str(kwargs))
