import json
import os
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_cv.data import scan
from mlflow_cv.data.build import build_manifest
from mlflow_cv.data.manifest import Manifest, canonical_bytes, read_manifest, write_manifest
from mlflow_cv.errors import ManifestError
from tests.conftest import write_yolo


@pytest.fixture
def manifest(tmp_path) -> Manifest:
    src = write_yolo(tmp_path / "src", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "1 0.5 0.5 0.2 0.2\n"}, images=("bg",))
    return build_manifest(src, snapshot_id="DS-1.0.0", notes="ünïcode notes").manifest


def test_round_trip_and_contract_fields(manifest, tmp_path):
    doc = manifest.to_dict()
    assert {"snapshot_id", "parent", "created_at", "task", "label_format", "class_map", "files", "splits", "split",
            "stats", "notes", "tool_version"} <= set(doc)  # fmt: skip
    assert doc["stats"]["background"] == 1 and doc["stats"]["instances"] == {"a": 1, "b": 1}
    assert Manifest.from_dict(json.loads(json.dumps(doc))) == manifest
    path = tmp_path / "m" / "DS-1.0.0.json"
    write_manifest(path, manifest)
    assert read_manifest(path) == manifest
    assert not os.stat(path).st_mode & 0o222, "a frozen manifest is read-only"


def test_hash_excludes_created_at_and_is_canonical(manifest):
    later = Manifest.from_dict({**manifest.to_dict(), "created_at": "2030-01-01T00:00:00Z"})
    assert later.sha256 == manifest.sha256
    other = Manifest.from_dict({**manifest.to_dict(), "notes": "changed"})
    assert other.sha256 != manifest.sha256
    assert canonical_bytes({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_never_rewritten(manifest, tmp_path):
    path = tmp_path / "DS-1.0.0.json"
    write_manifest(path, manifest)
    with pytest.raises(ManifestError, match="never rewritten"):
        write_manifest(path, manifest)


def test_hand_edit_is_refused(manifest, tmp_path):
    path = tmp_path / "DS-1.0.0.json"
    write_manifest(path, manifest)
    os.chmod(path, 0o644)
    path.write_text(path.read_text().replace('"notes": "ünïcode notes"', '"notes": "edited"'))
    with pytest.raises(ManifestError, match="edited by hand"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"schema_version": 99}, "unknown manifest schema_version 99"),
        ({"surprise": 1}, "unknown \\['surprise'\\]"),
        ({"task": "nonsense"}, "task 'nonsense'"),
        ({"files": "x"}, "invalid manifest"),
    ],
)
def test_malformed_manifests(manifest, tmp_path, change, match):
    path = tmp_path / "DS-1.0.0.json"
    doc = {**manifest.to_dict(), **change, "manifest_sha256": manifest.sha256}
    path.write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match=match):
        read_manifest(path)


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", "images/../../x.jpg", "images//a.jpg"])
def test_path_traversal_in_manifest_is_refused(manifest, tmp_path, bad):
    doc = manifest.to_dict()
    doc["files"][0]["path"] = bad
    doc["files"].sort(key=lambda f: f["path"])
    with pytest.raises(ManifestError, match="not a clean relative path"):
        Manifest.from_dict(doc)


def test_not_json(tmp_path):
    path = tmp_path / "DS-1.0.0.json"
    path.write_bytes(b"\xff{")
    with pytest.raises(ManifestError, match="not valid UTF-8 JSON"):
        read_manifest(path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False))
def test_hash_does_not_depend_on_discovery_order(tmp_path, rnd):
    src = tmp_path / "order"
    if not src.exists():
        write_yolo(src, {f"d{i % 3}/item{i}": f"{i % 2} 0.5 0.5 0.1 0.1\n" for i in range(12)}, images=("x", "y"))
    real_walk = scan.walk_files

    def shuffled(root: Path):
        entries = list(real_walk(root))
        rnd.shuffle(entries)
        yield from entries

    baseline = build_manifest(src, snapshot_id="DS-1.0.0").manifest.sha256
    with mock.patch.object(scan, "walk_files", shuffled):
        assert build_manifest(src, snapshot_id="DS-1.0.0").manifest.sha256 == baseline
