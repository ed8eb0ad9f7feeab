"""Method names for ``cislens benchmark``, the demo and the pipeline (:func:`resolve_methods`).

Attributing test positives and scoring them (``run_benchmark``) lives in
:mod:`cislens.pipeline.attribution`.
"""

from __future__ import annotations


def resolve_methods(methods) -> list[str]:
    """``"all"``, a comma-separated string or a list of names -> validated method names.

    Examples
    --------
    >>> resolve_methods("saliency,ism")
    ['saliency', 'ism']
    """
    from cislens.attribution import METHODS, get_method

    if methods is None or methods == "all" or methods == ["all"]:
        return list(METHODS)
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    names = [get_method(m).name for m in methods]
    if not names:
        raise ValueError("methods is empty; pass 'all' or method names such as 'saliency'.")
    return names


__all__ = ["resolve_methods"]
