"""``xfconvert cxi``: a CXI file stacking a run's detector modules virtually.

Examples
--------
>>> parse_fill_value("0xffffffff"), parse_fill_value("nan"), parse_fill_value("-1.5")
(4294967295, nan, -1.5)
"""
from __future__ import annotations

import math
from pathlib import Path

import click

from ..readers.open import RunDirectory
from ..writers.cxi import write_virtual_cxi
from .progress import LazyProgress

DATASETS = ("data", "gain", "mask")


def parse_fill_value(text: str) -> int | float:
    """A fill value: ``nan``, an integer (decimal, ``0x``, ``0o``, ``0b``) or a decimal.

    Raises
    ------
    ValueError
        If ``text`` is none of these.
    """
    text = text.strip()
    try:
        return int(text, 0)
    except ValueError:
        pass
    value = float(text)  # also accepts nan, inf
    if math.isinf(value):
        raise ValueError(f"infinite fill value {text!r}")
    return value


class FillValue(click.ParamType):
    """Click type of ``--fill-value``'s VALUE."""

    name = "value"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        try:
            return parse_fill_value(value)
        except ValueError:
            self.fail(f"{value!r} is not a number (examples: nan, 0, 1.5, 0xffffffff, "
                      "0o17, 0b101)", param, ctx)


@click.command("cxi")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The CXI file to write.")
@click.option("--min-modules", type=click.IntRange(min=1), default=None, metavar="N",
              help="Include trains where at least N modules have data "
                   "(default: half the modules with data, plus one).")
@click.option("--fill-value", "fill_values", nargs=2, multiple=True,
              type=(click.Choice(DATASETS), FillValue()), metavar="DATASET VALUE",
              help="Fill value for missing data of DATASET (data, gain or mask); VALUE may "
                   "be nan, an integer (also 0x.., 0o.., 0b..) or a decimal. Defaults: data "
                   "0 (integers) or NaN (floats), gain 0, mask 0xffffffff. Repeatable.")
@click.option("--relative-paths", is_flag=True,
              help="Store module file paths relative to the output's directory.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.pass_context
def cxi(ctx: click.Context, run: Path, output: Path, min_modules: int | None,
        fill_values: tuple, relative_paths: bool, overwrite: bool) -> None:
    """Write a CXI file viewing the detector of RUN (raw or proc run directory) as one
    virtual (frames, modules, ...) stack, without copying data."""
    fills = {}
    for name, value in fill_values:
        if name in fills:
            raise click.BadParameter(f"fill value of {name} given twice",
                                     param_hint="--fill-value")
        fills[name] = value
    data = RunDirectory(run)
    with LazyProgress(ctx, f"Writing {output.name}") as progress:
        write_virtual_cxi(data, output, fills, overwrite=overwrite, progress=progress,
                          min_modules=min_modules, relative_paths=relative_paths)
    click.echo(f"Wrote {output}", err=True)
