"""Type-check the public API of ``src/cislens`` with mypy (run by ``make lint``).

Usage::

    python tools/check_types.py          # exit 1 and mypy's report if a public module has errors
    python tools/check_types.py --list   # print the modules checked, and those left out

The *public modules* are every package's ``__init__.py``, the modules of cislens that an
``__init__.py`` imports names from (what ``__all__`` exports) and, in turn, the modules those
take re-exported names from, ``cislens/errors.py`` and the command line's entry point. They are
found from the source, so a module moved or added by a change is checked without editing a
list. mypy's options (not strict; third-party packages without type information are ``Any``;
errors reported only in the checked modules) are in ``[tool.mypy]`` of ``pyproject.toml``.

:data:`TO_FIX` names the public modules whose type errors are still to be fixed; they are left
out (and listed by ``--list``) until they pass.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "src" / "cislens"
EXTRA = ("errors.py", "cli/_errors.py", "cli/_app.py")

TO_FIX: set[str] = set()
"""Public modules (relative to ``src/cislens``) with type errors to fix; not checked yet (none
now: add a module here only with an issue that says why)."""


def _module_file(module: str, root: Path) -> Path | None:
    path = root.parent / Path(*module.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _exported(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            if isinstance(node.value, (ast.List, ast.Tuple)):
                return {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    return set()


def public_modules(root: Path = ROOT) -> list[str]:
    """The public modules, as paths relative to ``root``, sorted.

    A module is public when it is a package's ``__init__.py``, when an ``__init__.py`` imports
    from it, or when a public module imports from it a name that it exports again (in its
    ``__all__``), as ``cislens.io.dataset`` does with ``Dataset``.
    """
    found = {name for name in EXTRA if (root / name).is_file()}
    found |= {init.relative_to(root).as_posix() for init in root.rglob("__init__.py")}
    todo = sorted(found)
    while todo:
        path = root / todo.pop()
        tree = ast.parse(path.read_text())
        exported = _exported(tree)
        for node in tree.body:
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                "cislens"
            ):
                continue
            names = {alias.asname or alias.name for alias in node.names}
            if path.name != "__init__.py" and not names & exported:
                continue
            source = _module_file(node.module, root)
            if source is not None:
                name = source.relative_to(root).as_posix()
                if name not in found:
                    found.add(name)
                    todo.append(name)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the modules checked")
    args = parser.parse_args(argv)
    modules = public_modules()
    checked = [name for name in modules if name not in TO_FIX]
    if args.list:
        print("\n".join(f"checked  {name}" for name in checked))
        print("\n".join(f"to fix   {name}" for name in modules if name in TO_FIX))
    from mypy import api

    files = [str(ROOT / name) for name in checked]
    out, err, status = api.run(["--config-file", str(REPO / "pyproject.toml"), *files])
    sys.stdout.write(out)
    sys.stderr.write(err)
    print(f"check_types: {len(checked)} public modules checked, {len(TO_FIX)} to fix")
    return status


if __name__ == "__main__":
    sys.exit(main())
