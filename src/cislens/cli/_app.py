"""The Typer application object and the options shared by every subcommand.

Each stage's subcommand lives in its own module of this package and registers itself on ``app``
with ``@app.command()``; ``cislens.cli`` imports those modules in ``COMMAND_MODULES`` order.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import dataclass

import typer

from cislens._version import __version__

app = typer.Typer(
    name="cislens",
    help=(
        "Explain what a DNA sequence model has learned about the cis-regulatory code: "
        "simulate data with ground truth, train, attribute, discover motifs, run in-silico "
        "experiments and benchmark them against the truth."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class CliState:
    """Options given before the subcommand; read by subcommands through ``state``.

    ``verbose`` turns on progress bars, and is True only with ``-v`` on a terminal: bars
    redrawn with carriage returns would fill a log file. ``steps`` is ``-v`` itself: one log
    line per stage, also when the output is a file.
    """

    verbose: bool = False
    quiet: bool = False
    debug: bool = False
    steps: bool = False


state = CliState()


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"cislens {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show progress bars and steps."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only results and errors."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version."
    ),
) -> None:
    state.steps = verbose and not quiet
    state.verbose = state.steps and _terminal()
    state.quiet, state.debug = quiet, debug
    level = logging.WARNING if quiet else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="%(message)s", force=True)
    warnings.formatwarning = one_line_warning


def _terminal() -> bool:
    """Whether stderr (where progress bars go) is a terminal."""
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as one line, ``warning: <message>``, without the source line that Python's
    default format prints (``filename`` and ``lineno`` are left out on purpose).

    Examples
    --------
    >>> one_line_warning("few seqlets", UserWarning, "x.py", 3)
    'warning: few seqlets\\n'
    """
    return f"warning: {message}\n"


def echo(message: str) -> None:
    """Print a result line unless ``--quiet`` is set (results that are the point still print)."""
    if not state.quiet:
        typer.echo(message)


__all__ = ["CliState", "app", "echo", "one_line_warning", "state"]
