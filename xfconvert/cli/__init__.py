"""The ``xfconvert`` command: a thin click layer over the library.

Every subcommand parses its arguments and calls one library function. Errors from the
library are shown as one line on stderr with a non-zero exit code; ``--debug`` shows the
traceback instead. Exceptions that are not xfconvert's (bugs) are shown as one line
"internal error ...; rerun with --debug". SIGINT and SIGTERM stop any command, remove its
temporary output and exit 130 or 143 with one line on stderr.
"""
from __future__ import annotations

import gc
import logging
import signal
import sys
import warnings

import click

from ..exceptions import XfconvertError
from ..writers import interrupts
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
    """Entry point of the ``xfconvert`` console script; returns the exit code.

    Exit codes: 0 success, 1 an error (one line on stderr), 2 a bad command line,
    128 + the signal number when SIGINT (130) or SIGTERM (143) stopped the command.
    """
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # SIGINT and SIGTERM (a batch system's kill) both unwind, so outputs are cleaned up.
    with interrupts.handling_signals():
        try:
            # Not cli.main(): it would print a blank line of its own on an interrupt.
            with cli.make_context("xfconvert", list(args)) as ctx:
                result = cli.invoke(ctx)
        except click.exceptions.Exit as done:  # --help, --version
            return done.exit_code
        except click.exceptions.Abort:
            return _interrupted(interrupts.stop_requested() or signal.SIGINT)
        except click.ClickException as err:
            if debug:
                raise
            message = err.format_message().replace("\n", " ")
            click.echo(f"xfconvert: error: {message}", err=True)
            return err.exit_code
        except KeyboardInterrupt as err:
            return _interrupted(getattr(err, "signum", None) or interrupts.stop_requested()
                                or signal.SIGINT)
        except Exception as err:
            if debug:
                raise
            if interrupts.stop_requested():
                return _interrupted(interrupts.stop_requested())
            click.echo(f"xfconvert: error: {_one_line(err, args)}", err=True)
            return 1
    return result if isinstance(result, int) else 0


def _one_line(err: Exception, args: list[str]) -> str:
    if isinstance(err, (XfconvertError, OSError)):
        return " ".join(str(err).split())
    command = next((a for a in args if not a.startswith("-")), "")
    detail = " ".join(str(err).split())
    return (f"internal error in xfconvert {command}: {type(err).__name__}"
            f"{': ' + detail if detail else ''}; rerun with --debug")


def _interrupted(signum: int) -> int:
    # An interrupt between zarr making a coroutine and scheduling it leaves the coroutine
    # unawaited; Python would warn about it at exit, after our one line.
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited",
                            category=RuntimeWarning)
    gc.collect()
    name = signal.Signals(signum).name
    click.echo(f"xfconvert: interrupted by {name}", err=True)
    return 128 + int(signum)
