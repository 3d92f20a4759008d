"""What changed between two snapshots, and which semver bump that change requires (DESIGN §2).

| change against the parent                                         | required bump |
|-------------------------------------------------------------------|---------------|
| class removed, renamed or re-indexed; task or label format changed | MAJOR         |
| images added, removed or changed; classes appended; split changed  | MINOR         |
| an image attribute added or removed (DESIGN §2a)                   | MINOR         |
| only label contents, attribute values or import provenance changed | PATCH         |
| nothing changed                                                    | refused       |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlflow_cv.data.manifest import Manifest, load_manifest
from mlflow_cv.semver import Bump

if TYPE_CHECKING:
    from rich.console import RenderableType

    from mlflow_cv.project import Project

__all__ = ["SnapshotDiff", "diff_manifests", "diff_snapshots"]


@dataclass(frozen=True)
class SnapshotDiff:
    """The difference ``old → new``; paths are sorted, deltas are ``new - old`` per class name."""

    old: str
    new: str
    images_added: tuple[str, ...]
    images_removed: tuple[str, ...]
    images_modified: tuple[str, ...]
    labels_added: tuple[str, ...]
    labels_removed: tuple[str, ...]
    labels_modified: tuple[str, ...]
    instance_deltas: Mapping[str, int]
    split_moves: tuple[tuple[str, str, str], ...]  # (item, old split, new split)
    leakage: tuple[tuple[str, str], ...]  # (item, new split): in train before, evaluated on now
    required: Bump
    reasons: tuple[str, ...]
    attributes_added: tuple[str, ...] = ()
    attributes_removed: tuple[str, ...] = ()
    attribute_changes: Mapping[str, int] = field(default_factory=dict)  # attribute → items whose value changed
    slice_deltas: Mapping[str, int] = field(default_factory=dict)  # "attr:value" → images new - old

    def summary_lines(self, *, limit: int = 10) -> list[str]:
        """The changes as short lines: paths per kind (first ``limit``), class deltas, moves, leakage."""
        lines = []
        for title, paths in [
            ("images added", self.images_added),
            ("images removed", self.images_removed),
            ("images modified", self.images_modified),
            ("labels added", self.labels_added),
            ("labels removed", self.labels_removed),
            ("labels modified", self.labels_modified),
        ]:
            if paths:
                more = f" … (+{len(paths) - limit})" if len(paths) > limit else ""
                lines.append(f"{title} ({len(paths)}): {', '.join(paths[:limit])}{more}")
        if self.instance_deltas:
            lines.append("instances per class: " + ", ".join(f"{k} {v:+d}" for k, v in self.instance_deltas.items()))
        if self.split_moves:
            moves = ", ".join(f"{i} {a}→{b}" for i, a, b in self.split_moves[:limit])
            lines.append(f"split moves ({len(self.split_moves)}): {moves}")
        for title, names in (
            ("attributes added", self.attributes_added),
            ("attributes removed", self.attributes_removed),
        ):
            if names:
                lines.append(f"{title}: {', '.join(names)}")
        if self.attribute_changes:
            lines.append(
                "attribute values changed: " + ", ".join(f"{a} ({n})" for a, n in self.attribute_changes.items())
            )
        if self.slice_deltas:
            lines.append("images per slice: " + ", ".join(f"{k} {v:+d}" for k, v in self.slice_deltas.items()))
        if self.leakage:
            lines.append(
                f"LEAKAGE: {len(self.leakage)} item(s) trained on in {self.old} are evaluated on in {self.new}: "
                + ", ".join(f"{i} (now {s})" for i, s in self.leakage[:limit])
            )
        return lines

    def render(self, *, limit: int = 10) -> RenderableType:
        """The required bump and its reasons, then :meth:`summary_lines`."""
        from mlflow_cv.render import lines

        head = f"{self.old} → {self.new}: requires a {self.required.name} bump"
        return lines(head, (f"  - {r}" for r in self.reasons), self.summary_lines(limit=limit))

    def __rich__(self) -> RenderableType:
        return self.render()

    def to_dict(self) -> dict[str, object]:
        return {
            "old": self.old,
            "new": self.new,
            "images": {"added": self.images_added, "removed": self.images_removed, "modified": self.images_modified},
            "labels": {"added": self.labels_added, "removed": self.labels_removed, "modified": self.labels_modified},
            "instance_deltas": dict(self.instance_deltas),
            "split_moves": [list(m) for m in self.split_moves],
            "leakage": [list(x) for x in self.leakage],
            "attributes": {
                "added": self.attributes_added,
                "removed": self.attributes_removed,
                "values_changed": dict(self.attribute_changes),
                "slice_deltas": dict(self.slice_deltas),
            },
            "required_bump": self.required.name,
            "reasons": list(self.reasons),
        }


def _compare(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[tuple[str, ...], ...]:
    added = tuple(sorted(set(new) - set(old)))
    removed = tuple(sorted(set(old) - set(new)))
    modified = tuple(sorted(p for p in set(old) & set(new) if old[p] != new[p]))
    return added, removed, modified


def diff_snapshots(project: Project, old: str, new: str) -> SnapshotDiff:
    """:func:`diff_manifests` of two snapshots of ``project``, by id."""
    return diff_manifests(load_manifest(project, old), load_manifest(project, new))


def diff_manifests(old: Manifest, new: Manifest) -> SnapshotDiff:
    """Compare two manifests file by file and rule by rule."""

    def hashes(m: Manifest, kind: str) -> dict[str, str]:
        return {f.path: f.sha256 for f in m.files if f.kind == kind}

    img_added, img_removed, img_modified = _compare(hashes(old, "image"), hashes(new, "image"))
    lbl_added, lbl_removed, lbl_modified = _compare(hashes(old, "label"), hashes(new, "label"))

    names = sorted(set(old.stats.instances) | set(new.stats.instances))
    deltas = {n: new.stats.instances.get(n, 0) - old.stats.instances.get(n, 0) for n in names}
    deltas = {n: d for n, d in deltas.items() if d}

    old_split, new_split = old.split_of, new.split_of
    moves = tuple(
        (item, old_split[item], new_split[item])
        for item in sorted(set(old_split) & set(new_split))
        if old_split[item] != new_split[item]
    )
    leakage = tuple((item, to) for item, frm, to in moves if frm == "train")

    reasons: list[tuple[Bump, str]] = []
    if old.task != new.task:
        reasons.append((Bump.MAJOR, f"task changed: {old.task} → {new.task}"))
    if old.label_format != new.label_format:
        reasons.append((Bump.MAJOR, f"label format changed: {old.label_format} → {new.label_format}"))
    if old.kpt_shape != new.kpt_shape:
        reasons.append((Bump.MAJOR, f"keypoint shape changed: {old.kpt_shape} → {new.kpt_shape}"))
    reasons.extend(_class_map_reasons(old.class_map, new.class_map))
    if img_added or img_removed:
        reasons.append((Bump.MINOR, f"images added: {len(img_added)}, removed: {len(img_removed)}"))
    if img_modified:
        reasons.append((Bump.MINOR, f"image bytes changed: {len(img_modified)} (e.g. {img_modified[0]})"))
    if old.split != new.split:
        reasons.append((Bump.MINOR, f"split changed: {old.split.to_dict()} → {new.split.to_dict()}"))
    if moves:
        reasons.append((Bump.MINOR, f"items moved between splits: {len(moves)}"))
    attrs_added = tuple(sorted(set(new.attributes) - set(old.attributes)))
    attrs_removed = tuple(sorted(set(old.attributes) - set(new.attributes)))
    for what, dropped_or_new in (("added", attrs_added), ("removed", attrs_removed)):
        if dropped_or_new:
            reasons.append((Bump.MINOR, f"attribute {what}: {', '.join(dropped_or_new)}"))
    changed = {}
    kept = set(old.split_of) & set(new.split_of)  # an added or removed image brings or takes its values along
    for name in sorted(set(old.attributes) & set(new.attributes)):
        a, b = old.attributes[name], new.attributes[name]
        if n := sum(a.get(i) != b.get(i) for i in kept):
            changed[name] = n
    if changed:
        reasons.append(
            (Bump.PATCH, "attribute values changed: " + ", ".join(f"{k} ({n} image(s))" for k, n in changed.items()))
        )
    if old.provenance != new.provenance:
        what = "recorded" if not old.provenance else "dropped" if not new.provenance else "changed"
        reasons.append((Bump.PATCH, f"import provenance {what} (format, converter, sources or category mapping)"))
    slices = _slice_sizes(old), _slice_sizes(new)
    slice_deltas = {k: slices[1].get(k, 0) - slices[0].get(k, 0) for k in sorted(slices[0].keys() | slices[1].keys())}
    if lbl_added or lbl_removed or lbl_modified:
        reasons.append(
            (
                Bump.PATCH,
                f"label files added: {len(lbl_added)}, removed: {len(lbl_removed)}, modified: {len(lbl_modified)}",
            )
        )
    required = max((b for b, _ in reasons), default=Bump.NONE)
    return SnapshotDiff(
        old=old.snapshot_id,
        new=new.snapshot_id,
        images_added=img_added,
        images_removed=img_removed,
        images_modified=img_modified,
        labels_added=lbl_added,
        labels_removed=lbl_removed,
        labels_modified=lbl_modified,
        instance_deltas=deltas,
        split_moves=moves,
        leakage=leakage,
        required=required,
        reasons=tuple(f"{b.name}: {text}" for b, text in sorted(reasons, key=lambda r: -r[0])),
        attributes_added=attrs_added,
        attributes_removed=attrs_removed,
        attribute_changes=changed,
        slice_deltas={k: d for k, d in slice_deltas.items() if d},
    )


def _slice_sizes(manifest: Manifest) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for name, values in manifest.attributes.items():
        for value in values.values():
            sizes[f"{name}:{value}"] = sizes.get(f"{name}:{value}", 0) + 1
    return sizes


def _class_map_reasons(old: Mapping[int, str], new: Mapping[int, str]) -> list[tuple[Bump, str]]:
    reasons: list[tuple[Bump, str]] = []
    new_ids = {name: cid for cid, name in new.items()}
    for cid, name in sorted(old.items()):
        if new.get(cid) == name:
            continue
        if name in new_ids:
            reasons.append((Bump.MAJOR, f"class {name!r} re-indexed: {cid} → {new_ids[name]}"))
        elif cid in new:
            reasons.append((Bump.MAJOR, f"class {cid} renamed: {name!r} → {new[cid]!r}"))
        else:
            reasons.append((Bump.MAJOR, f"class {cid} {name!r} removed"))
    appended = [f"{cid} {new[cid]!r}" for cid in sorted(new) if cid not in old and new[cid] not in old.values()]
    if appended:
        reasons.append((Bump.MINOR, f"classes appended: {', '.join(appended)}"))
    return reasons
