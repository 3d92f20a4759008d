"""``mlflow-cv diff A B``: was it code, data or config? One report, four sections and a verdict.

The guide's night-time regression triage: code (commits, the commits between them, files changed,
dirty flags, read with GitPython when the repository is at hand), data (the snapshot diff), config
(every parameter that differs) and metrics: both models on the same gate data, compared by the metrics
gate's own code (:mod:`mlflow_cv.registry.comparison`), never each on its own validation split. When B
holds an alias and fails that gate against A, it says how to roll back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mlflow_cv.data.diff import SnapshotDiff, diff_manifests
from mlflow_cv.errors import MlflowCvError
from mlflow_cv.registry.comparison import Comparison, compare, entity_of, gate_scores
from mlflow_cv.registry.policy import Policy
from mlflow_cv.tags import (
    DIRTY_TRUE,
    TAG_COMMIT,
    TAG_CONFIG_ID,
    TAG_DIRTY,
    TAG_MANIFEST_SHA256,
    TAG_SNAPSHOT,
    TAG_WEIGHTS_DIGEST,
    VAL_HEAD,
)
from mlflow_cv.tracking.refs import RunRef, manifest_of, resolve

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from rich.console import RenderableType

    from mlflow_cv.project import Project

__all__ = ["RunDiff", "comparable", "compared", "diff_runs"]

MAX_COMMITS = 20


@dataclass(frozen=True)
class CodeDiff:
    old: str
    new: str
    dirty: tuple[bool, bool]
    commits: tuple[str, ...] = ()  # "sha subject", old..new, newest first
    files: tuple[str, ...] = ()
    note: str = ""  # why commits/files are missing, if they are

    @property
    def changed(self) -> bool:
        return self.old != self.new or any(self.dirty)


@dataclass(frozen=True)
class RunDiff:
    a: RunRef
    b: RunRef
    code: CodeDiff
    data: tuple[str, str]  # snapshot ids
    data_diff: SnapshotDiff | None  # None when the manifests are equal
    data_note: str
    config: tuple[str, str]  # config ids
    params: tuple[tuple[str, str, str], ...]  # (key, A, B) for every parameter that differs
    comparison: Comparison | None  # B against A on the gate data; None: see metrics_note
    metrics_note: str
    weights_equal: bool
    advice: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> tuple[str, ...]:
        parts = []
        if self.code.changed:
            parts.append("code")
        if self.data_diff is not None or self.data[0] != self.data[1]:
            parts.append("data")
        if any(not k.startswith("data.") for k, _, _ in self.params):  # the config id also covers the data
            parts.append("config")
        return tuple(parts)

    @property
    def verdict(self) -> str:
        if not self.changed:
            same = "identical weights" if self.weights_equal else "different weights (non-deterministic training?)"
            return f"verdict: nothing changed in code, data or config ({same})"
        return f"verdict: {', '.join(self.changed)} changed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.__dict__,
            "b": self.b.__dict__,
            "changed": list(self.changed),
            "verdict": self.verdict,
            "code": {**self.code.__dict__, "changed": self.code.changed},
            "data": {
                "snapshots": list(self.data),
                "diff": self.data_diff.to_dict() if self.data_diff else None,
                "note": self.data_note,
            },
            "config": {"ids": list(self.config), "params": [list(p) for p in self.params]},
            "metrics": self.comparison.to_dict() if self.comparison else None,
            "metrics_note": self.metrics_note,
            "weights_equal": self.weights_equal,
            "advice": list(self.advice),
        }

    def report(self, *, limit: int = 10) -> str:
        """The report as plain text (what :meth:`render` shows)."""
        from mlflow_cv.render import to_text

        return to_text(self.render(limit=limit))

    def __rich__(self) -> RenderableType:
        return self.render()

    def render(self, *, limit: int = 10) -> RenderableType:
        """Code, data, config and metrics sections, then the verdict and any advice."""
        from rich.console import Group

        from mlflow_cv.render import lines

        a, b = self.a.label, self.b.label
        out = [f"A = {a}  (run {self.a.run_id})", f"B = {b}  (run {self.b.run_id})", "", *self.change_lines(limit)]
        cmp = self.comparison
        if cmp is None:
            out.append(f"metrics  not compared: {self.metrics_note}")
            return Group(lines(out, "", self.verdict, self.advice))
        runs = f"evaluation runs {cmp.evaluations[0][:8]} (A), {cmp.evaluations[1][:8]} (B)"
        out.append(f"metrics  both on {cmp.data} ({runs}); B - A, regressions first")
        return Group(lines(out), cmp.render(limit=max(limit, 12)), lines("", self.verdict, self.advice))

    def change_lines(self, limit: int = 10) -> list[str]:
        """The code, data and config sections, line by line."""
        out = []
        c = self.code
        dirty = "" if not any(c.dirty) else f"  dirty: A {c.dirty[0]}, B {c.dirty[1]}"
        out.append(f"code     {'CHANGED' if c.changed else 'same'}: {c.old[:12]} → {c.new[:12]}{dirty}")
        if c.commits:
            out += [f"  {len(c.commits)} commit(s) between them:", *(f"    {line}" for line in c.commits[:limit])]
        if c.files:
            out.append(f"  files changed ({len(c.files)}): " + ", ".join(c.files[:limit]))
        if c.note:
            out.append(f"  ({c.note})")
        d = self.data_diff
        out.append(
            f"data     {'CHANGED' if d or self.data[0] != self.data[1] else 'same'}: {self.data[0]} → {self.data[1]}"
        )
        if d is not None:
            out += [f"  requires a {d.required.name} bump", *(f"  {line}" for line in d.summary_lines(limit=3))]
        if self.data_note:
            out.append(f"  ({self.data_note})")
        changed_config = "config" in self.changed
        ids = f"{self.config[0]} → {self.config[1]}"
        if not changed_config and self.config[0] != self.config[1]:
            ids += " (the ids differ by the data section only)"
        out.append(f"config   {'CHANGED' if changed_config else 'same'}: {ids}")
        out += [f"  {key}: {old} → {new}" for key, old, new in self.params if not key.startswith("data.")]
        return out


def comparable(metric: str) -> bool:
    """The final metrics two runs are compared on: validation results, not losses."""
    return metric.startswith(VAL_HEAD) and not metric.endswith("_loss")


def diff_runs(
    client: MlflowClient,
    ref_a: str,
    ref_b: str,
    *,
    project: Project,
    model: str | None = None,
    tolerance: float | None = None,
    evaluate: bool = True,
) -> RunDiff:
    """Compare two runs (or model versions) from their lineage; see the module doc. The metrics follow
    B's model policy (the defaults for plain runs; ``tolerance`` overrides its tolerance); a model
    without an evaluation on the gate data is evaluated there unless ``evaluate`` is False."""
    a, b = resolve(client, ref_a, model=model), resolve(client, ref_b, model=model)
    run_a, run_b = client.get_run(a.run_id), client.get_run(b.run_id)
    ta, tb = dict(run_a.data.tags), dict(run_b.data.tags)
    code = _code(project, ta, tb)
    data_diff, note = None, ""
    if ta.get(TAG_MANIFEST_SHA256) != tb.get(TAG_MANIFEST_SHA256):
        try:
            old = manifest_of(client, a.run_id, ta, project=project)
            new = manifest_of(client, b.run_id, tb, project=project)
            data_diff = diff_manifests(old, new)
        except MlflowCvError as exc:
            note = f"cannot diff the snapshots: {exc}"
    pa, pb = dict(run_a.data.params), dict(run_b.data.params)
    params = tuple((k, pa.get(k, "-"), pb.get(k, "-")) for k in sorted(pa.keys() | pb.keys()) if pa.get(k) != pb.get(k))
    comparison, metrics_note = compared(client, a, b, project=project, tolerance=tolerance, evaluate=evaluate)
    advice = []
    if comparison is not None and not comparison.verdict.passed and b.model:
        worst = comparison.regressions[0] if comparison.regressions else None
        what = f" (worst: {worst.key} {worst.delta:+.4f})" if worst and worst.delta is not None else ""
        for alias in b.aliases:
            advice.append(
                f"B holds {alias!r} and fails the metrics gate against A on {comparison.data}{what}; "
                f"roll back with: mlflow-cv model rollback {b.model} --alias {alias}"
            )
    return RunDiff(
        a=a,
        b=b,
        code=code,
        data=(ta.get(TAG_SNAPSHOT, "-"), tb.get(TAG_SNAPSHOT, "-")),
        data_diff=data_diff,
        data_note=note,
        config=(ta.get(TAG_CONFIG_ID, "-"), tb.get(TAG_CONFIG_ID, "-")),
        params=params,
        comparison=comparison,
        metrics_note=metrics_note,
        weights_equal=ta.get(TAG_WEIGHTS_DIGEST) == tb.get(TAG_WEIGHTS_DIGEST),
        advice=tuple(advice),
    )


def compared(
    client: Any, a: RunRef, b: RunRef, *, project: Any, tolerance: float | None = None, evaluate: bool = True
) -> tuple[Comparison | None, str]:
    """B against A on their gate data, with B's model policy; or None and why not."""
    from mlflow_cv.registry.client import policy

    rules = policy(client, b.model) if b.model else Policy()
    rules = rules if tolerance is None else replace(rules, tolerance=tolerance)
    old, new = entity_of(client, a), entity_of(client, b)
    try:
        scores = gate_scores(client, rules, new, old, project=project, evaluate_missing=evaluate)
    except MlflowCvError as exc:
        return None, f"cannot evaluate both on the gate data: {exc}"
    if scores is None or scores.holder is None:
        return None, "no evaluations of both on the same gate data (run mlflow-cv evaluate, or drop --no-evaluate)"
    return compare(scores, new, old, policy=rules), ""


def _code(project: Any, ta: dict[str, str], tb: dict[str, str]) -> CodeDiff:
    old, new = ta.get(TAG_COMMIT, "-"), tb.get(TAG_COMMIT, "-")
    dirty = (ta.get(TAG_DIRTY) == DIRTY_TRUE, tb.get(TAG_DIRTY) == DIRTY_TRUE)
    if old == new:
        return CodeDiff(old, new, dirty)
    import git

    try:
        repo = git.Repo(project.root, search_parent_directories=True)
        for sha in (old, new):
            repo.git.cat_file("-e", f"{sha}^{{commit}}")
        base, head = repo.commit(old), repo.commit(new)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return CodeDiff(old, new, dirty, note=f"{project.root} is not a git repository: no commit details")
    except (git.GitCommandError, git.BadName, ValueError):
        return CodeDiff(old, new, dirty, note="a commit is not in this repository: fetch it for details")
    commits = [f"{c.hexsha[:12]} {c.summary!s}" for c in repo.iter_commits(f"{old}..{new}", max_count=MAX_COMMITS)]
    if not commits:  # B is older than A: what going back undoes
        back = repo.iter_commits(f"{new}..{old}", max_count=MAX_COMMITS)
        commits = [f"{c.hexsha[:12]} {c.summary!s} (not in B)" for c in back]
    files = sorted({str(d.a_path or d.b_path) for d in base.diff(head)})
    return CodeDiff(old, new, dirty, commits=tuple(commits), files=tuple(files))
