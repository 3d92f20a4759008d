"""A run is what it says it is: hidden code, data edited mid-run, nested image folders, concurrent
checkouts and an unwritable artifact location, each tried as an attacker or a hurried colleague would."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlflow_cv.data.checkout import verify
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.project import Project
from mlflow_cv.training import compose_job, preflight_job
from tests.helpers.data import ShapeStages
from tests.helpers.projects import EXPERIMENT, TINY, client_for, git, make_train_project, run_id_of, run_train

COMMIT = ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam"]


@pytest.fixture
def proj(tmp_path: Path, shape_stages: ShapeStages) -> Project:
    return make_train_project(tmp_path / "project", shapes=shape_stages, stages=("1.0.0",))


@pytest.mark.slow  # runs train.py (it stops at the preflight)
def test_hidden_ignored_code_is_refused_before_training(proj: Project) -> None:
    root = proj.root
    (root / "local_patch.py").write_text("LR0 = 0.5\n")
    with (root / ".gitignore").open("a") as f:
        f.write("local_patch.py\n")
    train = (root / "train.py").read_text()
    (root / "train.py").write_text(
        "try:\n    import local_patch  # noqa: F401\nexcept ImportError:\n    pass\n" + train
    )
    git(root, *COMMIT, "a train.py that quietly imports an ignored file")
    out = run_train(proj, "data=DS-1.0.0", *TINY, check=False)
    assert out.returncode == 2, out.stdout[-2000:]
    assert "dirty_code" in out.stderr and "local_patch.py (ignored)" in out.stderr, out.stderr[-2000:]
    assert "run " not in out.stdout


@pytest.mark.slow
def test_data_edited_mid_run_fails_the_run(proj: Project) -> None:
    """Label files edited in the checkout after the preflight verified it: the run must not finish."""
    cmd = [
        sys.executable,
        str(proj.root / "train.py"),
        "data=DS-1.0.0",
        *TINY,
        "train.epochs=4",
        f"tracking.experiment={EXPERIMENT}",
    ]
    proc = subprocess.Popen(cmd, cwd=proj.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    edited: list[Path] = []
    deadline = time.monotonic() + 300
    while not edited and proc.poll() is None and time.monotonic() < deadline:
        started = list(proj.root.glob("outputs/*/*/ultralytics"))
        checkouts = list((proj.state_dir / "checkouts").glob("DS-1.0.0-*"))
        if started and checkouts:
            for label in sorted((checkouts[0] / "labels").glob("*.txt"))[:30]:
                label.chmod(0o644)  # read-only while training; root (or a determined user) writes anyway
                label.write_text("0 0.5 0.5 0.9 0.9\n")
                edited.append(label)
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=600)
    assert edited, f"training ended before the edit could be made:\n{stderr[-2000:]}"
    assert proc.returncode == 2, stdout[-2000:]
    assert "changed under the run" in stderr and "labels/" in stderr, stderr[-3000:]
    runs = client_for(proj).search_runs([client_for(proj).get_experiment_by_name(EXPERIMENT).experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


@pytest.mark.slow
def test_images_in_subfolders_train_twice_on_one_checkout(tmp_path: Path, shape_stages: ShapeStages) -> None:
    """Ultralytics writes labels/cam_a.cache into the checkout; the next preflight must not call it drift."""
    root = tmp_path / "project"
    proj = make_train_project(root, shapes=shape_stages, stages=())
    data = tmp_path / "cams"
    shape_stages.bring(data, "1.0.0")
    for image in sorted((data / "images").glob("*.jpg")):
        cam = "cam_a" if int(image.stem.rsplit("_", 1)[1]) % 2 else "cam_b"
        for kind, path in (("images", image), ("labels", data / "labels" / f"{image.stem}.txt")):
            (data / kind / cam).mkdir(exist_ok=True)
            path.rename(data / kind / cam / path.name)
    create_snapshot(proj, data, snapshot_id="DS-1.0.0")
    git(root, "add", "-A")
    git(root, *COMMIT, "nested snapshot")
    first = run_id_of(run_train(proj, "data=DS-1.0.0", *TINY, f"tracking.experiment={EXPERIMENT}"))
    second = run_id_of(run_train(proj, "data=DS-1.0.0", *TINY, f"tracking.experiment={EXPERIMENT}"))
    assert first != second
    checkout = next((proj.state_dir / "checkouts").glob("DS-1.0.0-*"))
    assert verify(proj, "DS-1.0.0", checkout).ok
    code = json.loads(Path(client_for(proj).download_artifacts(second, "lineage/code.json", str(tmp_path))).read_text())
    assert code["pinned"]["train.py"] == git(root, "rev-parse", "HEAD:train.py") and not code["unpinned"]


def test_concurrent_checkouts_of_one_snapshot(proj: Project, tmp_path: Path) -> None:
    dest = tmp_path / "checkout"
    script = (
        "import sys; from pathlib import Path; from mlflow_cv.project import Project; "
        "from mlflow_cv.data.checkout import checkout; "
        "checkout(Project(root=Path(sys.argv[1])), 'DS-1.0.0', Path(sys.argv[2]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(proj.root), str(dest)], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert verify(proj, "DS-1.0.0", dest).ok
    assert not list(tmp_path.glob(".checkout.partial-*"))


def test_unwritable_artifact_location_is_refused_before_training(proj: Project, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the artifact root should be")
    client_for(proj).create_experiment("blocked", artifact_location=(blocker / "artifacts").as_uri())
    report = preflight_job(compose_job(proj.root, ["data=DS-1.0.0", "tracking.experiment=blocked"]), project=proj)
    problems = {c.name: c.detail for c in report.failed}
    assert "artifacts" in problems and "is a file, not a folder" in problems["artifacts"], problems
    fresh = preflight_job(compose_job(proj.root, ["data=DS-1.0.0", "tracking.experiment=new"]), project=proj)
    assert fresh.passed and any(c.name == "artifacts" and c.detail.endswith("/mlruns") for c in fresh.checks)
