"""``xfconvert convert`` and ``xfconvert writers``.

The convert command's writer options are generated from the writers' option dataclasses:
every field becomes a ``--flag`` (underscores as dashes), so a plugin's options appear
without touching the CLI. The command is built on first use, so ``xfconvert ls`` never
imports writer plugins.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import click

from ..exceptions import TrainIDError
from ..readers.open import H5File, RunDirectory
from ..readers.selection import by_id
from ..writers.base import convert as convert_data
from ..writers.registry import list_writers
from .progress import LazyProgress

_SLICE = re.compile(r"^(id:)?(-?\d*):(-?\d*)(?::(\d+))?$")


def open_input(path: Path, inc_suspect_trains: bool = True):
    """A run directory or a single file."""
    if path.is_file():
        return H5File(path, inc_suspect_trains=inc_suspect_trains)
    return RunDirectory(path, inc_suspect_trains=inc_suspect_trains)


def parse_trains(text: str):
    """``START:STOP[:STEP]`` by index, or ``id:FIRST:STOP`` by train ID (stop excluded)."""
    m = _SLICE.match(text.strip())
    if not m:
        raise click.BadParameter(f"{text!r} is not START:STOP[:STEP] or id:FIRST:STOP",
                                 param_hint="--trains")
    by_train_id, start, stop, step = m.groups()
    if step is not None and int(step) == 0:
        raise click.BadParameter(f"{text!r}: the step must be at least 1", param_hint="--trains")
    sl = slice(int(start) if start else None, int(stop) if stop else None,
               int(step) if step else None)
    return by_id[sl] if by_train_id else sl


def _click_type(hint):
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        non_none = [a for a in args if a is not type(None)]
        return _click_type(non_none[0])
    if origin is typing.Literal:
        return ("choice", tuple(str(a) for a in args))
    return ("plain", hint)


def writer_option_specs() -> dict[str, dict]:
    """option name -> {'type': ..., 'writers': [...], 'help': ...} over all writers."""
    specs: dict[str, dict] = {}
    for wname, cls in sorted(list_writers().items()):
        hints = typing.get_type_hints(cls.options_type)
        for f in dataclasses.fields(cls.options_type):
            kind, value = _click_type(hints[f.name])
            spec = specs.setdefault(f.name, {"kind": kind, "value": value, "writers": [],
                                             "help": f.metadata.get("help", "")})
            if kind == "choice" and spec["kind"] == "choice":
                spec["value"] = tuple(dict.fromkeys(spec["value"] + value))
            spec["writers"].append(wname)
    return specs


def _make_option(name: str, spec: dict) -> click.Option:
    flag = "--" + name.replace("_", "-")
    help_text = f"{spec['help']} [{', '.join(spec['writers'])}]".strip()
    if spec["kind"] == "choice":
        return click.Option([flag, name], type=click.Choice(spec["value"]), default=None,
                            help=help_text)
    if spec["value"] is bool:
        return click.Option([f"{flag}/--no-{name.replace('_', '-')}", name], default=None,
                            help=help_text)
    ctype = {int: click.INT, float: click.FLOAT}.get(spec["value"], click.STRING)
    return click.Option([flag, name], type=ctype, default=None, help=help_text)


def build_convert_command() -> click.Command:
    specs = writer_option_specs()
    writer_names = sorted(list_writers())

    @click.pass_context
    def run(ctx: click.Context, input_path: Path, to: str, output: Path,
            select: tuple, trains: str | None, overwrite: bool, skip_suspect_trains: bool,
            **writer_options) -> None:
        given = {k: v for k, v in writer_options.items() if v is not None}
        wrong = [k for k in given if to not in specs[k]["writers"]]
        if wrong:
            flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
            raise click.UsageError(f"{flags} does not apply to writer {to!r}.")
        data = open_input(input_path, inc_suspect_trains=not skip_suspect_trains)
        if select:
            data = data.select(list(select))
        if trains:
            n_trains = len(data.train_ids)
            data = data.select_trains(parse_trains(trains))
            if not len(data.train_ids):
                raise TrainIDError(f"--trains {trains} selects none of the {n_trains} "
                                   f"trains of {input_path}.")
        with LazyProgress(ctx, f"Writing {output.name}") as progress:
            convert_data(data, output, to=to, overwrite=overwrite, progress=progress, **given)
        click.echo(f"Wrote {output}", err=True)

    params = [
        click.Argument(["input_path"], type=click.Path(exists=True, path_type=Path)),
        click.Option(["--to", "to"], required=True, type=click.Choice(writer_names),
                     help="Writer to use (see `xfconvert writers`)."),
        click.Option(["-o", "--output", "output"], required=True,
                     type=click.Path(path_type=Path), help="Output file or directory."),
        click.Option(["--select", "select"], nargs=2, multiple=True,
                     metavar="SRC_GLOB KEY_GLOB", help="Sources and keys to include "
                     "(repeatable; default: everything)."),
        click.Option(["--trains", "trains"], default=None, metavar="SLICE",
                     help="START:STOP[:STEP] by index, or id:FIRST:STOP by train ID."),
        click.Option(["--overwrite"], is_flag=True, help="Replace an existing output."),
        click.Option(["--skip-suspect-trains"], is_flag=True,
                     help="Leave out trains with zero or out-of-order IDs instead of failing."),
    ] + [_make_option(name, spec) for name, spec in sorted(specs.items())]
    return click.Command("convert", callback=run, params=params,
                         help="Convert a run directory or file with one of the writers.")


@click.command("writers")
def writers() -> None:
    """List the installed writers and their options."""
    for name, cls in sorted(list_writers().items()):
        kind = "directory" if cls.output_is_directory else f"file ({cls.suffix})"
        click.echo(f"{name}: {cls.description} -> {kind}")
        for f in dataclasses.fields(cls.options_type):
            default = f.default if f.default is not dataclasses.MISSING else "required"
            click.echo(f"    --{f.name.replace('_', '-')} (default {default})"
                       f"{': ' + f.metadata['help'] if f.metadata.get('help') else ''}")
