"""How the command line reports a command that did not finish: one line on stderr, an exit code.

Exit codes
----------
0
    Success.
1
    Internal error: an exception cislens did not raise on purpose (a bug in cislens, or a failure
    inside torch / numpy / a user's model code). The line names the exception's type and message
    and says to rerun with ``--debug`` for the traceback::

        cislens: internal error: KeyError: 'scores' (rerun with --debug for the traceback)
2
    User error: bad input, a bad file, or a bad option (Typer's usage errors are exit 2 too)::

        cislens: error: --target 5 is out of range for 2 tasks.
130
    Interrupted (Ctrl-C, SIGINT): ``cislens: interrupted``.
143
    Terminated (SIGTERM): ``cislens: terminated``.

``--debug`` (or ``CISLENS_DEBUG=1`` in the environment) lets user and internal errors propagate,
so Python prints the full traceback.

User or internal
----------------
The rule looks at the exception's class and, for the built-in classes cislens uses for
validation, at where it was raised:

- :class:`cislens.errors.CislensError` and its subclasses: always user errors.
- :class:`OSError` (missing file, permission denied, full disk, unreadable HDF5): always user
  errors; they concern the user's files and machine, not cislens's code.
- ``ValueError``, ``TypeError``, ``LookupError`` (``KeyError``, ``IndexError``) and
  ``ImportError`` (a missing optional extra): user errors only when a ``raise`` statement in
  cislens's own source raised them, which is how cislens's validation reports bad input (its
  messages name the parameter and the fix). The same classes raised by torch, numpy or Python
  itself (``None + 1`` in cislens code, a wrong keyword deep in a library) are internal errors,
  whose bare messages would read as if the input were at fault.
- Everything else is internal.

A multi-line message is kept whole on one line (torch's ``load_state_dict`` error names the
mismatched tensors and shapes only from its second line on), up to :data:`MAX_DETAIL_LINES`
lines.
"""

from __future__ import annotations

import linecache
import os
import traceback

import cislens
from cislens.errors import CislensError

EXIT_INTERNAL = 1
EXIT_USER = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
MAX_DETAIL_LINES = 8
"""The most lines of a multi-line message kept on the error line; the rest are counted."""

VALIDATION_ERRORS = (ValueError, TypeError, LookupError, ImportError)
"""Classes that are user errors when a ``raise`` statement in cislens raised them."""

_PACKAGE_DIR = os.path.dirname(os.path.abspath(cislens.__file__)) + os.sep


class Terminated(BaseException):
    """Raised by the SIGTERM handler of :func:`cislens.cli.main`, so ``finally`` blocks run.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that no ``except Exception`` on the way
    swallows it.
    """


def raised_by_cislens(error: BaseException) -> bool:
    """Whether a ``raise`` statement in cislens's own source raised ``error``.

    The raising frame is the last entry of the traceback; its source line starts with ``raise``
    for a deliberate error (Python reports the first line of a multi-line statement).

    Examples
    --------
    >>> from cislens.utils.random import resolve_seed
    >>> try:
    ...     resolve_seed("x")
    ... except (TypeError, ValueError) as error:
    ...     raised_by_cislens(error)
    True
    >>> try:
    ...     {}["x"]
    ... except KeyError as error:
    ...     raised_by_cislens(error)
    False
    """
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return False
    last = frames[-1]
    if not os.path.abspath(last.filename).startswith(_PACKAGE_DIR):
        return False
    line = last.line or linecache.getline(last.filename, last.lineno or 0)
    # Without the source (a zipped install) the frame alone decides.
    return not line.strip() or line.strip().startswith("raise")


def is_user_error(error: BaseException) -> bool:
    """Whether ``error`` means bad input (exit 2) rather than a failure of the code (exit 1)."""
    if isinstance(error, (CislensError, OSError)):
        return True
    return isinstance(error, VALIDATION_ERRORS) and raised_by_cislens(error)


def one_line(text: str, max_lines: int = MAX_DETAIL_LINES) -> str:
    """``text`` on one line: its non-blank lines stripped and joined, a header's colon kept.

    Examples
    --------
    >>> one_line("Error(s) in loading state_dict for Net:\\n\\tsize mismatch for w: a.\\n\\tb.")
    'Error(s) in loading state_dict for Net: size mismatch for w: a.; b.'
    >>> one_line("1\\n2\\n3", max_lines=2)
    '1; 2; (1 more lines)'
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    extra = len(lines) - max_lines
    lines = lines[:max_lines] + ([f"({extra} more lines)"] if extra > 0 else [])
    joined = ""
    for line in lines:
        separator = "" if not joined else (" " if joined.endswith(":") else "; ")
        joined += separator + line
    return joined


def message(error: BaseException) -> str:
    """The cause of ``error`` as one line, without Python's decorations.

    ``OSError``'s ``[Errno 2]`` prefix is dropped and the path is named; a ``KeyError``'s
    message is not shown in quotes.
    """
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        text = f"{error.strerror}: {str(error.filename)!r}"
        if error.filename2 is not None:
            text += f" -> {str(error.filename2)!r}"
        return text
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        text = error.args[0]  # str(KeyError) is the repr of its argument: quoted, escaped
    else:
        text = str(error)
    return one_line(text) or type(error).__name__


def report(error: BaseException) -> tuple[str, int]:
    """The stderr line and the exit code for ``error`` (see the module docstring).

    Examples
    --------
    >>> report(KeyboardInterrupt())
    ('cislens: interrupted', 130)
    >>> report(FileNotFoundError(2, "No such file or directory", "data.h5"))
    ("cislens: error: No such file or directory: 'data.h5'", 2)
    >>> report(AttributeError("'NoneType' object has no attribute 'shape'"))[1]
    1
    """
    if isinstance(error, KeyboardInterrupt):
        return "cislens: interrupted", EXIT_INTERRUPTED
    if isinstance(error, Terminated):
        return "cislens: terminated", EXIT_TERMINATED
    if is_user_error(error):
        return f"cislens: error: {message(error)}", EXIT_USER
    # str(), not message(): for a bug, the exception as Python shows it (a KeyError's quotes).
    detail = ": ".join(filter(None, [type(error).__name__, one_line(str(error))]))
    return (
        f"cislens: internal error: {detail} (rerun with --debug for the traceback)",
        EXIT_INTERNAL,
    )


__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EXIT_USER",
    "Terminated",
    "is_user_error",
    "message",
    "one_line",
    "raised_by_cislens",
    "report",
]
