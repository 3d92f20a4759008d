"""Image attributes and slices in snapshots (DESIGN §2a): sidecar files and path rules, part of the
manifest and its hash, with semver rules and every bad input named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlflow_cv.cli import cli
from mlflow_cv.data.attributes import AttrRule, Slice, collect_attributes, slice_counts
from mlflow_cv.data.diff import diff_manifests
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.errors import BumpError, DatasetError
from mlflow_cv.project import Project
from mlflow_cv.semver import Bump
from tests.helpers.data import ShapeStages, age_files

IMAGES = {"images/day/a.jpg": "day/a", "images/night/b.jpg": "night/b", "images/night/c.jpg": "night/c"}


def test_rules_and_files_become_attributes(tmp_path: Path) -> None:
    sidecar = tmp_path / "attrs.csv"
    sidecar.write_text("path,camera,weather\nimages/day/a.jpg,cam_a,\nimages/night/b.jpg,cam_b,rain\n")
    rules = [AttrRule.parse("time_of_day=night:**/night/**"), AttrRule.parse("time_of_day=day:images/day/*")]
    found = collect_attributes(IMAGES, files=[sidecar], rules=rules)
    assert found == {
        "camera": {"day/a": "cam_a", "night/b": "cam_b"},
        "time_of_day": {"day/a": "day", "night/b": "night", "night/c": "night"},
        "weather": {"night/b": "rain"},
    }
    counts = slice_counts(found, {"train": ["day/a", "night/b"], "val": ["night/c"]})
    assert counts[Slice("time_of_day", "night")] == {"all": 2, "train": 1, "val": 1}
    assert str(Slice.parse("time_of_day:night")) == "time_of_day:night"


def test_jsonl_files_work_too(tmp_path: Path) -> None:
    sidecar = tmp_path / "attrs.jsonl"
    sidecar.write_text('{"path": "images/day/a.jpg", "camera": "cam_a"}\n\n{"path": "images/night/c.jpg"}\n')
    assert collect_attributes(IMAGES, files=[sidecar]) == {"camera": {"day/a": "cam_a"}}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", "path,camera\nimages/gone.jpg,cam_a\n", "a.csv:2: images/gone.jpg is not an image of this snapshot"),
        (
            "a.csv",
            "path,camera\nimages/day/a.jpg,cam_a\nimages/day/a.jpg,cam_b\n",
            "a.csv:3: images/day/a.jpg is listed again (first on line 2)",
        ),
        ("a.csv", "path,Camera\nimages/day/a.jpg,cam_a\n", "a.csv:2: attribute name 'Camera' is not like"),
        ("a.csv", "path,camera\nimages/day/a.jpg,cam a\n", "a.csv:2: camera='cam a' is not like"),
        ("a.csv", "path,camera\nimages/day/a.jpg\n", "a.csv:2: 1 cells, the header has 2"),
        ("a.csv", "camera\ncam_a\n", "a.csv:1: a CSV attributes file starts with a header naming a 'path' column"),
        ("a.jsonl", '{"path": "images/day/a.jpg", "camera": 3}\n', "a.jsonl:1: values must be strings (camera)"),
        ("a.jsonl", '{"path": "images/day/a.jpg"\n', "a.jsonl:1: not JSON"),
        ("a.txt", "path\n", "attributes files are .csv"),
    ],
)
def test_bad_attribute_files_are_named(tmp_path: Path, name: str, content: str, expected: str) -> None:
    sidecar = tmp_path / name
    sidecar.write_text(content)
    with pytest.raises(DatasetError) as info:
        collect_attributes(IMAGES, files=[sidecar])
    assert any(expected in p for p in (str(info.value), *info.value.problems)), (str(info.value), info.value.problems)


def test_bad_encoding_rules_and_conflicts_are_named(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("path,camera\nimages/day/a.jpg,caméra\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8 text"):
        collect_attributes(IMAGES, files=[latin])
    for bad in ("time_of_day:night", "time_of_day=night", "Time=night:*", "t=ni ght:*"):
        with pytest.raises(DatasetError, match="expected NAME=VALUE:GLOB"):
            AttrRule.parse(bad)
    with pytest.raises(DatasetError) as info:
        collect_attributes(IMAGES, rules=[AttrRule.parse("t=x:**/dusk/**")])
    assert "matches no image" in info.value.problems[0]
    sidecar = tmp_path / "a.csv"
    sidecar.write_text("path,time_of_day\nimages/night/b.jpg,day\n")
    with pytest.raises(DatasetError) as info:
        collect_attributes(IMAGES, files=[sidecar], rules=[AttrRule.parse("time_of_day=night:**/night/**")])
    assert "images/night/b.jpg time_of_day=night disagrees with time_of_day=day from" in info.value.problems[0]


# --- in snapshots ------------------------------------------------------------------------------------


def night_rule(src: Path) -> list[str]:
    """Tag a third of the shapes images 'night' by a sidecar file; return the rule for the rest."""
    images = sorted(p.relative_to(src).as_posix() for p in (src / "images").rglob("*.jpg"))
    rows = [f"{path},{'night' if n % 3 == 0 else 'day'}" for n, path in enumerate(images)]
    (src.parent / "attrs.csv").write_text("path,time_of_day\n" + "\n".join(rows) + "\n")
    return images


def test_attributes_are_part_of_the_manifest_and_its_hash(snap: tuple[Project, Path], tmp_path: Path) -> None:
    project, src = snap
    before = load_manifest(project, "DS-1.0.0")
    assert before.attributes == {} and "attributes" not in before.to_dict()  # old manifests hash as before
    images = night_rule(src)
    made = create_snapshot(
        project, src, snapshot_id="DS-1.1.0", parent="DS-1.0.0", attributes=[src.parent / "attrs.csv"]
    )
    manifest = made.manifest
    assert len(manifest.attributes["time_of_day"]) == len(images)
    assert manifest.sha256 != before.sha256 and load_manifest(project, "DS-1.1.0").sha256 == manifest.sha256
    change = diff_manifests(before, manifest)
    assert change.required is Bump.MINOR and "MINOR: attribute added: time_of_day" in change.reasons
    # the same files, a value changed: PATCH
    (src.parent / "attrs.csv").write_text((src.parent / "attrs.csv").read_text().replace(",day\n", ",dusk\n", 1))
    again = create_snapshot(
        project, src, snapshot_id="DS-1.1.1", parent="DS-1.1.0", attributes=[src.parent / "attrs.csv"]
    )
    assert again.declared is Bump.PATCH and any(
        "attribute values changed: time_of_day (1 image" in r for r in again.reasons
    )
    # dropping an attribute is MINOR: a PATCH id is refused
    with pytest.raises(BumpError, match="requires MINOR") as info:
        create_snapshot(project, src, snapshot_id="DS-1.1.2", parent="DS-1.1.1")
    assert info.value.problems == ("MINOR: attribute removed: time_of_day",)


def test_show_and_diff_list_slices(snap: tuple[Project, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    project, src = snap
    night_rule(src)
    create_snapshot(project, src, snapshot_id="DS-1.1.0", parent="DS-1.0.0", attributes=[src.parent / "attrs.csv"])
    monkeypatch.chdir(project.root)
    shown = CliRunner().invoke(cli, ["data", "show", "DS-1.1.0"])
    assert shown.exit_code == 0, shown.output
    assert "time_of_day:night" in shown.output and "time_of_day:day" in shown.output
    diffed = CliRunner().invoke(cli, ["data", "diff", "DS-1.0.0", "DS-1.1.0", "--json"])
    doc = json.loads(diffed.output)
    assert doc["attributes"]["added"] == ["time_of_day"] and doc["required_bump"] == "MINOR"


def test_the_cli_takes_files_and_rules(
    project: Project, shapes_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = shapes_dir("1.0.0")
    age_files(src)
    monkeypatch.chdir(tmp := src.parent)
    out = CliRunner().invoke(
        cli,
        [
            "data",
            "snapshot",
            str(src),
            "--id",
            "DS-1.0.0",
            "--project",
            str(project.root),
            "--attr",
            "camera=cam_a:images/*",
        ],
    )
    assert out.exit_code == 0, out.output
    assert set(load_manifest(project, "DS-1.0.0").attributes["camera"].values()) == {"cam_a"}
    bad = CliRunner().invoke(
        cli,
        [
            "data",
            "snapshot",
            str(src),
            "--id",
            "DS-1.0.1",
            "--parent",
            "DS-1.0.0",
            "--project",
            str(project.root),
            "--attr",
            "camera=cam_b:nowhere/*",
        ],
    )
    assert bad.exit_code != 0 and "matches no image" in bad.output
    assert project.snapshot_ids() == ["DS-1.0.0"] and tmp.exists()  # nothing written on a refusal


def test_added_images_bring_their_values_without_a_values_change(tmp_path: Path, shape_stages: ShapeStages) -> None:
    """The shapes generator's attributes.csv: DS-1.0.0 → DS-1.1.0 adds 60 images with their time_of_day;
    no existing image's value changed, so no PATCH reason for attribute values."""
    project, src = Project(root=tmp_path / "p"), tmp_path / "shapes"
    parent = None
    for stage in ("1.0.0", "1.1.0"):
        shape_stages.bring(src, stage)
        age_files(src)
        create_snapshot(project, src, snapshot_id=f"DS-{stage}", parent=parent, attributes=[src / "attributes.csv"])
        parent = f"DS-{stage}"
    d = diff_manifests(load_manifest(project, "DS-1.0.0"), load_manifest(project, "DS-1.1.0"))
    assert d.required is Bump.MINOR and not d.attribute_changes
    assert not any("attribute values" in r for r in d.reasons), d.reasons
    assert d.slice_deltas == {"time_of_day:day": 48, "time_of_day:night": 12}
