"""The ``xfconvert`` command: a thin click layer over the library.

Every subcommand parses its arguments and calls one library function. Errors from the
library are shown as one line on stderr with a non-zero exit code; ``--debug`` shows the
traceback instead.
"""
from __future__ import annotations

import logging
import signal
import sys

import click

from ..exceptions import XfconvertError
from .cxi import cxi
from .inspect import ls, validate


class _Group(click.Group):
    """Builds ``convert`` only when asked for, so other commands never load writer plugins."""

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), "convert"])

    def get_command(self, ctx, name):
        if name == "convert":
            from .convert import build_convert_command
            return build_convert_command()
        return super().get_command(ctx, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.version_option(package_name="xfconvert")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Read European XFEL runs and convert them for analysis tools."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["quiet"] = quiet
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


cli.add_command(cxi)
cli.add_command(ls)
cli.add_command(validate)


@cli.command("writers")
def _writers() -> None:
    """List the installed writers and their options."""
    from .convert import writers
    writers.callback()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xfconvert`` console script; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # SIGTERM (e.g. a batch system's kill) unwinds like Ctrl-C, so outputs are cleaned up.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        result = cli.main(args=args, prog_name="xfconvert", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("xfconvert: interrupted", err=True)
        return 130
    except click.ClickException as err:
        if debug:
            raise
        message = err.format_message().replace("\n", " ")
        click.echo(f"xfconvert: error: {message}", err=True)
        return err.exit_code
    except (XfconvertError, OSError) as err:
        if debug:
            raise
        message = " ".join(str(err).split())
        click.echo(f"xfconvert: error: {message}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("xfconvert: interrupted", err=True)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return result if isinstance(result, int) else 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
