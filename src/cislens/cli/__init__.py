"""The ``cislens`` command line: one subcommand per stage, each a thin shell over the library.

Bad input prints one line on stderr (``cislens: error: ...``) and exits with code 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys

import typer

from cislens.cli._app import app, state
from cislens.errors import CislensError

# Subcommand modules, imported for their @app.command() side effect, in the order of --help.
COMMAND_MODULES = [
    "cislens.cli.demo",
    "cislens.cli.run",
    "cislens.cli.simulate",
    "cislens.cli.train",
    "cislens.cli.attribute",
    "cislens.cli.motifs",
    "cislens.cli.gia",
    "cislens.cli.benchmark",
    "cislens.cli.data",
    "cislens.cli.variants",
]

for _module in COMMAND_MODULES:
    importlib.import_module(_module)

# Errors that mean "bad input": one line on stderr and exit code 2.
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, PermissionError, CislensError)


def _is_usage_error(error: Exception) -> bool:
    """Click-style usage errors (bad options, missing arguments), raised by Typer's parser.

    Detected by their interface rather than their class because Typer versions differ in whether
    they vendor click.
    """
    return callable(getattr(error, "show", None)) and hasattr(error, "exit_code")


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    cislens ...
    0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="cislens", standalone_mode=False)
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        print("cislens: aborted", file=sys.stderr)
        return 130
    except Exception as error:
        if _is_usage_error(error):
            error.show()
            return 2
        if not isinstance(error, USER_ERRORS) or debug or state.debug:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        if isinstance(error, KeyError):
            message = f"not found: {message}"
        print(f"cislens: error: {message}", file=sys.stderr)
        return 2
    return 0


__all__ = ["app", "main"]
