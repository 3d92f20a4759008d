import ast
import inspect
import subprocess
import sys
from pathlib import Path

import mlflow_cv
from mlflow_cv import errors

PACKAGE = Path(mlflow_cv.__file__).parent


def test_all_is_exact_and_sorted():
    public = {
        name for name, value in vars(mlflow_cv).items() if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert set(mlflow_cv.__all__) == (public - set(mlflow_cv._LAZY)) | set(mlflow_cv._LAZY) | {"__version__"}
    assert list(mlflow_cv.__all__) == sorted(mlflow_cv.__all__)
    for name in mlflow_cv.__all__:
        assert getattr(mlflow_cv, name) is not None


def test_every_name_comes_from_the_module_the_table_names():
    for name, module in mlflow_cv._LAZY.items():
        assert getattr(mlflow_cv, name) is getattr(sys.modules[module], name), name
    assert set(errors.__all__) <= set(mlflow_cv.__all__), "every error is public"


def _type_checking_imports() -> dict[str, str]:
    """name → module, from the ``if TYPE_CHECKING:`` block of mlflow_cv/__init__.py (each ``X as X``)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    blocks = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and "TYPE_CHECKING" in node.test.id
    ]
    assert len(blocks) == 1, "one `if TYPE_CHECKING:` block of imports"
    found: dict[str, str] = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom) and node.module and not node.level, ast.unparse(node)
        for alias in node.names:
            assert alias.asname == alias.name, f"{ast.unparse(node)}: re-export as `{alias.name} as {alias.name}`"
            assert alias.name not in found, f"{alias.name} imported twice"
            found[alias.name] = node.module
    return found


def test_type_checkers_see_the_lazy_table():
    """The TYPE_CHECKING imports are the lazy table again, for mypy: same names, same modules."""
    seen = _type_checking_imports()
    lazy = mlflow_cv._LAZY
    assert sorted(seen.keys() - lazy.keys()) == [], "imported for type checkers, missing from _PUBLIC"
    assert sorted(lazy.keys() - seen.keys()) == [], "in _PUBLIC, not imported under TYPE_CHECKING"
    assert {n: (m, lazy[n]) for n, m in seen.items() if lazy[n] != m} == {}, "a name's module differs"


def _private_uses(source: str, module: str) -> list[str]:
    """What the code of ``module`` (its dotted name; a package's ends in ``.__init__``) uses of mlflow_cv
    beyond the public API and the CLI's own modules: imports (relative ones resolved, in functions and
    under TYPE_CHECKING too), ``from mlflow_cv import X`` for an X not in ``__all__``, ``cv.X`` for such
    an X, and strings naming a module (what ``importlib.import_module`` takes)."""
    package = module.rsplit(".", 1)[0]
    public = set(mlflow_cv.__all__)
    tree = ast.parse(source)
    aliases: set[str] = set()
    used: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                used.append((node.lineno, alias.name))
                if alias.name == "mlflow_cv":
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            origin = ".".join(p for p in (base, node.module or "") if p)
            for alias in node.names:
                if origin == "mlflow_cv":  # the package itself: a public name, or one of its modules
                    used.append((node.lineno, origin if alias.name in public else f"{origin}.{alias.name}"))
                else:  # ``from . import x``: x is a module
                    used.append((node.lineno, origin if node.module else f"{origin}.{alias.name}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("mlflow_cv."):
            used.append((node.lineno, node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.append((node.lineno, "mlflow_cv" if node.attr in public else f"mlflow_cv.{node.attr}"))
    return [
        f"{line}: {name}"
        for line, name in sorted(set(used))
        if name.startswith("mlflow_cv.") and name != "mlflow_cv.cli" and not name.startswith("mlflow_cv.cli.")
    ]


def test_the_cli_uses_only_the_public_api():
    """``mlflow_cv/cli/`` uses ``mlflow_cv`` (the public API, as ``cv.NAME``) and its own modules, nothing else
    of the package: what a command needs goes into ``mlflow_cv.__all__``."""
    paths = sorted((PACKAGE / "cli").rglob("*.py"))
    assert len(paths) > 2, "the CLI is a package of command groups"
    strays = [
        f"{path.relative_to(PACKAGE.parent)}:{use}"
        for path in paths
        for use in _private_uses(
            path.read_text(encoding="utf-8"), ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        )
    ]
    assert not strays, "the CLI uses only `import mlflow_cv as cv` (add a name to its __all__):\n" + "\n".join(strays)


def test_the_cli_check_catches_every_way_in():
    code = (
        "import mlflow_cv as cv\n"  # 1: fine
        "from mlflow_cv.cli.common import Group\n"  # 2: fine, the CLI's own
        "from . import common\n"  # 3: fine, the CLI's own
        "from mlflow_cv import Project, errors\n"  # 4: Project fine; errors is a module
        "from mlflow_cv.data.manifest import load_manifest\n"  # 5
        "import mlflow_cv.tags\n"  # 6
        "from .. import render\n"  # 7
        "from ..tracking import store\n"  # 8
        "def f():\n"
        "    from mlflow_cv.scaffold import init_project\n"  # 10: in a function
        "    importlib.import_module('mlflow_cv.data.remote')\n"  # 11: by name
        "    cv.show(cv.tags, cv.Project)\n"  # 12: cv.tags is not public
    )
    assert _private_uses(code, "mlflow_cv.cli.sample") == [
        "4: mlflow_cv.errors",
        "5: mlflow_cv.data.manifest",
        "6: mlflow_cv.tags",
        "7: mlflow_cv.render",
        "8: mlflow_cv.tracking",
        "10: mlflow_cv.scaffold",
        "11: mlflow_cv.data.remote",
        "12: mlflow_cv.tags",
    ]


def test_import_is_light():
    code = "import sys, mlflow_cv; print(sorted(m for m in ('mlflow', 'torch', 'ultralytics', 'hydra') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_error_derives_from_the_root_and_is_documented():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.MlflowCvError)
        assert cls.__doc__ and name in (errors.__doc__ or "")
