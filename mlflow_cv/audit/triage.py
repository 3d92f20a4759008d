"""``mlflow-cv triage NAME [--alias production]``: the guide's regression triage in five steps.

The holder of the alias against the previous holder (from the history) or ``--against VERSION``:

1. what changed: code (commits, files), data (the snapshot diff, attributes included), config
   (parameters) and the packaged pre/post-processing settings;
2. both evaluated on the same pinned data (the gate data, DESIGN §4a);
3. the deltas overall, per class and per slice, regressions first, the regressed slice named;
4. whether the change is a legal PATCH (the PATCH rule, compared on the gate data);
5. the exact rollback command; ``--rollback`` rolls back, through the gates, recorded in the history.

Every verdict comes from the code the registry decides with (:mod:`mlflow_cv.registry.comparison`,
:func:`~mlflow_cv.registry.gates.required_bump`), so triage cannot disagree with ``promote``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_cv.audit.diff import RunDiff, diff_runs
from mlflow_cv.errors import BumpError, MlflowCvError, RegistryError
from mlflow_cv.registry.client import holder_of, policy
from mlflow_cv.registry.comparison import gate_scores
from mlflow_cv.registry.facts import VersionFacts
from mlflow_cv.registry.gates import required_bump
from mlflow_cv.registry.history import previous_holder
from mlflow_cv.semver import Bump, Version
from mlflow_cv.tags import TAG_SEMVER
from mlflow_cv.tracking.refs import find_version

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from rich.console import RenderableType

    from mlflow_cv.project import Project
    from mlflow_cv.registry.aliases import Promotion

__all__ = ["Triage", "triage"]


@dataclass(frozen=True)
class Triage:
    name: str
    alias: str
    holder: str  # semver of the alias's holder (B)
    against: str  # semver it is compared with (A)
    against_is_previous: bool  # A is the recorded previous holder (a rollback goes there)
    diff: RunDiff  # steps 1-3
    processing: tuple[tuple[str, str, str], ...]  # packaged settings that differ: (key, A, B)
    processing_note: str  # why they could not be read, if so
    declared: str  # the bump the semvers show (A → B)
    required: str  # the bump the lineage requires
    reasons: tuple[str, ...]
    legal_patch: bool | None  # None: B is not a PATCH of A
    rollback_command: str
    rolled_back: Promotion | None = None

    @property
    def regressed_slice(self) -> str | None:
        cmp = self.diff.comparison
        return cmp.regressed_slices[0] if cmp and cmp.regressed_slices else None

    def to_dict(self) -> dict[str, Any]:
        cmp = self.diff.comparison
        return {
            "model": self.name,
            "alias": self.alias,
            "holder": self.holder,
            "against": self.against,
            "against_is_previous_holder": self.against_is_previous,
            "changed": {
                **self.diff.to_dict(),
                "processing": [list(p) for p in self.processing],
                "processing_note": self.processing_note,
            },
            "same_data": cmp.to_dict()["data"] if cmp else None,
            "regressed_slice": self.regressed_slice,
            "bump": {
                "declared": self.declared,
                "required": self.required,
                "reasons": list(self.reasons),
                "legal_patch": self.legal_patch,
            },
            "rollback": {
                "command": self.rollback_command,
                "done": self.rolled_back is not None and self.rolled_back.moved,
            },
        }

    def __rich__(self) -> RenderableType:
        from rich.console import Group

        from mlflow_cv.render import lines

        d, cmp = self.diff, self.diff.comparison
        why = "the previous holder" if self.against_is_previous else "as asked"
        head = f"triage {self.name}@{self.alias}: v{self.holder} (B) against v{self.against} (A, {why})"
        out: list[Any] = [lines(head, "", "1. what changed", *(f"   {x}" for x in d.change_lines()))]
        same = [
            f"   processing ({self.processing_note})"
            if self.processing_note
            else "   processing same (the packaged pre/post-processing settings)"
        ]
        out.append(lines([f"   processing CHANGED: {k} {a} → {b}" for k, a, b in self.processing] or same))
        if cmp is None:
            out.append(lines("", f"2. same data: not compared: {d.metrics_note}"))
        else:
            runs = f"evaluation runs {cmp.evaluations[0][:8]} (A) and {cmp.evaluations[1][:8]} (B)"
            worst = f"regressed slice: {self.regressed_slice}" if self.regressed_slice else "no slice regressed"
            out += [
                lines(
                    "",
                    f"2. same data: both evaluated on {cmp.data}, {runs}",
                    "",
                    f"3. deltas (B - A), regressions first; {worst}",
                ),
                cmp.render(),
            ]
        if self.legal_patch is None:
            verdict = f"not a PATCH: a {self.declared} bump; the lineage requires {self.required}"
        else:
            verdict = "a legal PATCH" if self.legal_patch else "NOT a legal PATCH"
        out.append(
            lines(
                "",
                f"4. {verdict}",
                *(f"   - {r}" for r in self.reasons),
                "",
                "5. roll back",
                f"   {self.rollback_command}",
            )
        )
        if self.rolled_back is not None:
            out.append(self.rolled_back)
        return Group(*out)


def triage(
    client: MlflowClient,
    name: str,
    *,
    alias: str = "production",
    against: str | None = None,
    project: Project,
    rollback: bool = False,
    why: str = "",
) -> Triage:
    """The five steps of the module doc for ``name``'s ``alias``; with ``rollback``, roll it back too."""
    from mlflow_cv.registry.aliases import history
    from mlflow_cv.registry.aliases import rollback as roll_back

    holder = holder_of(client, name, alias)
    if holder is None:
        raise RegistryError(f"{name!r} has no alias {alias!r}: nothing to triage")
    before = previous_holder(reversed(history(client, name).events), alias, str(holder.version))
    previous = before.from_version if before is not None else None
    if against is not None:
        old = find_version(client, name, against)
    elif previous is not None:
        old = client.get_model_version(name, previous)
    else:
        raise RegistryError(
            f"no previous holder of {alias!r} is recorded before v{holder.tags.get(TAG_SEMVER)}: "
            f"name one with --against VERSION"
        )
    if str(old.version) == str(holder.version):
        raise RegistryError(f"v{holder.tags.get(TAG_SEMVER)} holds {alias!r}: triage it against another version")
    d = diff_runs(client, f"models:/{name}/{old.version}", f"models:/{name}/{holder.version}", project=project)
    a, b = Version.parse(old.tags[TAG_SEMVER]), Version.parse(holder.tags[TAG_SEMVER])
    declared = _bump_between(a, b)
    rules = policy(client, name)
    was, now = VersionFacts.of_model_version(old), VersionFacts.of_model_version(holder)
    scores = (lambda: gate_scores(client, rules, now, was, project=project)) if d.comparison else None
    try:
        need, reasons = required_bump(was, now, policy=rules, scores=scores)
        bad = False
    except BumpError as exc:
        need, reasons, bad = Bump.PATCH, [exc.message, *exc.problems], True
    legal = None if declared is not Bump.PATCH else (not bad and need <= Bump.PATCH)
    is_previous = previous is not None and str(old.version) == str(previous)
    if is_previous:
        command = f'mlflow-cv model rollback {name} --alias {alias} --why "triage: …"'
    else:
        command = (
            f"(v{a} is not the recorded previous holder: a rollback goes to "
            f"{'version ' + previous if previous else 'no one'}; moving to v{a} means mlflow-cv model "
            f"promote {name} {a} --to {alias}, and the semver gate refuses a lower version)"
        )
    try:
        processing, note = _processing(client, name, old.version, holder.version), ""
    except MlflowCvError as exc:
        processing, note = (), str(exc)
    result = Triage(
        name=name,
        alias=alias,
        holder=str(b),
        against=str(a),
        against_is_previous=is_previous,
        diff=d,
        processing=processing,
        processing_note=note,
        declared=declared.name,
        required=need.name,
        reasons=tuple(reasons),
        legal_patch=legal,
        rollback_command=command,
    )
    if not rollback:
        return result
    if not is_previous:
        raise RegistryError(f"--rollback goes to the recorded previous holder only; {command}")
    summary = f"triage: {result.regressed_slice} regressed" if result.regressed_slice else "triage"
    moved = roll_back(client, name, alias=alias, why=why or summary)
    return replace(result, rolled_back=moved)


def _bump_between(old: Version, new: Version) -> Bump:
    if new <= old:
        return Bump.NONE
    return Bump.MAJOR if new.major != old.major else Bump.MINOR if new.minor != old.minor else Bump.PATCH


def _processing(client: Any, name: str, a: str, b: str) -> tuple[tuple[str, str, str], ...]:
    """The packaged pre/post-processing settings (the flavor's ``settings.json``) that differ."""
    from mlflow.artifacts import download_artifacts

    from mlflow_cv.serving.model import SETTINGS
    from mlflow_cv.tracking.store import using_tracking_uri

    found = []
    with tempfile.TemporaryDirectory() as tmp, using_tracking_uri(client.tracking_uri):
        for i, number in enumerate((a, b)):
            try:
                path = download_artifacts(artifact_uri=f"models:/{name}/{number}/{SETTINGS}", dst_path=f"{tmp}/{i}")
            except Exception as exc:  # any artifact-store failure: say so, do not guess
                raise RegistryError(f"cannot read the packaged settings of {name} version {number}: {exc}") from exc
            found.append(json.loads(Path(path).read_text()))
    old, new = found
    return tuple((k, str(old.get(k, "-")), str(new.get(k, "-"))) for k in sorted(old | new) if old.get(k) != new.get(k))
