"""Check the import graph of ``src/cislens``: no cycle between packages, no cycle between the
modules inside a package, no private name imported across packages.

Usage::

    python tools/check_imports.py            # exit 1 and one line per problem if any
    python tools/check_imports.py --graph    # also print the package-level graph

A *package* is the first level under ``cislens`` (``cislens.motifs``, ``cislens.cli``; a
top-level module such as ``cislens.demo`` is its own package). Only imports executed at module
level or inside functions count, wherever they are written (``TYPE_CHECKING`` blocks included,
since they still express a dependency). A *private import across packages* is
``from cislens.a._m import x``, ``from cislens.a.m import _x`` or ``import cislens.a._m`` written
in a module of another package ``b``; importing ``cislens.a`` names defined in
``cislens/a/__init__.py`` is the public way in. Inside a package, a module importing the
package's own ``__init__`` does not count (the ``__init__`` gathers the package's names); any
other circle of modules does, lazy imports included (a lazy import is how such circles hide).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "cislens"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def resolve(node: ast.ImportFrom, module: str, is_init: bool) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_init:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` for every cislens import in a file."""
    module = module_name(path, root)
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (a.name, None, node.lineno) for a in node.names if a.name.startswith("cislens")
            ]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(node, module, path.name == "__init__.py")
            if target.startswith("cislens"):
                found += [(target, a.name, node.lineno) for a in node.names]
    return found


# The version module is the distribution's, written by the build; every package may read it.
ALLOWED = {"cislens._version"}


def is_private(target: str, name: str | None) -> bool:
    if target in ALLOWED:
        return False
    parts = target.split(".")[1:]
    if any(p.startswith("_") and not p.startswith("__") for p in parts):
        return True
    return name is not None and name.startswith("_") and not name.startswith("__")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def existing_module(target: str, name: str | None, root: Path) -> str | None:
    """The module an import loads: ``target.name`` when that is a submodule, else ``target``."""
    for candidate in ([f"{target}.{name}"] if name else []) + [target]:
        rel = candidate.split(".")[1:]
        if root.joinpath(*rel).with_suffix(".py").exists():
            return candidate
        if rel and (root.joinpath(*rel) / "__init__.py").exists():
            return candidate
    return None


def module_cycles(root: Path = ROOT) -> list[list[str]]:
    """Circles of modules inside one package (imports of the package's ``__init__`` excluded)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = package_of(module)
        for target, name, _ in imports_of(path, root):
            loaded = existing_module(target, name, root)
            if loaded and loaded not in (module, own) and package_of(loaded) == own:
                graph.setdefault(module, set()).add(loaded)
    return cycles(graph)


def check(root: Path = ROOT) -> tuple[list[str], dict[str, set[str]]]:
    problems: list[str] = []
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = package_of(module)
        graph.setdefault(own, set())
        for target, name, line in imports_of(path, root):
            other = package_of(target)
            if other in ("cislens", own):
                continue
            graph[own].add(other)
            if is_private(target, name):
                shown = f"{target}.{name}" if name else target
                rel = path.relative_to(root.parents[1])
                problems.append(f"{rel}:{line}: private import across packages: {shown}")
    for component in cycles(graph):
        problems.append("import cycle between packages: " + " <-> ".join(component))
    for component in module_cycles(root):
        problems.append("import cycle between modules: " + " <-> ".join(component))
    return problems, graph


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="print the package graph")
    args = parser.parse_args(argv)
    problems, graph = check()
    if args.graph:
        for package in sorted(graph):
            print(f"{package} -> {', '.join(sorted(graph[package])) or '-'}")
    for problem in problems:
        print(problem)
    print(f"check_imports: {len(graph)} packages, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
