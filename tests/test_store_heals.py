"""The store heals instead of spreading damage: a snapshot that reuses a stored object checks it, and
replaces a corrupt one from the snapshot's own (good) source bytes, reporting it."""

import os
import time

import pytest

from mlflow_cv.data.checkout import verify
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.data.store import CHECK_ALL_UP_TO, CHECK_FRACTION, ContentSample, ObjectStore
from mlflow_cv.render import to_text


def _age(root, seconds=5):
    """Make every file look older than the racy window, as files at rest are (the stat cache keeps them)."""
    past = time.time() - seconds
    for dirpath, _, names in os.walk(root):
        for n in names:
            os.utime(os.path.join(dirpath, n), (past, past))


def _corrupt(obj, how):
    """Damage a stored (read-only) object in place: one byte flipped (same size), or cut in half."""
    data = bytearray(obj.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[len(data) // 2 :]
    os.chmod(obj, 0o644)
    obj.write_bytes(bytes(data))
    os.chmod(obj, 0o444)


@pytest.fixture
def snap(project, shapes_dir):
    src = shapes_dir()
    _age(src)
    manifest = create_snapshot(project, src, snapshot_id="DS-1.0.0").manifest
    return project, src, manifest


def _unique(manifest, kind):
    """An entry of ``kind`` whose bytes no other file of the snapshot shares."""
    counts = {}
    for f in manifest.files:
        counts[f.sha256] = counts.get(f.sha256, 0) + 1
    return next(f for f in manifest.files if f.kind == kind and counts[f.sha256] == 1)


@pytest.mark.parametrize("how", ["flip", "truncate"])
@pytest.mark.parametrize("kind", ["image", "label"])  # an image comes from the stat cache, a label is read
def test_a_snapshot_heals_a_corrupt_object_it_reuses(snap, kind, how):
    project, src, m = snap
    entry = _unique(m, kind)
    obj = ObjectStore(project.store_dir).object_path(entry.sha256)
    _corrupt(obj, how)
    assert verify(project, "DS-1.0.0").modified == (entry.path,)
    (src / "images" / "extra.jpg").write_bytes(b"\xff\xd8 one more image")  # images added: a MINOR bump

    result = create_snapshot(project, src, snapshot_id="DS-1.1.0", parent="DS-1.0.0")

    assert verify(project, "DS-1.1.0").ok and verify(project, "DS-1.0.0").ok, (
        "the corrupt object was reused: the damage spread"
    )
    assert result.healed == (entry.sha256,)
    assert result.new_objects == 1, "the healed object is not counted as new"
    assert f"healed 1 corrupt store object(s): {entry.path} ({entry.sha256[:12]})" in to_text(result)
    assert obj.read_bytes() == (src / entry.path).read_bytes()
    assert not obj.stat().st_mode & 0o222, "the replacement is read-only like every object"
    assert not any((ObjectStore(project.store_dir).root / "tmp").iterdir())


def test_a_large_file_streamed_into_the_store_heals_too(snap, monkeypatch):
    project, src, m = snap
    monkeypatch.setattr("mlflow_cv.data.build.SMALL_FILE", 64)  # every image is "large": streamed, not put
    entry = _unique(m, "image")
    _corrupt(ObjectStore(project.store_dir).object_path(entry.sha256), "flip")
    (src / "images" / "extra.jpg").write_bytes(b"\xff\xd8 one more image, longer than sixty-four bytes" * 2)

    result = create_snapshot(project, src, snapshot_id="DS-1.1.0", parent="DS-1.0.0")

    assert verify(project, "DS-1.1.0").ok, "the corrupt object was reused: the damage spread"
    assert result.healed == (entry.sha256,) and result.new_objects == 1


def test_damage_to_objects_the_snapshot_does_not_reuse_is_left_alone(snap):
    project, src, m = snap
    gone = _unique(m, "image")
    obj = ObjectStore(project.store_dir).object_path(gone.sha256)
    _corrupt(obj, "flip")
    damaged, before = obj.read_bytes(), obj.stat()
    (src / gone.path).unlink()  # images removed: a MINOR bump; its label goes with it
    (src / "labels" / (gone.path.rsplit("/", 1)[1].rsplit(".", 1)[0] + ".txt")).unlink(missing_ok=True)

    result = create_snapshot(project, src, snapshot_id="DS-1.1.0", parent="DS-1.0.0")

    assert result.healed == () and "healed" not in to_text(result)
    assert obj.read_bytes() == damaged and obj.stat().st_ino == before.st_ino, "not touched"
    assert verify(project, "DS-1.1.0").ok
    assert verify(project, "DS-1.0.0").modified == (gone.path,), "still reported by a store verify"


def test_an_intact_store_is_reused_not_rewritten(snap):
    project, src, m = snap
    inodes = {f.sha256: ObjectStore(project.store_dir).object_path(f.sha256).stat().st_ino for f in m.files}
    (src / "images" / "extra.jpg").write_bytes(b"\xff\xd8 one more image")
    result = create_snapshot(project, src, snapshot_id="DS-1.1.0", parent="DS-1.0.0")
    assert result.healed == () and result.new_objects == 1
    assert all(ObjectStore(project.store_dir).object_path(sha).stat().st_ino == ino for sha, ino in inodes.items())


def test_the_content_sample_is_all_on_small_snapshots_and_a_bounded_share_on_large_ones():
    shas = [f"{i:064x}"[::-1] for i in range(20_000)]
    assert all(ContentSample.for_snapshot("DS-1.0.0", CHECK_ALL_UP_TO).picks(s) for s in shas)
    mid = ContentSample.for_snapshot("DS-1.0.0", 4 * CHECK_ALL_UP_TO)
    assert mid.rate == pytest.approx(1 / 4)
    large = ContentSample.for_snapshot("DS-1.0.0", 1_000_000)
    assert large.rate == CHECK_FRACTION
    picked = [s for s in shas if large.picks(s)]
    assert 0.5 * CHECK_FRACTION * len(shas) < len(picked) < 1.5 * CHECK_FRACTION * len(shas)
    assert picked == [s for s in shas if ContentSample.for_snapshot("DS-1.0.0", 1_000_000).picks(s)], "deterministic"
    other = [s for s in shas if ContentSample.for_snapshot("DS-1.1.0", 1_000_000).picks(s)]
    assert other != picked, "each snapshot id checks a different sample"
