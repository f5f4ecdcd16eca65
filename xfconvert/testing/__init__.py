"""Mock European XFEL run data, for tests, demos and benchmarks.

Write a whole run (slow-data aggregators plus a multi-module detector)::

    from xfconvert.testing import make_run
    run_dir = make_run('/tmp/r0001', detector='agipd', n_trains=20, n_sequences=2,
                       module_shape=(64, 32))

or single files from devices you choose::

    from xfconvert.testing import XGM, Motor, write_file
    write_file('/tmp/RAW-R0001-DA01-S00000.h5', [XGM('SA1_XTD2_XGM/DOOCS/MAIN'),
               Motor('SPB_XTD9_MOTORS/MOTOR/STAGE_X')], range(10000, 10010))

or runs laid out as the DAQ writes them (padded indexes, never-written chunks, one frame
a chunk, 2026 corrected names, duplicate and suspect trains)::

    make_run('/tmp/r0002', detector='agipd', corrected='both', corrected_naming='2026',
             pad_trains=6, index_length='real', pad_entries=5, chunking='frame',
             n_sequences=2, duplicate_trains=1, duplicates='conflicting')

or files damaged in a known way (:data:`DAMAGE_KINDS`)::

    from xfconvert.testing import make_damaged_file
    make_damaged_file('/tmp/bad.h5', 'index_gap')

The same from the shell: ``python -m xfconvert.testing OUTDIR --detector agipd``.

Values are reproducible: they depend only on the seed, the source, the key and the
train (and frame) they belong to, never on how a run is split into files.
"""
from .damage import DAMAGE_KINDS, damage_file, describe_damage, make_damaged_file
from .devices import (
    CORRECTED_NAMINGS,
    DETECTORS,
    JUNGFRAU_LABELS,
    XGM,
    AGIPDModule,
    Camera,
    DetectorModule,
    DetectorSpec,
    Device,
    DSSCModule,
    Gauge,
    JUNGFRAUModule,
    Key,
    LPDModule,
    ManyKeysDevice,
    Motor,
    Unit,
    XTDFModule,
)
from .files import (
    CHUNKINGS,
    FORMAT_VERSIONS,
    INDEX_LENGTHS,
    file_name,
    train_timestamps,
    write_file,
)
from .runs import DUPLICATES, make_run, make_slow_data_run, sequence_bounds

__all__ = [
    "AGIPDModule",
    "CHUNKINGS",
    "CORRECTED_NAMINGS",
    "Camera",
    "DAMAGE_KINDS",
    "DETECTORS",
    "DUPLICATES",
    "DSSCModule",
    "DetectorModule",
    "DetectorSpec",
    "Device",
    "FORMAT_VERSIONS",
    "Gauge",
    "INDEX_LENGTHS",
    "JUNGFRAUModule",
    "JUNGFRAU_LABELS",
    "Key",
    "LPDModule",
    "ManyKeysDevice",
    "Motor",
    "Unit",
    "XGM",
    "XTDFModule",
    "damage_file",
    "describe_damage",
    "file_name",
    "make_damaged_file",
    "make_run",
    "make_slow_data_run",
    "sequence_bounds",
    "train_timestamps",
    "write_file",
]

__all__ += ["WriterTests"]


def __getattr__(name: str):
    # WriterTests needs pytest; import it only when a test suite asks for it.
    if name == "WriterTests":
        from .writer_tests import WriterTests
        return WriterTests
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
