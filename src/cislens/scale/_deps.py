"""Lazy imports of the optional ``scale`` dependencies (Dask distributed, Zarr, pyBigWig)."""

from __future__ import annotations


def require(name: str):
    """Import ``dask.distributed`` or ``zarr``, or raise an ImportError naming the extra."""
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise ImportError(
            f"cislens.scale needs {name!r}, which is not installed; install the extra with "
            "pip install 'cislens[scale]' (dask[distributed], zarr>=3 and pyBigWig)."
        ) from None


__all__ = ["require"]
