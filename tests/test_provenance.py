"""An imported export's provenance in its snapshot (DESIGN §2b): recorded in the manifest (and its hash),
the original annotation files stored byte for byte and checked out again, an edited copy refused, and
the same export always the same manifest hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_cv.data.importers import import_dataset
from mlflow_cv.data.provenance import export_sources
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.errors import DatasetError
from mlflow_cv.project import Project
from mlflow_cv.render import to_text
from tests.helpers.data import age_files, load_generator

PALETTE = "road=128,64,128;lane=255,255,255;car=0,0,142"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("roads") / "export"
    load_generator("roads").generate(root, stage="1.0.0")
    return root


def _imported(export: Path, dest: Path) -> Path:
    import_dataset("masks", export, dest, palette=PALETTE)
    age_files(dest)
    return dest


def test_the_snapshot_records_and_stores_the_export(export: Path, tmp_path: Path) -> None:
    tree = _imported(export, tmp_path / "imported")
    project = Project(root=tmp_path / "p")
    manifest = create_snapshot(project, tree, snapshot_id="ROADS-1.0.0").manifest
    assert manifest.task == "segment"  # from the provenance: no --task needed
    record = manifest.provenance["record"]
    assert record["format"] == "masks" and [c["name"] for c in record["category_map"]] == ["road", "lane", "car"]
    masks = sorted(p.relative_to(export).as_posix() for p in (export / "masks").glob("*.png"))
    assert sorted(s["path"] for s in record["sources"]) == masks
    shown = to_text(manifest.render())
    assert "imported: masks by mlflow-cv masks importer" in shown and "category ids → classes" in shown

    out = export_sources(project, "ROADS-1.0.0", tmp_path / "originals")  # byte for byte, from the store
    for path in masks:
        assert (tmp_path / "originals" / ".mlflow-cv-import" / "sources" / path).read_bytes() == (
            export / path
        ).read_bytes()
    assert len(out) == len(manifest.provenance["files"])

    again = Project(root=tmp_path / "q")  # the same export, imported again elsewhere: the same manifest hash
    other = create_snapshot(again, _imported(export, tmp_path / "again"), snapshot_id="ROADS-1.0.0").manifest
    assert other.sha256 == manifest.sha256

    import dataclasses

    from mlflow_cv.data.diff import diff_manifests

    record = {**manifest.provenance, "record": {**manifest.provenance["record"], "converter_version": "9.9"}}
    for changed, what in (
        (dataclasses.replace(manifest, provenance=record), "changed"),
        (dataclasses.replace(manifest, provenance={}), "dropped"),
    ):
        assert diff_manifests(manifest, changed).reasons == (
            f"PATCH: import provenance {what} (format, converter, sources or category mapping)",
        )
    assert diff_manifests(manifest, other).reasons == ()


def test_an_edited_source_copy_is_refused(export: Path, tmp_path: Path) -> None:
    tree = _imported(export, tmp_path / "imported")
    copy = next((tree / ".mlflow-cv-import" / "sources" / "masks").glob("*.png"))
    copy.write_bytes(copy.read_bytes() + b"\0")
    project = Project(root=tmp_path / "p")
    with pytest.raises(DatasetError, match="do not match what the import recorded") as info:
        create_snapshot(project, tree, snapshot_id="ROADS-1.0.0")
    assert copy.name in info.value.problems[0]
    assert project.snapshot_ids() == []
    with pytest.raises(DatasetError, match="was not imported"):
        create_snapshot(project, _plain(tmp_path / "plain"), snapshot_id="DS-1.0.0")
        export_sources(project, "DS-1.0.0", tmp_path / "none")


def _plain(root: Path) -> Path:
    from tests.helpers.data import write_yolo

    return write_yolo(root, {"a": "0 0.5 0.5 0.2 0.2\n"})
