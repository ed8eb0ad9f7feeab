"""tools/check_types.py finds the public modules that mypy checks in `make lint` (#23): the
packages' __init__ files, the modules they import from, and the modules those re-export from."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "check_types.py"


def _tool():
    spec = importlib.util.spec_from_file_location("check_types", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_types", module)
    spec.loader.exec_module(module)
    return module


def test_public_modules_of_the_source():
    modules = _tool().public_modules()
    for name in ("errors.py", "io/__init__.py", "io/dataset.py", "cli/__init__.py"):
        assert name in modules
    assert "io/dataset_schema.py" in modules  # re-exported by io/dataset.py
    assert "pipeline/config_data.py" in modules  # DataConfig, re-exported by pipeline/config.py
    assert "cli/train.py" not in modules  # a command, not an exported name


def test_public_modules_follow_reexports_only(tmp_path):
    root = tmp_path / "cislens"
    (root / "a").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a" / "__init__.py").write_text("from cislens.a.api import f\n")
    (root / "a" / "api.py").write_text(
        "from cislens.a.core import g\nfrom cislens.a.helpers import h\n__all__ = ['f', 'g']\n"
    )
    for name in ("core", "helpers"):
        (root / "a" / f"{name}.py").write_text("")
    found = _tool().public_modules(root)
    assert found == ["__init__.py", "a/__init__.py", "a/api.py", "a/core.py"]
