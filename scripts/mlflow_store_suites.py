"""Run MLflow's own SQLAlchemy store test suites against mlflow-cv's guarded stores.

    .venv/bin/python scripts/mlflow_store_suites.py [FOLDER]

FOLDER (default: tests/mlflow_suites/upstream, the copy this repository carries) holds MLflow's
``tests/`` tree (at least the files below, plus the helpers they import; see
tests/mlflow_suites/README.md for which files and from which MLflow commit). Each suite runs twice with
pytest, once on MLflow's own stores and once with the guarded subclasses swapped in
(``--cv-guard`` of the plugin tests/mlflow_suites/cv_guard_swap.py), and the runner prints the counts of
both runs and every test that fails only with the guard, with the guard's refusal or the traceback
lines in mlflow_cv that explain it.

Suites:
  registry  tests/store/model_registry/test_sqlalchemy_store.py
  tracking  tests/store/tracking/sqlalchemy_store/test_sqlalchemy_store*.py (MLflow >= the split),
            else tests/store/tracking/test_sqlalchemy_store.py

Only the ``workspace-disabled`` parametrization runs unless ``--workspaces`` is given: the guard
subclasses the plain SqlAlchemy stores, so the ``workspace-enabled`` half (MLflow's
WorkspaceAwareSqlAlchemyStore) would run MLflow's own store in both modes.

Exit status: 0, or 1 when a test fails only with the guard and is not listed in ``--expected``
(default tests/mlflow_suites/expected_guard_failures.txt), or 2 when pytest could not run a suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUGIN_DIR = REPO / "tests" / "mlflow_suites"
DEFAULT_EXPECTED = PLUGIN_DIR / "expected_guard_failures.txt"
REFUSAL = "mlflow-cv guard:"
MODES = ("mlflow", "guarded")


@dataclass
class Outcome:
    test: str
    status: str  # passed, failed, error, skipped
    message: str = ""
    text: str = ""


@dataclass
class Run:
    suite: str
    mode: str
    returncode: int
    seconds: float
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes.values())


def suite_files(folder: Path, suite: str) -> list[Path]:
    if suite == "registry":
        candidates = [folder / "tests/store/model_registry/test_sqlalchemy_store.py"]
    else:
        split = sorted((folder / "tests/store/tracking/sqlalchemy_store").glob("test_sqlalchemy_store*.py"))
        candidates = split or [folder / "tests/store/tracking/test_sqlalchemy_store.py"]
    return [p for p in candidates if p.is_file()]


def parse_junit(path: Path) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        status, message, text = "passed", "", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed"}.get(child.tag, child.tag)
                message, text = child.get("message", ""), child.text or ""
                break
        if status == "error" and test in outcomes:  # a teardown error after the call's own outcome
            test += "[teardown]"
        outcomes[test] = Outcome(test, status, message, text)
    return outcomes


def run_suite(folder: Path, suite: str, files: list[Path], mode: str, args: argparse.Namespace, work: Path) -> Run:
    junit = work / f"{suite}-{mode}.xml"
    ini = work / "pytest.ini"  # keeps any pytest config above FOLDER (e.g. this repo's) out of the run
    ini.write_text("[pytest]\n", encoding="utf-8")
    cmd = [args.python, "-m", "pytest", "-p", "cv_guard_swap", "-p", "no:cacheprovider", "-q", "-rN"]
    cmd += [
        "-c",
        str(ini),
        "--rootdir",
        str(folder),
        "--confcutdir",
        str(folder),
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
    ]  # no conftest above FOLDER (this repository's own) is loaded
    if mode == "guarded":
        cmd.append("--cv-guard")
    selection = [f"({args.k})"] if args.k else []
    if not args.workspaces:
        selection.append("not workspace-enabled")
    if selection:
        cmd += ["-k", " and ".join(selection)]
    cmd += [*args.pytest_arg, *(str(f.relative_to(folder)) for f in files)]
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGIN_DIR), env.get("PYTHONPATH", "")) if p)
    start = time.monotonic()
    log = work / f"{suite}-{mode}.log"
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    run = Run(suite, mode, proc.returncode, time.monotonic() - start)
    if junit.is_file():
        run.outcomes = parse_junit(junit)
    if proc.returncode not in (0, 1) or not run.outcomes:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        print(f"!! pytest exited {proc.returncode} for {suite}/{mode}; last lines of {log}:", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
    return run


def explain(outcome: Outcome) -> tuple[str, list[str]]:
    """(kind, lines): a refusal of the guard, or an error raised in mlflow_cv, or something else."""
    text = outcome.text or outcome.message
    if REFUSAL in text:
        found = re.search(re.escape(REFUSAL) + r"[^\n]*", text)
        return "guard refusal", [found.group(0) if found else outcome.message]
    lines = text.splitlines()
    where = [line.strip() for line in lines if "mlflow_cv/" in line and re.search(r":\d+", line)]
    errors = [line.strip() for line in lines if line.startswith("E ")][-3:]
    if where:
        return "error raised in mlflow_cv", where[-3:] + errors
    return "other failure", errors or [outcome.message[:300]]


def short(test: str) -> str:
    """``tests.store.x.test_mod::test_name[param]`` → ``test_mod::test_name[param]``."""
    module, _, name = test.partition("::")
    return f"{module.rsplit('.', 1)[-1]}::{name}"


def read_expected(path: Path | None) -> set[str]:
    if path is None or not path.is_file():
        return set()
    return {
        line.split("#", 1)[0].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.split("#", 1)[0].strip()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "folder",
        type=Path,
        nargs="?",
        default=PLUGIN_DIR / "upstream",
        help="folder holding MLflow's tests/ tree (default: tests/mlflow_suites/upstream)",
    )
    parser.add_argument("--suite", action="append", choices=("registry", "tracking"), help="default: both")
    parser.add_argument("-k", help="extra pytest -k expression (e.g. a representative subset)")
    parser.add_argument("--workspaces", action="store_true", help="also run the workspace-enabled half")
    parser.add_argument("--pytest-arg", action="append", default=[], help="passed to pytest as is")
    parser.add_argument("--python", default=sys.executable, help="interpreter with mlflow and mlflow-cv")
    parser.add_argument("--json", type=Path, help="write every outcome of every run here")
    parser.add_argument("--keep", type=Path, help="keep the junit XML and pytest logs in this folder")
    parser.add_argument("--expected", type=Path, default=DEFAULT_EXPECTED, help="accepted guard-only failures")
    args = parser.parse_args(argv)

    folder = args.folder.resolve()
    suites = args.suite or ["registry", "tracking"]
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="mlflow-suites-"))
    work.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(
        [args.python, "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"MLflow {version or '?'}; suites from {folder}; logs in {work}")

    runs: list[Run] = []
    broken = False
    for suite in suites:
        files = suite_files(folder, suite)
        if not files:
            print(f"!! no test files for suite {suite} under {folder}", file=sys.stderr)
            broken = True
            continue
        for f in files:
            digest = hashlib.sha256(f.read_bytes()).hexdigest()[:16]
            print(f"  {suite}: {f.relative_to(folder)} (sha256 {digest}…)")
        for mode in MODES:
            run = run_suite(folder, suite, files, mode, args, work)
            broken |= run.returncode not in (0, 1) or not run.outcomes
            runs.append(run)

    print(f"\n{'suite':<10}{'stores':<9}{'passed':>8}{'failed':>8}{'errors':>8}{'skipped':>9}{'seconds':>9}")
    for run in runs:
        counts = "".join(f"{run.count(s):>8}" for s in ("passed", "failed", "error"))
        print(f"{run.suite:<10}{run.mode:<9}{counts}{run.count('skipped'):>9}{run.seconds:>9.1f}")

    expected = read_expected(args.expected)
    unexpected = []
    guard_only_records: list[dict[str, object]] = []
    for suite in suites:
        by_mode = {r.mode: r for r in runs if r.suite == suite}
        if set(by_mode) != set(MODES):
            continue
        base, guarded = by_mode["mlflow"], by_mode["guarded"]
        bad = ("failed", "error")
        guard_only = sorted(
            t for t, o in guarded.outcomes.items() if o.status in bad and base.outcomes.get(t, o).status == "passed"
        )
        baseline_bad = sorted(t for t, o in base.outcomes.items() if o.status in bad)
        print(f"\n[{suite}] failing on MLflow's own stores too (version skew, not the guard): {len(baseline_bad)}")
        for t in baseline_bad:
            print(f"  {short(t)}: {base.outcomes[t].message.splitlines()[0][:160] if base.outcomes[t].message else ''}")
        print(f"[{suite}] failing only with the guard: {len(guard_only)}")
        for t in guard_only:
            kind, lines = explain(guarded.outcomes[t])
            flag = "" if short(t) in expected or t in expected else "  (not in --expected)"
            if flag:
                unexpected.append(t)
            print(f"  {short(t)} — {kind}{flag}")
            for line in lines:
                print(f"      {line}")
            guard_only_records.append({"suite": suite, "test": t, "kind": kind, "lines": lines})
    if args.json:
        run_records = [
            {
                "suite": run.suite,
                "mode": run.mode,
                "returncode": run.returncode,
                "seconds": round(run.seconds, 1),
                "outcomes": [asdict(o) | {"text": o.text[-4000:]} for o in run.outcomes.values()],
            }
            for run in runs
        ]
        report = {"mlflow": version, "folder": str(folder), "runs": run_records, "guard_only": guard_only_records}
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
        print(f"\nwrote {args.json}")
    if broken:
        return 2
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
