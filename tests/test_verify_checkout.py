import os

import pytest
import yaml

from mlflow_cv.data.checkout import checkout, verify
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.stat_cache import StatCache
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import SnapshotError, StoreError


def test_verify_clean_then_incremental(snap):
    project, src = snap
    report = verify(project, "DS-1.0.0", src)
    assert report.ok and report.checked == 480 and report.hashed == 0, "the snapshot filled the stat cache"
    StatCache.for_root(project.cache_dir, src).path.unlink()
    assert verify(project, "DS-1.0.0", src).hashed == 480
    assert verify(project, "DS-1.0.0", src).hashed == 0


def test_a_clean_verify_is_remembered_but_never_hides_a_change(snap):
    project, src = snap
    assert verify(project, "DS-1.0.0", src).ok
    assert StatCache.for_root(project.cache_dir, src).clean(str(project.manifest_path("DS-1.0.0"))) is not None
    (src / "labels" / "shape_0002.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert verify(project, "DS-1.0.0", src).modified == ("labels/shape_0002.txt",)
    (src / "labels" / "shape_0002.txt").unlink()
    assert verify(project, "DS-1.0.0", src).missing == ("labels/shape_0002.txt",)


def test_verify_reports_missing_modified_extra_by_path(snap):
    project, src = snap
    (src / "images" / "shape_0001.jpg").unlink()
    (src / "labels" / "shape_0002.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (src / "images" / "new.png").write_bytes(b"new")
    (src / "labels" / "deep").mkdir()
    (src / "labels" / "deep" / "x.txt").write_text("")
    (src / "README.md").write_text("not data")
    report = verify(project, "DS-1.0.0", src)
    assert not report.ok
    assert report.missing == ("images/shape_0001.jpg",)
    assert report.modified == ("labels/shape_0002.txt",)
    assert report.extra == ("images/new.png", "labels/deep/x.txt")
    assert report.hashed == 1


def test_same_size_same_mtime_edit_is_caught_when_inode_changes(snap):
    project, src = snap
    path = src / "labels" / "shape_0003.txt"
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[0] = ord("2") if data[0] != ord("2") else ord("1")
    tmp = path.with_name("tmp")
    tmp.write_bytes(bytes(data))
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    tmp.replace(path)
    assert verify(project, "DS-1.0.0", src).modified == ("labels/shape_0003.txt",)


def test_verify_store_detects_corrupt_and_missing_objects(snap):
    project, _ = snap
    m = load_manifest(project, "DS-1.0.0")
    assert verify(project, "DS-1.0.0").ok
    bad = ObjectStore(project.store_dir).object_path(m.files[0].sha256)
    os.chmod(bad, 0o644)
    bad.write_bytes(b"bit rot")
    ObjectStore(project.store_dir).object_path(m.files[1].sha256).unlink()
    report = verify(project, "DS-1.0.0")
    assert report.modified == (m.files[0].path,) and report.missing == (m.files[1].path,)


def test_checkout_is_byte_identical_and_trainable(snap, tmp_path):
    project, src = snap
    (src / "labels" / "shape_0000.txt").write_text("changed after the snapshot\n")
    dest = checkout(project, "DS-1.0.0", tmp_path / "co")
    m = load_manifest(project, "DS-1.0.0")
    for f in m.files:
        assert (dest / f.path).read_bytes() == ObjectStore(project.store_dir).read_verified(f.sha256)
    assert (dest / "labels" / "shape_0000.txt").read_text() != "changed after the snapshot\n"
    doc = yaml.safe_load((dest / "data.yaml").read_text())
    assert doc["names"] == {0: "circle", 1: "square", 2: "triangle"}
    listed = (dest / doc["train"]).read_text().split()
    assert len(listed) == len(m.splits["train"]) and all((dest / p).is_file() for p in listed)
    assert verify(project, "DS-1.0.0", dest).ok
    assert checkout(project, "DS-1.0.0", dest) == dest, "an intact checkout is reused"

    from ultralytics.data.utils import check_det_dataset

    info = check_det_dataset(str(dest / "data.yaml"))
    assert info["nc"] == 3 and os.path.samefile(info["train"], dest / "train.txt")


def test_checkout_refusals(snap, tmp_path):
    project, _ = snap
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("")
    with pytest.raises(SnapshotError, match="not empty"):
        checkout(project, "DS-1.0.0", busy)
    dest = checkout(project, "DS-1.0.0", tmp_path / "co", link="hardlink")
    assert (dest / "images" / "shape_0000.jpg").stat().st_nlink == 2
    os.chmod(dest / "labels" / "shape_0001.txt", 0o644)
    os.unlink(dest / "labels" / "shape_0001.txt")
    with pytest.raises(SnapshotError, match="was changed") as info:
        checkout(project, "DS-1.0.0", dest)
    assert "missing  labels/shape_0001.txt" in info.value.problems


def test_checkout_refuses_corrupt_object_and_leaves_nothing(snap, tmp_path):
    project, _ = snap
    m = load_manifest(project, "DS-1.0.0")
    bad = ObjectStore(project.store_dir).object_path(m.files[5].sha256)
    os.chmod(bad, 0o644)
    bad.write_bytes(b"tampered")
    with pytest.raises(StoreError, match="corrupt"):
        checkout(project, "DS-1.0.0", tmp_path / "co")
    assert not (tmp_path / "co").exists() and not list(tmp_path.glob(".co.partial-*"))


def test_cached_expectations_never_hide_a_manifest_edit(snap):
    project, src = snap
    assert verify(project, "DS-1.0.0", src).ok
    path = project.manifest_path("DS-1.0.0")
    os.chmod(path, 0o644)
    path.write_text(path.read_text().replace('"notes": ""', '"notes": "sneaky"'))
    from mlflow_cv.errors import ManifestError

    with pytest.raises(ManifestError, match="edited by hand"):
        verify(project, "DS-1.0.0", src)


def test_new_non_data_file_is_judged_then_remembered(snap):
    project, src = snap
    (src / "NOTES.md").write_text("not data")
    assert verify(project, "DS-1.0.0", src).ok
    (src / "images" / "late.jpg").write_bytes(b"x")
    assert verify(project, "DS-1.0.0", src).extra == ("images/late.jpg",)
