"""Command line: write a mock EuXFEL run.

Examples
--------
``python -m xfconvert.testing /tmp/r0001 --detector agipd --trains 20 --sequences 2``

A DAQ-like layout with raw and 2026-named corrected data side by side:
``python -m xfconvert.testing /tmp/r0002 --detector lpd --raw-and-corrected
--corrected-naming 2026 --pad-trains 6 --index-length real --pad-entries 5 --chunking frame``
"""
from __future__ import annotations

import math
from pathlib import Path

import click

from .devices import CORRECTED_NAMINGS, DETECTORS, JUNGFRAU_LABELS
from .files import CHUNKINGS, FORMAT_VERSIONS, INDEX_LENGTHS
from .runs import DUPLICATES, make_run, make_slow_data_run

# Like the benchmark layout of make_slow_data_run: keys spread over up to 50 sources.
_SLOW_DATA_SOURCES = 50
_DEFAULT_FRAMES = 4
_DEFAULT_MEMORY_CELLS = 16


def _int_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, not {value!r}")


def _shape(ctx: click.Context, param: click.Parameter,
           value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        ss, fs = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected e.g. 64x32, not {value!r}")
    return ss, fs


@click.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--detector", type=click.Choice(sorted(DETECTORS)), default=None,
              help="Multi-module detector to include.")
@click.option("--trains", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Frames per train (default 4), or memory cells for JUNGFRAU (default 16).")
@click.option("--sequences", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--format-version", type=click.Choice(FORMAT_VERSIONS), default="1.0",
              show_default=True)
@click.option("--legacy-index", is_flag=True, help="Write first/last/status indexes.")
@click.option("--corrected", is_flag=True, help="Write corrected (CORR) detector data.")
@click.option("--raw-and-corrected", is_flag=True,
              help="Write raw and corrected detector data side by side (needs "
                   "--corrected-naming 2026).")
@click.option("--corrected-naming", type=click.Choice(CORRECTED_NAMINGS), default="legacy",
              show_default=True, help="Corrected sources named like raw ones, or <DET>/CORR/...")
@click.option("--jungfrau-label", type=click.Choice(sorted(JUNGFRAU_LABELS)), default="JNGFR",
              show_default=True)
@click.option("--pad-trains", type=click.IntRange(min=0), default=0, show_default=True,
              help="Zero train IDs appended to INDEX/trainId.")
@click.option("--index-length", type=click.Choice(INDEX_LENGTHS), default="padded",
              show_default=True, help="Per-source INDEX as long as the padded or real trains.")
@click.option("--pad-entries", type=click.IntRange(min=0), default=0, show_default=True,
              help="Preallocated, never written entries past each dataset's data.")
@click.option("--chunking", type=click.Choice(CHUNKINGS), default="default", show_default=True)
@click.option("--duplicate-trains", type=click.IntRange(min=0), default=0, show_default=True,
              help="Trains each sequence file repeats from the one before.")
@click.option("--duplicates", type=click.Choice(DUPLICATES), default="identical",
              show_default=True)
@click.option("--flag-zero-trains", callback=_int_list, default="",
              help="Comma-separated train IDs flagged suspect (INDEX/flag 0) in DA01.")
@click.option("--missing-modules", callback=_int_list, default="",
              help="Comma-separated module numbers to leave out, e.g. 3,5.")
@click.option("--module-shape", callback=_shape, default=None,
              help="Pixel shape of each module, e.g. 64x32 (default: real size).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--slow-data-keys", type=click.IntRange(min=1), default=None,
              help="Instead, write a slow-data benchmark run with about this many keys.")
def main(outdir: Path, detector: str | None, trains: int, frames: int | None,
         sequences: int, format_version: str, legacy_index: bool, corrected: bool,
         raw_and_corrected: bool, corrected_naming: str, jungfrau_label: str,
         pad_trains: int, index_length: str, pad_entries: int, chunking: str,
         duplicate_trains: int, duplicates: str, flag_zero_trains: tuple[int, ...],
         missing_modules: tuple[int, ...], module_shape: tuple[int, int] | None, seed: int,
         slow_data_keys: int | None) -> None:
    """Write a mock European XFEL run into OUTDIR."""
    if slow_data_keys is not None:
        n_sources = min(_SLOW_DATA_SOURCES, slow_data_keys)
        keys_per_source = math.ceil(slow_data_keys / n_sources)
        run_dir = make_slow_data_run(outdir, n_sources, keys_per_source, trains,
                                     n_sequences=sequences, format_version=format_version,
                                     seed=seed)
        click.echo(f"{n_sources} sources x {keys_per_source} keys, {trains} trains")
    else:
        run_dir = make_run(outdir, detector=detector, n_trains=trains,
                           frames_per_train=frames or _DEFAULT_FRAMES,
                           memory_cells=frames or _DEFAULT_MEMORY_CELLS,
                           n_sequences=sequences,
                           format_version=format_version, legacy_index=legacy_index,
                           corrected="both" if raw_and_corrected else corrected,
                           corrected_naming=corrected_naming, jungfrau_label=jungfrau_label,
                           pad_trains=pad_trains, index_length=index_length,
                           pad_entries=pad_entries, chunking=chunking,
                           duplicate_trains=duplicate_trains, duplicates=duplicates,
                           flag_zero_trains=flag_zero_trains,
                           missing_modules=missing_modules,
                           module_shape=module_shape, seed=seed)
    total = 0
    for file in sorted(run_dir.glob("*.h5")):
        size = file.stat().st_size
        total += size
        click.echo(f"{file}  {size / 2**20:9.2f} MiB")
    click.echo(f"Total: {total / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
