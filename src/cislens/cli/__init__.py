"""The ``cislens`` command line: one subcommand per stage, each a thin shell over the library.

A command that does not finish prints one line on stderr and exits non-zero: bad input
``cislens: error: ...`` (2), an internal error ``cislens: internal error: ...`` (1), Ctrl-C
``cislens: interrupted`` (130), SIGTERM ``cislens: terminated`` (143); ``--debug`` (or the
environment variable ``CISLENS_DEBUG=1``, for a command run by another program) shows the
traceback of errors instead. :mod:`cislens.cli._errors` says how user and internal errors are
told apart.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from typing import Any, cast

import typer

from cislens.cli._app import app, state
from cislens.cli._errors import EXIT_INTERRUPTED, Terminated, report

# Subcommand modules, imported for their @app.command() side effect, in the order of --help.
COMMAND_MODULES = [
    "cislens.cli.demo",
    "cislens.cli.run",
    "cislens.cli.simulate",
    "cislens.cli.train",
    "cislens.cli.attribute",
    "cislens.cli.motifs",
    "cislens.cli.interchange",
    "cislens.cli.gia",
    "cislens.cli.benchmark",
    "cislens.cli.data",
    "cislens.cli.variants",
]

for _module in COMMAND_MODULES:
    importlib.import_module(_module)


def _is_usage_error(error: Exception) -> bool:
    """Click-style usage errors (bad options, missing arguments), raised by Typer's parser.

    Detected by their interface rather than their class because Typer versions differ in whether
    they vendor click.
    """
    return callable(getattr(error, "show", None)) and hasattr(error, "exit_code")


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def _sigterm_raises():
    """Turn SIGTERM into :class:`Terminated` while a command runs, so its ``finally`` blocks
    (which remove temporary files) run as they do on Ctrl-C; the previous handler is restored.

    Signal handlers can only be set from the main thread; elsewhere SIGTERM keeps its handler.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    cislens ...
    0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("CISLENS_DEBUG", "") not in ("", "0")
    try:
        with _sigterm_raises():
            code = app(args=args, prog_name="cislens", standalone_mode=False)
    except typer.Exit as done:
        code = done.exit_code
    except typer.Abort:
        print("cislens: aborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (KeyboardInterrupt, Terminated) as stop:
        # Typer versions that let KeyboardInterrupt through (and SIGTERM, always) land here.
        line, code = report(stop)
        print(line, file=sys.stderr)
        return code
    except Exception as error:
        if _is_usage_error(error):
            cast(Any, error).show()
            return 2
        if debug or state.debug:
            raise
        line, code = report(error)
        print(line, file=sys.stderr)
        return code
    # In non-standalone mode Typer returns the code of a typer.Exit raised inside a command, and
    # turns KeyboardInterrupt into Exit(130): that code is the only trace of an interrupt.
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    if code == EXIT_INTERRUPTED:
        print(report(KeyboardInterrupt())[0], file=sys.stderr)
    return code


__all__ = ["app", "main"]
