"""Snapshots through a real ``mlflow server`` with proxied artifacts: push, pull, dedup, resume, faults."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlflow_cv.data.checkout import checkout
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.remote import pull, push, set_remote
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import SnapshotError, StoreError
from mlflow_cv.project import Project
from tests.helpers.servers import Server, free_port


@pytest.fixture
def remote(mlflow_server: Server) -> str:
    return f"mlflow-artifacts://{mlflow_server.url.split('//')[1]}/snapshots-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def source(tmp_path: Path, shapes_dir: Callable[[str], Path]) -> Project:
    project = Project(root=tmp_path / "source")
    create_snapshot(project, shapes_dir("1.0.0"), snapshot_id="DS-1.0.0")
    create_snapshot(project, shapes_dir("1.1.0"), snapshot_id="DS-1.1.0", parent="DS-1.0.0")
    return project


def on_server(server: Server, remote: str) -> Path:
    return server.root / "artifacts" / remote.rsplit("/", 1)[1]


def objects_of(project: Project, *ids: str) -> set[str]:
    return {f.sha256 for sid in ids for f in load_manifest(project, sid).files}


def test_round_trip_dedup_and_nothing_twice(source: Project, remote: str, tmp_path: Path) -> None:
    first = push(source, ["DS-1.0.0"], remote=remote)
    assert first.moved == first.objects == len(objects_of(source, "DS-1.0.0"))
    second = push(source, ["DS-1.1.0"], remote=remote)
    assert second.moved == len(objects_of(source, "DS-1.1.0") - objects_of(source, "DS-1.0.0")) < second.objects
    assert push(source, ["DS-1.0.0", "DS-1.1.0"], remote=remote).moved == 0  # a listing, nothing moves
    clone = Project(root=tmp_path / "clone")
    got = pull(clone, ["DS-1.1.0"], remote=remote)
    assert got.moved == got.objects
    assert load_manifest(clone, "DS-1.1.0").sha256 == load_manifest(source, "DS-1.1.0").sha256
    assert (clone.conf_data_dir / "DS-1.1.0.yaml").read_text() == (source.conf_data_dir / "DS-1.1.0.yaml").read_text()
    a, b = checkout(source, "DS-1.1.0", tmp_path / "a"), checkout(clone, "DS-1.1.0", tmp_path / "b")
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / rel).read_bytes() == (b / rel).read_bytes() for rel in files_a)
    assert pull(clone, ["DS-1.0.0"], remote=remote).moved == len(
        objects_of(source, "DS-1.0.0") - objects_of(source, "DS-1.1.0")
    )


def test_checkout_pulls_from_the_configured_remote(source: Project, remote: str, tmp_path: Path) -> None:
    push(source, ["DS-1.0.0"], remote=remote)
    clone = Project(root=tmp_path / "clone")
    set_remote(clone, remote)
    pull(clone, ["DS-1.0.0"])  # manifest first (a checkout needs to know the snapshot)
    for sha in objects_of(clone, "DS-1.0.0"):
        path = ObjectStore(clone.store_dir).object_path(sha)
        os.chmod(path, 0o644)
        path.unlink()
    out = checkout(clone, "DS-1.0.0", tmp_path / "co")
    assert (out / "data.yaml").is_file() and all(
        ObjectStore(clone.store_dir).has(s) for s in objects_of(clone, "DS-1.0.0")
    )


def test_interrupted_push_resumes_without_uploading_twice(source: Project, remote: str, mlflow_server: Server) -> None:
    total = len(objects_of(source, "DS-1.0.0"))
    count = 0

    def interrupt(n: int) -> None:
        nonlocal count
        count += n
        if count >= 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        push(source, ["DS-1.0.0"], remote=remote, progress=SimpleNamespace(start=lambda total: None, advance=interrupt))
    stored = on_server(mlflow_server, remote)
    uploaded = [p for p in (stored / "objects").rglob("*") if p.is_file()]
    assert 25 <= len(uploaded) < total and not (stored / "manifests").exists()  # no manifest: incomplete
    victim = uploaded[0]
    victim.write_bytes(victim.read_bytes()[:10])  # an upload cut short
    resumed = push(source, ["DS-1.0.0"], remote=remote)
    assert resumed.moved == total - len(uploaded) + 1
    assert (stored / "manifests" / "DS-1.0.0.json").is_file()


def test_corrupt_remote_object_is_refused_and_named(
    source: Project, remote: str, mlflow_server: Server, tmp_path: Path
) -> None:
    push(source, ["DS-1.0.0"], remote=remote)
    victim = next(p for p in (on_server(mlflow_server, remote) / "objects").rglob("*") if p.is_file())
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    clone = Project(root=tmp_path / "clone")
    sha = victim.parent.name + victim.name
    with pytest.raises(StoreError, match="could not be pulled; nothing was added") as info:
        pull(clone, ["DS-1.0.0"], remote=remote)
    assert any(p.startswith(f"{sha}: corrupt on the remote") for p in info.value.problems)
    assert not (ObjectStore(clone.store_dir).root / "objects").exists() and not clone.manifest_path("DS-1.0.0").exists()


def test_unreachable_remote_changes_nothing(source: Project, tmp_path: Path) -> None:
    dead = f"mlflow-artifacts://127.0.0.1:{free_port()}/snapshots"
    with pytest.raises(StoreError, match="unreachable"):
        push(source, ["DS-1.0.0"], remote=dead)
    clone = Project(root=tmp_path / "clone")
    with pytest.raises(StoreError, match="unreachable"):
        pull(clone, ["DS-1.0.0"], remote=dead)
    assert not clone.root.exists() or not any(clone.root.rglob("*.json"))


def test_overlapping_pushes_at_once(source: Project, remote: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def run(ids: list[str]) -> None:
        try:
            push(source, ids, remote=remote)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(ids,)) for ids in (["DS-1.0.0"], ["DS-1.1.0"], ["DS-1.0.0", "DS-1.1.0"])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    clone = Project(root=tmp_path / "clone")
    assert pull(clone, ["DS-1.0.0", "DS-1.1.0"], remote=remote).moved == len(objects_of(source, "DS-1.0.0", "DS-1.1.0"))


def test_unknown_snapshot_on_the_remote(remote: str, tmp_path: Path, source: Project) -> None:
    push(source, ["DS-1.0.0"], remote=remote)
    with pytest.raises(SnapshotError, match="DS-9.9.9 is not on the remote"):
        pull(Project(root=tmp_path / "clone"), ["DS-9.9.9"], remote=remote)
