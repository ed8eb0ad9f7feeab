"""Exceptions and warnings raised by cislens.

User-input problems raise the built-in ``ValueError`` / ``TypeError`` (or the subclasses below,
which are still catchable as those), with a message that names the parameter, what was expected,
what was received, and the fix. The command line turns every one of them into a single line on
stderr and exit code 2.
"""

from __future__ import annotations


class CislensError(Exception):
    """Base class of the errors cislens raises on its own account."""


class ConfigError(CislensError, ValueError):
    """A configuration file or object is invalid; the message names the offending field."""


class UnsupportedModelError(CislensError, TypeError):
    """A model contains an operation a method cannot handle exactly; the message names it."""


class CislensWarning(UserWarning):
    """Numerical or data diagnostics (for example a convergence delta above tolerance)."""


__all__ = ["CislensError", "CislensWarning", "ConfigError", "UnsupportedModelError"]
