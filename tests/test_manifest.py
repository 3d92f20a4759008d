import hashlib
import json
import os
import random
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlflow_cv.canonical import canonical_bytes
from mlflow_cv.data.build import build_manifest
from mlflow_cv.data.manifest import Manifest, read_manifest, write_manifest
from mlflow_cv.errors import ManifestError
from tests.helpers.data import write_yolo


@pytest.fixture
def manifest(tmp_path) -> Manifest:
    src = write_yolo(tmp_path / "src", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "1 0.5 0.5 0.2 0.2\n"}, images=("bg",))
    return build_manifest(src, snapshot_id="DS-1.0.0", notes="ünïcode notes").manifest


def test_round_trip_and_contract_fields(manifest, tmp_path):
    doc = manifest.to_dict()
    assert {
        "snapshot_id",
        "parent",
        "created_at",
        "task",
        "label_format",
        "class_map",
        "files",
        "splits",
        "split",
        "stats",
        "notes",
        "tool_version",
    } <= set(doc)
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


@pytest.fixture(scope="module")
def rich(tmp_path_factory) -> Manifest:
    """A manifest with enough in every part (files, classes, splits, per-class counts) to reorder."""
    labels = {f"item{i:02d}": f"{i % 3} 0.5 0.5 0.1 0.1\n" + "1 0.2 0.2 0.1 0.1\n" * (i % 2) for i in range(24)}
    src = write_yolo(tmp_path_factory.mktemp("rich") / "src", labels, names=("a", "b", "c"), images=("bg0", "bg1"))
    return build_manifest(src, snapshot_id="DS-1.0.0", notes="ünïcode").manifest


def reordered(value: Any, rnd: random.Random) -> Any:
    """The same JSON value with the keys of every object in a random order (lists keep theirs)."""
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {key: reordered(value[key], rnd) for key in keys}
    if isinstance(value, list):
        return [reordered(v, rnd) for v in value]
    return value


@settings(max_examples=50, deadline=None)
@given(rnd=st.randoms(use_true_random=False))
def test_hash_does_not_depend_on_key_order(rich: Manifest, rnd: random.Random) -> None:
    """As dvc-data proves for its trees: the same content, assembled in any order, has one hash."""
    doc = rich.to_dict()
    shuffled = reordered(doc, rnd)
    assume(json.dumps(shuffled) != json.dumps(doc))  # a real reordering, or the example proves nothing
    assert canonical_bytes(shuffled) == canonical_bytes(doc)
    again = Manifest.from_dict(shuffled)
    assert again.sha256 == rich.sha256 == hashlib.sha256(canonical_bytes(again.hashed_dict())).hexdigest()


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_files_out_of_order_are_refused_not_hashed_differently(rich: Manifest, data: st.DataObject) -> None:
    """The file list's one canonical order is by path; any other order is refused, never hashed."""
    doc = rich.to_dict()
    files = data.draw(st.permutations(doc["files"]))
    assume(files != doc["files"])
    with pytest.raises(ManifestError, match="files must be sorted by path"):
        Manifest.from_dict({**doc, "files": files})
    canonical = Manifest.from_dict({**doc, "files": sorted(files, key=lambda f: f["path"])})
    assert canonical.sha256 == rich.sha256
