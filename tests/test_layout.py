"""The house rules the code relies on: one home for each fact, and clients that never load the server."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import mlflow_cv.tags as tags
from mlflow_cv.tracking.lineage import Lineage

PACKAGE = Path(tags.__file__).parent


def _string_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def _strays(found: Callable[[str], bool]) -> list[str]:
    """Every string literal (docstrings aside) outside mlflow_cv/tags.py for which ``found`` is true."""
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {value!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "tags.py"
        for line, value in _string_literals(path)
        if found(value)
    ]


@pytest.mark.parametrize(
    ("vocabulary", "found"),
    [
        ("a cv.* tag name", lambda value: value.startswith(tags.CV_PREFIX)),
        ("the guard scheme (tags.GUARD_SCHEME, tags.guarded_uri)", lambda value: tags.GUARD_SCHEME in value),
        (
            "a metric-name head (tags.VAL_HEAD, EVAL_HEAD, *_SLICE_HEAD, val_metric, eval_metric, sliced_metric)",
            lambda value: value.startswith((tags.VAL_HEAD, tags.EVAL_HEAD)),
        ),
    ],
)
def test_each_vocabulary_lives_in_tags_py(vocabulary: str, found: Callable[[str], bool]) -> None:
    """A tag name, the guard scheme or a metric head spelled anywhere but mlflow_cv/tags.py is a second home."""
    strays = _strays(found)
    assert not strays, f"{vocabulary} is spelled outside mlflow_cv/tags.py; use its name there:\n" + "\n".join(strays)


def test_split_names_live_in_tags_py() -> None:
    """A tuple or list of split names (``("val", "test", "all")``) outside tags.py is a second list of splits."""
    names = {*tags.SPLIT_NAMES, *tags.EVAL_SPLITS}
    strays = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "tags.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) >= 2:
                values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if len(values) == len(node.elts) and set(values) <= names:
                    strays.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {values}")
    assert not strays, "use tags.SPLIT_NAMES or tags.EVAL_SPLITS:\n" + "\n".join(strays)


def test_the_vocabulary_helpers() -> None:
    assert tags.guarded_uri("sqlite:///x.db") == "cv-guard-sqlite:///x.db"
    assert tags.eval_metric("val/AP50/car") == "eval/AP50/car" and tags.eval_metric("eval/mAP50") == "eval/mAP50"
    assert tags.sliced_metric("eval/slice/time_of_day:night/AP50/car") == ("time_of_day:night", "eval/AP50/car")
    assert tags.sliced_metric("val/slice/camera:b/mAP50") == ("camera:b", "val/mAP50")
    assert tags.sliced_metric("eval/mAP50") == (None, "eval/mAP50")


def test_tag_names_are_unique_and_namespaced() -> None:
    names = {n: getattr(tags, n) for n in tags.__all__ if n.startswith("TAG_")}
    assert all(v.startswith(tags.CV_PREFIX) for v in names.values())
    assert len(set(names.values())) == len(names), "two constants name the same tag"


def test_required_tags_are_what_a_lineage_and_the_end_of_training_set() -> None:
    lineage = Lineage(
        snapshot_id="DS-1.0.0",
        manifest_sha256="a" * 64,
        split_seed=42,
        commit="c" * 40,
        dirty=False,
        config_sha256="f" * 64,
        train_seed=0,
        preflight=tags.PREFLIGHT_PASSED,
        source_name="train.py",
    )
    set_at_the_end = {
        tags.TAG_WEIGHTS_SHA256,
        tags.TAG_WEIGHTS_DIGEST,
        tags.TAG_ARCH_SHA256,
        tags.TAG_LABELMAP_SHA256,
        tags.TAG_TASK,
        tags.TAG_ARTIFACTS_SHA256,
    }
    assert set(tags.REQUIRED_TAGS) == (set(lineage.tags()) & set(tags.REQUIRED_TAGS)) | set_at_the_end


def test_client_paths_never_import_the_server_plugin() -> None:
    """Importing every client module of the package and running ``mlflow-cv model …`` against a server
    loads nothing of :mod:`mlflow_cv.server` (the guard stores, SQLAlchemy's registry and all) but the
    light door that MLflow's entry points open themselves (:mod:`mlflow_cv.server.stores`)."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import mlflow_cv\n"
        "for info in pkgutil.walk_packages(mlflow_cv.__path__, 'mlflow_cv.'):\n"
        "    if not info.name.startswith(('mlflow_cv.server', 'mlflow_cv.template')):\n"
        "        importlib.import_module(info.name)\n"
        "from mlflow_cv.cli import cli\n"
        "try:\n"
        "    cli(['model', 'history', 'm', '--tracking-uri', 'http://127.0.0.1:9'], standalone_mode=False)\n"
        "except BaseException:\n"
        "    pass\n"
        "light = {'mlflow_cv.server', 'mlflow_cv.server.stores'}\n"
        "print(sorted(m for m in sys.modules if m.startswith('mlflow_cv.server') and m not in light))\n"
    )
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_private_mlflow_names_live_in_mlflow_py() -> None:
    """Only ``mlflow_cv/_mlflow.py`` imports a private MLflow name (``from mlflow.x import _y``, a module path
    with a ``_`` segment) or reaches one as ``mlflow.x._y``: a new one goes there, with its checked version."""

    def private(dotted: str) -> bool:
        return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))

    def is_mlflow(module: str) -> bool:
        return module == "mlflow" or module.startswith("mlflow.")

    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "_mlflow.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and is_mlflow(node.module or ""):
                names = [a.name for a in node.names if private(a.name)]
                if private(node.module or "") or names:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: from {node.module} import {names}")
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if is_mlflow(a.name) and private(a.name)]
                found += [f"{path.relative_to(PACKAGE)}:{node.lineno}: import {name}" for name in names]
            elif isinstance(node, ast.Attribute) and private(node.attr):
                chain, inner = [node.attr], node.value
                while isinstance(inner, ast.Attribute):
                    chain.append(inner.attr)
                    inner = inner.value
                if isinstance(inner, ast.Name) and inner.id == "mlflow":
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: mlflow.{'.'.join(reversed(chain))}")
    assert not found, "private MLflow names outside mlflow_cv/_mlflow.py (move them there):\n" + "\n".join(found)
