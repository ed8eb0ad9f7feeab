"""Check the house limits on size: no function over 80 lines of code, no module over 500 lines.

Usage::

    python tools/check_sizes.py          # exit 1 and one line per problem if any
    python tools/check_sizes.py --top 10 # also list the ten longest functions

*Lines of code* of a function are the lines from its ``def`` to its last statement that hold
something other than blank space or a comment, with the docstring left out (a nested function
counts towards its parent as well as itself). A module's size is its number of lines.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "cislens"
MAX_FUNCTION = 80
MAX_MODULE = 500


def code_lines(node: ast.AST, lines: list[str]) -> int:
    """Non-blank, non-comment lines of a function, docstring excluded."""
    skip: set[int] = set()
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            skip.update(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for number in range(node.lineno, node.end_lineno + 1):
        text = lines[number - 1].strip()
        if number not in skip and text and not text.startswith("#"):
            count += 1
    return count


def functions(path: Path) -> list[tuple[str, int, int]]:
    """``(qualified name, line, lines of code)`` for every function in a file."""
    text = path.read_text()
    lines = text.splitlines()
    found = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append((name, child.lineno, code_lines(child, lines)))
                walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")

    walk(ast.parse(text, filename=str(path)), "")
    return found


def check(root: Path = ROOT) -> tuple[list[str], list[tuple[int, str]]]:
    problems: list[str] = []
    sizes: list[tuple[int, str]] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parents[1])
        n_lines = len(path.read_text().splitlines())
        if n_lines > MAX_MODULE:
            problems.append(f"{rel}: module of {n_lines} lines (limit {MAX_MODULE})")
        for name, line, size in functions(path):
            sizes.append((size, f"{rel}:{line}: {name}"))
            if size > MAX_FUNCTION:
                problems.append(f"{rel}:{line}: {name} has {size} lines of code ({MAX_FUNCTION})")
    return problems, sorted(sizes, reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=0, help="list the N longest functions")
    args = parser.parse_args(argv)
    problems, sizes = check()
    for size, where in sizes[: args.top]:
        print(f"{size:5d}  {where}")
    for problem in problems:
        print(problem)
    print(f"check_sizes: {len(sizes)} functions, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
