import hashlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from mlflow_cv.data.checkout import verify
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.data.splits import SplitSpec
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import (
    BumpError,
    DatasetError,
    LabelError,
    SemverError,
    SnapshotError,
    SnapshotNotFoundError,
    UnsafePathError,
)
from mlflow_cv.semver import Bump
from tests.helpers import REPO
from tests.helpers.data import write_yolo


def test_guide_example_1(project, shapes_dir):
    first = create_snapshot(project, shapes_dir("1.0.0"), snapshot_id="DS-1.0.0", notes="initial")
    assert first.declared is None and first.new_objects == 480
    assert first.manifest.stats.images == 240
    assert (project.conf_data_dir / "DS-1.0.0.yaml").read_text().count(first.manifest.sha256) == 1
    with pytest.raises(BumpError, match="requires MINOR"):
        create_snapshot(project, shapes_dir("1.1.0"), snapshot_id="DS-1.0.1", parent="DS-1.0.0")
    second = create_snapshot(project, shapes_dir("1.1.0"), snapshot_id="DS-1.1.0", parent="DS-1.0.0")
    assert second.declared is Bump.MINOR
    assert second.new_objects == 135, "only new or changed files enter the store"
    third = create_snapshot(project, shapes_dir("1.1.1"), parent="DS-1.1.0", bump=Bump.PATCH)
    assert third.manifest.snapshot_id == "DS-1.1.1" and third.declared is Bump.PATCH
    assert third.reasons == ("PATCH: label files added: 0, removed: 0, modified: 80",)
    assert third.hashed == 300, "unchanged images came from the stat cache; labels are always parsed"
    assert project.snapshot_ids() == ["DS-1.0.0", "DS-1.1.0", "DS-1.1.1"]
    # splits are stable: the 240 original items keep their split in DS-1.1.0
    old, new = load_manifest(project, "DS-1.0.0").split_of, load_manifest(project, "DS-1.1.0").split_of
    assert all(new[i] == s for i, s in old.items())


def test_objects_are_read_only_and_content_addressed(project, shapes_dir):
    m = create_snapshot(project, shapes_dir(), snapshot_id="DS-1.0.0").manifest
    entry = m.files[0]
    obj = ObjectStore(project.store_dir).object_path(entry.sha256)
    assert obj.read_bytes() == (shapes_dir() / entry.path).read_bytes()
    assert not obj.stat().st_mode & 0o222
    assert obj.stat().st_ino != (shapes_dir() / entry.path).stat().st_ino, "never hard-linked to working files"


def test_refusals(project, shapes_dir):
    src = shapes_dir()
    create_snapshot(project, src, snapshot_id="DS-1.0.0")
    with pytest.raises(SnapshotError, match="already exists; snapshot ids are never reused"):
        create_snapshot(project, src, snapshot_id="DS-1.0.0")
    with pytest.raises(BumpError, match="nothing changed"):
        create_snapshot(project, src, snapshot_id="DS-1.0.1", parent="DS-1.0.0")
    with pytest.raises(SnapshotError, match="--parent"):
        create_snapshot(project, src, snapshot_id="DS-2.0.0")
    with pytest.raises(SnapshotNotFoundError, match=r"known: DS-1\.0\.0"):
        create_snapshot(project, src, snapshot_id="DS-2.0.0", parent="DS-9.9.9")
    assert project.snapshot_ids() == ["DS-1.0.0"]
    assert not any(ObjectStore(project.store_dir).root.joinpath("tmp").iterdir()), "refusals leave nothing staged"


def test_named_lineages_are_independent(project, shapes_dir, tmp_path):
    """Several datasets per project: ROADS-1.0.0 starts its own lineage beside DS (no MAJOR bump of an
    unrelated dataset), parents stay within their lineage, ids keep the NAME-MAJOR.MINOR.PATCH form."""
    create_snapshot(project, shapes_dir(), snapshot_id="DS-1.0.0")
    roads = tmp_path / "roads"
    write_yolo(roads, {"a": "0 0.5 0.5 0.2 0.2\n", "b": "1 0.4 0.4 0.1 0.1\n"}, names=("road", "car"))
    first = create_snapshot(project, roads, snapshot_id="ROADS-1.0.0")
    assert first.declared is None and first.manifest.class_map == {0: "road", 1: "car"}
    with pytest.raises(SnapshotError, match="a snapshot derives from one of its own lineage"):
        create_snapshot(project, roads, snapshot_id="ROADS-2.0.0", parent="DS-1.0.0")
    with pytest.raises(SnapshotError, match=r"snapshots of ROADS already exist \(ROADS-1\.0\.0\)"):
        create_snapshot(project, roads, snapshot_id="ROADS-2.0.0")
    write_yolo(roads, {"c": "0 0.5 0.5 0.3 0.3\n"}, names=("road", "car"))
    assert create_snapshot(project, roads, parent="ROADS-1.0.0", bump=Bump.MINOR).manifest.snapshot_id == "ROADS-1.1.0"
    assert project.snapshot_ids() == ["DS-1.0.0", "ROADS-1.0.0", "ROADS-1.1.0"]
    assert project.snapshot_ids("ROADS") == ["ROADS-1.0.0", "ROADS-1.1.0"]
    for bad in ("ROADS-1.0", "1.0.0", "roads 1.0.0", "../DS-1.0.0", "R-OADS-1.0.0"):
        with pytest.raises(SemverError, match="expected NAME-MAJOR.MINOR.PATCH such as DS-1.1.1 or ROADS-1.0.0"):
            create_snapshot(project, roads, snapshot_id=bad)


def test_bump_rules(project, tmp_path):
    src = write_yolo(tmp_path / "s", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "1 0.5 0.5 0.2 0.2\n"})
    create_snapshot(project, src, snapshot_id="DS-1.0.0")
    (src / "labels" / "a.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    assert create_snapshot(project, src, snapshot_id="DS-1.0.1", parent="DS-1.0.0").declared is Bump.PATCH
    (src / "data.yaml").write_text("names: [a, b, c]\n")
    r = create_snapshot(project, src, parent="DS-1.0.1", bump=Bump.MINOR)
    assert "MINOR: classes appended: 2 'c'" in r.reasons
    (src / "data.yaml").write_text("names: [b, a, c]\n")
    with pytest.raises(BumpError, match="requires MAJOR") as info:
        create_snapshot(project, src, snapshot_id="DS-1.2.0", parent="DS-1.1.0")
    assert any("re-indexed" in p for p in info.value.problems)
    (src / "data.yaml").write_text("names: [a, b, c]\n")
    seed = SplitSpec(seed=1)
    assert create_snapshot(project, src, snapshot_id="DS-1.2.0", parent="DS-1.1.0", split=seed).declared is Bump.MINOR


def test_from_dirs_split(project, tmp_path):
    src = write_yolo(tmp_path / "s", {"train/a": "0 0.5 0.5 0.2 0.2\n", "val/b": "1 0.5 0.5 0.2 0.2\n"})
    m = create_snapshot(project, src, snapshot_id="DS-0.1.0", split=SplitSpec("from-dirs", None, ())).manifest
    assert dict(m.splits) == {"train": ("a",), "val": ("b",)}


def test_classification_folders(project, tmp_path):
    src = tmp_path / "cls"
    for cls, n in (("cat", 3), ("dog", 2)):
        (src / cls).mkdir(parents=True)
        for i in range(n):
            (src / cls / f"{i}.png").write_bytes(f"{cls}{i}".encode())
    m = create_snapshot(project, src, snapshot_id="DS-1.0.0", task="classify").manifest
    assert m.class_map == {0: "cat", 1: "dog"} and m.label_format == "folders"
    assert m.stats.instances == {"cat": 3, "dog": 2}


@pytest.mark.parametrize(
    ("setup", "error", "match"),
    [
        (lambda s: (s / "labels" / "a.txt").write_text("0 0.5\n"), LabelError, r"labels/a.txt:1: expected 5 values"),
        (lambda s: (s / "labels" / "a.txt").write_text("7 0.5 0.5 0.1 0.1\n"), LabelError, "class id 7 is not in"),
        (lambda s: (s / "images" / "a.png").write_bytes(b"x"), DatasetError, "same item id 'a'"),
        (lambda s: (s / "labels" / "zz.txt").write_text(""), DatasetError, "label without an image"),
        (lambda s: (s / "images" / "out.jpg").symlink_to("/etc/hostname"), UnsafePathError, "points outside"),
        (lambda s: (s / "images" / "d").symlink_to(s / "labels"), UnsafePathError, "directory symlinks"),
        (lambda s: (s / "labels" / "a.txt").write_bytes(b"\xff\xfe"), LabelError, "not UTF-8 text"),
        (lambda s: (s / "data.yaml").unlink(), DatasetError, "no class map"),
    ],
)
def test_bad_input_is_named_and_nothing_written(project, tmp_path, setup, error, match):
    src = write_yolo(tmp_path / "s", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "1 0.5 0.5 0.2 0.2\n"})
    setup(src)
    with pytest.raises(error, match=match):
        create_snapshot(project, src, snapshot_id="DS-1.0.0")
    assert project.snapshot_ids() == [] and not project.conf_data_dir.exists()
    assert not list((ObjectStore(project.store_dir).root / "objects").glob("*/*")), "no object published"


def test_non_utf8_file_name(project, tmp_path):
    src = write_yolo(tmp_path / "s", {"a": "0 0.5 0.5 0.2 0.2\n"})
    with open(os.fsencode(src / "images") + b"/bad\xff.jpg", "wb") as f:
        f.write(b"x")
    with pytest.raises(UnsafePathError, match="not valid UTF-8"):
        create_snapshot(project, src, snapshot_id="DS-1.0.0")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(project, tmp_path):
    src = write_yolo(tmp_path / "s", {"a": "0 0.5 0.5 0.2 0.2\n"})
    (src / "images" / "a.jpg").chmod(0)
    with pytest.raises(DatasetError, match="images/a.jpg: cannot read"):
        create_snapshot(project, src, snapshot_id="DS-1.0.0")


def test_unreadable_entries_even_as_root(project, tmp_path):
    src = write_yolo(tmp_path / "s", {"a": "0 0.5 0.5 0.2 0.2\n"})
    (src / "images" / "loop.jpg").symlink_to("loop.jpg")  # a self-loop: unreadable whoever you are
    with pytest.raises(UnsafePathError, match="images/loop.jpg: symlink cannot be resolved"):
        create_snapshot(project, src, snapshot_id="DS-1.0.0")
    (src / "images" / "loop.jpg").unlink()
    os.mkfifo(src / "images" / "pipe.jpg")
    with pytest.raises(DatasetError, match="images/pipe.jpg: not a regular file"):
        create_snapshot(project, src, snapshot_id="DS-1.0.0")


def test_empty_dataset(project, tmp_path):
    (tmp_path / "e" / "images").mkdir(parents=True)
    (tmp_path / "e" / "data.yaml").write_text("names: [a]\n")
    with pytest.raises(DatasetError, match="empty dataset"):
        create_snapshot(project, tmp_path / "e", snapshot_id="DS-1.0.0")


def test_kill_mid_snapshot_leaves_nothing_and_rerun_succeeds(project, shapes_dir):
    """SIGKILL in the middle of publishing (the real ``Staging.commit``): no manifest, no option, only
    whole objects; the rerun publishes the rest. Publishing an object is an ``os.replace`` into
    ``objects/``; the child process counts those and kills itself before the 241st."""
    src, published = shapes_dir(), 240
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from mlflow_cv.data import snapshots
        from mlflow_cv.data.store import ObjectStore
        from mlflow_cv.project import Project

        project = Project(root=Path({str(project.root)!r}))
        objects = os.path.join(ObjectStore(project.store_dir).root, "objects", "")
        real_replace, count = os.replace, 0

        def replace(src, dst, **kwargs):
            global count
            if os.fspath(dst).startswith(objects):
                if count == {published}:
                    os.kill(os.getpid(), signal.SIGKILL)
                count += 1
            return real_replace(src, dst, **kwargs)

        os.replace = replace
        snapshots.create_snapshot(project, Path({str(src)!r}), snapshot_id="DS-1.0.0")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"never killed: objects not published by os.replace?\n{proc.stderr}"
    assert project.snapshot_ids() == [] and not project.manifests_dir.exists()
    assert not project.conf_data_dir.exists()
    objects = [p for p in (ObjectStore(project.store_dir).root / "objects").rglob("*") if p.is_file()]
    assert len(objects) == published
    for obj in objects:  # whole objects only, each under its own hash, read-only
        assert hashlib.sha256(obj.read_bytes()).hexdigest() == obj.parent.name + obj.name
        assert not obj.stat().st_mode & 0o222
    result = create_snapshot(project, src, snapshot_id="DS-1.0.0")
    assert result.new_objects == 480 - published
    assert project.snapshot_ids() == ["DS-1.0.0"]
    assert verify(project, "DS-1.0.0").ok


def test_a_split_without_a_class_is_warned_about(project, tmp_path):
    """One image of 'b': it cannot reach every split; snapshot and show say so (the preflight too)."""
    from mlflow_cv.render import to_text

    labels = {f"i{n}": "0 0.5 0.5 0.2 0.2\n" for n in range(12)} | {"only_b": "1 0.5 0.5 0.2 0.2\n"}
    result = create_snapshot(project, write_yolo(tmp_path / "src", labels), snapshot_id="DS-1.0.0")
    gaps = result.manifest.split_gaps
    assert gaps and all(names == ("b",) for names in gaps.values()) and len(gaps) == 2
    assert "has no b (too few images of them to reach every split" in to_text(result.__rich__())
    assert "has no b" in to_text(result.manifest.render())
