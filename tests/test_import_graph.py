"""The package import graph stays clean (issue #23): no cycle between the packages under
``cislens`` or between the modules of one package, and no private name imported across packages
(``tools/check_imports.py``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "check_imports.py"


def _tool():
    spec = importlib.util.spec_from_file_location("check_imports", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_imports", module)
    spec.loader.exec_module(module)
    return module


def test_no_cycle_and_no_private_import_across_packages():
    problems, graph = _tool().check()
    assert "cislens.models" in graph and "cislens.argminn" in graph
    assert problems == []


def test_the_check_sees_a_cycle_and_a_private_import(tmp_path):
    root = tmp_path / "cislens"
    for package, body in {
        "a": "from cislens.b import thing\n",
        "b": "from cislens.a._hidden import secret\nthing = 1\n",
    }.items():
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(body)
    (root / "a" / "_hidden.py").write_text("secret = 2\n")
    (root / "__init__.py").write_text("")
    problems, _ = _tool().check(root)
    assert any("cycle" in p and "cislens.a" in p and "cislens.b" in p for p in problems)
    assert any("private import across packages: cislens.a._hidden.secret" in p for p in problems)


def test_the_check_sees_a_circle_of_modules_inside_a_package(tmp_path):
    # the shape simulate/ had: config -> grammar at import time, grammar -> config lazily
    root = tmp_path / "cislens"
    (root / "s").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "s" / "__init__.py").write_text("from cislens.s.config import load\n")
    (root / "s" / "config.py").write_text("from cislens.s.grammar import rule\nload = 1\n")
    (root / "s" / "grammar.py").write_text(
        "def rule():\n    from cislens.s import config\n    return config.load\n"
    )
    (root / "s" / "other.py").write_text("from cislens.s import load\n")  # the __init__: fine
    problems, _ = _tool().check(root)
    assert problems == ["import cycle between modules: cislens.s.config <-> cislens.s.grammar"]
