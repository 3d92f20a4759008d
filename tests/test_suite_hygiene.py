"""The test suite's own rules and helpers: slow work is marked slow, tests import helpers from tests/helpers
only, and the cached shapes stages behave as the generator."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO
from tests.helpers.data import ShapeStages, shapes

TESTS = REPO / "tests"
# Calls that train a model or start a server; a list holding "train.py" is a command that trains.
SLOW_CALLS = frozenset({"run_train", "train", "running"})


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_slow_mark(node: ast.expr) -> bool:
    return ast.unparse(node).replace(" ", "") in ("pytest.mark.slow", "[pytest.mark.slow]")


def _is_fixture(func: ast.FunctionDef) -> bool:
    return any(ast.unparse(d).startswith(("pytest.fixture", "fixture")) for d in func.decorator_list)


def _does_slow_work(func: ast.FunctionDef) -> bool:
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in SLOW_CALLS:
                return True
        if isinstance(node, ast.List) and any(isinstance(e, ast.Constant) and e.value == "train.py" for e in node.elts):
            return True
    return False


def _functions(tree: ast.Module) -> list[ast.FunctionDef]:
    return [n for n in tree.body if isinstance(n, ast.FunctionDef)]


def _params(func: ast.FunctionDef) -> list[str]:
    return [a.arg for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)]


def slow_work_in_tests() -> dict[str, str]:
    """``path::test`` → why, for every test that trains or serves, itself or through its fixtures."""
    tree = _parse(TESTS / "conftest.py")
    conftest = {f.name: f for f in _functions(tree) if _is_fixture(f)}
    (declared,) = [
        n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "SLOW_FIXTURES"
    ]
    slow_by_name = set(ast.literal_eval(ast.unparse(declared).removeprefix("frozenset(").removesuffix(")")))
    found: dict[str, str] = {}
    for path in sorted(TESTS.glob("test_*.py")):
        tree = _parse(path)
        local = {f.name: f for f in _functions(tree) if _is_fixture(f)}

        def slow_fixture(name: str, seen: frozenset[str], local: dict[str, ast.FunctionDef] = local) -> str | None:
            func = None if name in seen else local.get(name) or conftest.get(name)
            if func is None:
                return None
            if _does_slow_work(func) or name in slow_by_name:
                return f"fixture {name} trains or serves"
            for param in _params(func):
                if inner := slow_fixture(param, seen | {name}):
                    return f"fixture {name} needs {inner.removeprefix('fixture ')}"
            return None

        for func in _functions(tree):
            if not func.name.startswith("test_") or any(_is_slow_mark(d) for d in func.decorator_list):
                continue
            why = "it trains or serves" if _does_slow_work(func) else None
            for param in _params(func):
                why = why or slow_fixture(param, frozenset())
            if why:
                found[f"{path.relative_to(REPO).as_posix()}::{func.name}"] = why
    return found


def test_every_test_that_trains_or_serves_is_left_out_of_the_fast_run() -> None:
    must = slow_work_in_tests()
    assert "tests/test_training.py::test_ctrl_c_marks_the_run_killed" in must  # the analysis sees through
    assert "tests/test_registry.py::test_release_notes" in must  # client → mlflow_server → running
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow", "-p", "no:cacheprovider", "tests"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    fast = {re.sub(r"\[.*\]$", "", line) for line in out.stdout.splitlines() if "::" in line}
    assert fast, out.stdout[-3000:]
    unmarked = sorted(f"{test} ({must[test]})" for test in fast & must.keys())
    assert not unmarked, "mark these @pytest.mark.slow (or give conftest.SLOW_FIXTURES the fixture):\n" + "\n".join(
        unmarked
    )


def test_tests_import_helpers_not_conftest_or_other_test_modules() -> None:
    """Helpers live in tests/helpers; importing conftest or a test module runs its fixtures' module twice."""
    forbidden = re.compile(r"^tests\.(conftest|test_\w+)$")
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(_parse(path)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # code run in a subprocess
                names = re.findall(r"(?:from|import)\s+(tests\.[\w.]+)", node.value)
            found += [f"{path.relative_to(REPO)}:{node.lineno}: {n}" for n in names if forbidden.match(n)]
    assert not found, "import helpers from tests.helpers:\n" + "\n".join(found)


def test_shape_stages_do_what_the_generator_does(tmp_path: Path, shape_stages: ShapeStages) -> None:
    """Copying the cached stages must leave a folder as ``generate`` leaves it, stage after stage: same
    files and bytes, same count of files written or removed, unchanged files untouched."""
    generated, copied = tmp_path / "generated", tmp_path / "copied"
    for folder in (generated, copied):
        (folder / "images").mkdir(parents=True)
        (folder / "images" / "mine.jpg").write_bytes(b"not the generator's")
    for stage in ("1.0.0", "1.1.0", "1.1.1", "1.0.0"):
        before = {p: p.stat() for p in copied.rglob("*") if p.is_file()}
        old = {p: p.read_bytes() for p in before}
        assert shape_stages.bring(copied, stage) == shapes.generate(generated, stage=stage), stage
        files = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(copied) for p in copied.rglob("*") if p.is_file()), stage
        assert all((generated / rel).read_bytes() == (copied / rel).read_bytes() for rel in files), stage
        for path, st in before.items():
            if path.exists() and path.read_bytes() == old[path]:
                assert (path.stat().st_ino, path.stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns), path
