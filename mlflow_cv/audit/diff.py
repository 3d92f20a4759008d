"""``mlflow-cv diff A B``: was it code, data or config? One report, four sections and a verdict.

The guide's night-time regression triage: code (commits, the commits between them, files changed,
dirty flags, read with GitPython when the repository is at hand), data (the snapshot diff), config
(every parameter that differs) and metrics (overall and per class, worst regressions first). When B
holds an alias and regressed against A, it says how to roll back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_cv.audit.refs import RunRef, manifest_of, resolve
from mlflow_cv.data.diff import SnapshotDiff, diff_manifests
from mlflow_cv.errors import MlflowCvError
from mlflow_cv.registry.policy import beyond_tolerance
from mlflow_cv.tags import (
    DIRTY_TRUE,
    TAG_COMMIT,
    TAG_CONFIG_ID,
    TAG_DIRTY,
    TAG_MANIFEST_SHA256,
    TAG_SNAPSHOT,
    TAG_WEIGHTS_DIGEST,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["RunDiff", "comparable", "diff_runs"]

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
class MetricDelta:
    key: str
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old


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
    metrics: tuple[MetricDelta, ...]  # worst regression first
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
            "metrics": [{"key": m.key, "a": m.old, "b": m.new, "delta": m.delta} for m in self.metrics],
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

        from mlflow_cv.render import add_row, lines, table

        a, b = self.a.label, self.b.label
        out = [f"A = {a}  (run {self.a.run_id})", f"B = {b}  (run {self.b.run_id})", ""]
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
        out.append("metrics  (B - A, worst first)")
        metrics = table("metric", "A", "", "B", "B - A", right=("A", "B", "B - A"), header=False)
        for m in self.metrics[: max(limit, 10)]:
            add_row(metrics, f"  {m.key}", _f(m.old), "→", _f(m.new), "" if m.delta is None else f"{m.delta:+.4f}")
        return Group(lines(out), metrics, lines("", self.verdict, self.advice))


def comparable(metric: str) -> bool:
    """The final metrics two runs are compared on: validation results, not losses."""
    return metric.startswith("val/") and not metric.endswith("_loss")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def diff_runs(client: Any, ref_a: str, ref_b: str, *, project: Any, model: str | None = None,
              tolerance: float = 0.01) -> RunDiff:  # fmt: skip
    """Compare two runs (or model versions) from their lineage; see the module doc."""
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
    ma, mb = run_a.data.metrics, run_b.data.metrics
    keys = sorted(k for k in ma.keys() | mb.keys() if comparable(k))
    metrics = sorted((MetricDelta(k, ma.get(k), mb.get(k)) for k in keys),
                     key=lambda m: (m.delta is None, m.delta if m.delta is not None else 0.0, m.key))  # fmt: skip
    advice = []
    regressed = [
        m for m in metrics if m.old is not None and m.new is not None and beyond_tolerance(m.old, m.new, tolerance)
    ]
    if regressed and b.model and b.aliases:
        for alias in b.aliases:
            advice.append(
                f"B holds {alias!r} and regressed on {len(regressed)} metric(s) (worst: {regressed[0].key} "
                f"{regressed[0].delta:+.4f}); roll back with: mlflow-cv model rollback {b.model} --alias {alias}"
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
        metrics=tuple(metrics),
        weights_equal=ta.get(TAG_WEIGHTS_DIGEST) == tb.get(TAG_WEIGHTS_DIGEST),
        advice=tuple(advice),
    )


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
