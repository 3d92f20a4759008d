"""mlflow_cv.yolo is the one boundary to Ultralytics: nothing else imports it, and its modules import light."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import mlflow_cv

PACKAGE = Path(mlflow_cv.__file__).parent
YOLO_MODULES = ("export", "fit", "scoring", "settings", "weights")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` statement of ``path`` names, with its line (in functions too)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def test_only_the_yolo_package_imports_ultralytics() -> None:
    strays = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: import {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not path.is_relative_to(PACKAGE / "yolo")
        for line, name in _imported_modules(path)
        if name == "ultralytics" or name.startswith("ultralytics.")
    ]
    assert not strays, "reach Ultralytics through mlflow_cv.yolo.<module>:\n" + "\n".join(strays)


def test_the_yolo_package_re_exports_nothing() -> None:
    """``mlflow_cv/yolo/__init__.py`` holds its docstring and an empty ``__all__``: callers name the module."""
    import mlflow_cv.yolo

    init = Path(str(mlflow_cv.yolo.__file__))
    imports = [name for _, name in _imported_modules(init) if name != "__future__"]
    defined = [
        n for n in ast.parse(init.read_text(encoding="utf-8")).body if not isinstance(n, (ast.Expr, ast.ImportFrom))
    ]
    assert mlflow_cv.yolo.__all__ == [] and imports == [] and len(defined) == 1  # the __all__ line


def _top_level_names(tree: ast.Module) -> set[str]:
    names = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names - {"__all__"}


@pytest.mark.parametrize("name", YOLO_MODULES)
def test_each_yolo_module_lists_what_it_defines(name: str) -> None:
    module = importlib.import_module(f"mlflow_cv.yolo.{name}")
    defined = _top_level_names(ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8")))
    public = sorted(n for n in defined if not n.startswith("_"))
    assert sorted(module.__all__) == list(module.__all__) == public


def test_importing_the_yolo_modules_loads_neither_ultralytics_nor_torch() -> None:
    """Ultralytics (and torch under it) is imported inside functions, so the CLI starts fast."""
    modules = ", ".join(f"mlflow_cv.yolo.{name}" for name in YOLO_MODULES)
    code = f"import sys, {modules}; print(sorted(m for m in ('torch', 'ultralytics') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
