"""``mlflow-cv data …``: immutable, content-addressed dataset snapshots (snapshot, import, list, show, verify,
diff, checkout, remote, push, pull). Each command calls one public-API function and shows its result."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import mlflow_cv as cv
from mlflow_cv.cli.common import Group, json_option, print_json, project_option, remote_option

__all__ = ["data"]


@click.group(cls=Group)
def data() -> None:
    """Immutable, content-addressed dataset snapshots.

    \b
    Example: mlflow-cv data list
    """


@data.command("snapshot")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--id", "snapshot_id", help="Snapshot id DS-MAJOR.MINOR.PATCH (or use --parent with --bump).")
@click.option("--parent", help="The snapshot this one derives from; the semver bump is checked against it.")
@click.option("--bump", type=click.Choice(["major", "minor", "patch"]), help="Pick the next free id of this kind.")
@click.option("--seed", type=int, help="Split seed (default: the parent's, else 42).")
@click.option("--split", "split_text", help="Ratios like train=0.7,val=0.2,test=0.1, or 'from-dirs'.")
@click.option("--task", type=click.Choice(["detect", "segment", "pose", "classify"]), help="Default: parent's/detect.")
@click.option("--classes", help="Class map as a comma-separated list (else data.yaml 'names' or classes.txt).")
@click.option("--notes", default="", help="Free text kept in the manifest.")
@click.option(
    "--attributes",
    "attribute_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Image attributes: CSV (a 'path' column, a column per attribute) or JSONL; repeatable.",
)
@click.option(
    "--attr",
    "attr_rules",
    multiple=True,
    metavar="NAME=VALUE:GLOB",
    help="Give NAME=VALUE to every image whose path matches GLOB, e.g. 'time_of_day=night:**/night/**'.",
)
@project_option
def data_snapshot(
    source: Path,
    snapshot_id: str | None,
    parent: str | None,
    bump: str | None,
    seed: int | None,
    split_text: str | None,
    task: str | None,
    classes: str | None,
    notes: str,
    attribute_files: tuple[Path, ...],
    attr_rules: tuple[str, ...],
    project: cv.Project,
) -> None:
    """Freeze the dataset at SOURCE as a new snapshot: manifest, stored bytes, conf/data/DS-….yaml.
    Image attributes (slices such as time_of_day:night) come from --attributes files and --attr rules,
    paths relative to SOURCE; a child snapshot does not inherit its parent's.

    \b
    Examples:
      mlflow-cv data snapshot data/shapes --id DS-1.0.0 --notes "initial"
      mlflow-cv data snapshot data/shapes --parent DS-1.0.0 --bump minor
      mlflow-cv data snapshot data/shapes --parent DS-1.1.0 --bump patch --attr 'time_of_day=night:**/night/**'
    """
    with cv.progress_on_stderr("hashing") as progress:
        cv.show(
            cv.create_snapshot(
                project,
                source,
                snapshot_id=snapshot_id,
                parent=parent,
                bump=cv.Bump.parse(bump) if bump else None,
                task=task,
                class_map=classes,
                split=split_text,
                seed=seed,
                notes=notes,
                attributes=attribute_files,
                attr_rules=attr_rules,
                progress=progress,
            )
        )


@data.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(cv.IMPORT_FORMATS))
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--images",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The images folder (needed when SOURCE is an annotation file; default: the export's).",
)
@click.option(
    "--task",
    type=click.Choice(["detect", "segment"]),
    help="coco, cvat, labelstudio (default: segment if the export has polygons, else detect).",
)
@click.option(
    "--out-of-bounds",
    type=click.Choice(["refuse", "clip"]),
    default="refuse",
    show_default=True,
    help="Shapes reaching outside their image: refuse the import, or clip them (counted).",
)
@click.option("--drop-invalid", is_flag=True, help="Drop (and count) zero-area boxes and empty polygons; else refuse.")
@click.option("--voc-drop-difficult", is_flag=True, help="voc: drop objects marked difficult (default: keep, flagged).")
@click.option("--palette", help="masks: colour per class, 'road=128,64,128;car=0,0,142' (0,0,0 is background).")
@click.option("--classes", help="masks: index classes 'road,car' (pixel = id + 1); voc/cvat/labelstudio: class order.")
@click.option("--min-area", type=int, help="masks: smallest region kept, in pixels (default 10).")
@click.option(
    "--link",
    type=click.Choice(["copy", "hardlink"]),
    default="copy",
    show_default=True,
    help="Copy the images, or hard-link them where possible (faster; edits then show in both).",
)
def data_import(
    fmt: str,
    source: Path,
    dest: Path,
    images: Path | None,
    task: str | None,
    out_of_bounds: str,
    drop_invalid: bool,
    voc_drop_difficult: bool,
    palette: str | None,
    classes: str | None,
    min_area: int | None,
    link: str,
) -> None:
    """Convert a labelling tool's export (FORMAT: coco, voc, cvat, labelstudio, masks, folders) at SOURCE into
    a new YOLO-layout tree DEST that `data snapshot` takes, with its provenance in DEST/.mlflow-cv-import/.
    Every problem is listed at once and nothing is written to DEST unless the whole export converts.

    \b
    Examples:
      mlflow-cv data import coco exports/coco data/shapes              # annotations/*.json + images/
      mlflow-cv data import labelstudio export.json data/shapes --images uploads
      mlflow-cv data import masks exports/roads data/roads --palette 'road=128,64,128;car=0,0,142'
      mlflow-cv data snapshot data/shapes --id DS-1.0.0
    """
    cv.show(
        cv.import_dataset(
            fmt,
            source,
            dest,
            images=images,
            task=task,
            out_of_bounds=out_of_bounds,
            drop_invalid=drop_invalid,
            voc_drop_difficult=voc_drop_difficult,
            palette=palette,
            classes=classes,
            min_area=min_area,
            link=link,
        )
    )


@data.command("list")
@json_option
@project_option
def data_list(as_json: bool, project: cv.Project) -> None:
    """List the frozen snapshots, oldest first.

    \b
    Example: mlflow-cv data list
    """
    snapshots = cv.list_snapshots(project)
    print_json(snapshots.to_list()) if as_json else cv.show(snapshots)


@data.command("show")
@click.argument("snapshot_id")
@click.option("--files", is_flag=True, help="Also list every file with its hash.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
@project_option
def data_show(snapshot_id: str, files: bool, as_json: bool, project: cv.Project) -> None:
    """Show one snapshot: lineage, class map, split, counts per class and split.

    \b
    Example: mlflow-cv data show DS-1.1.1
    """
    manifest = cv.load_manifest(project, snapshot_id)
    print_json(manifest.to_dict(with_sha256=True)) if as_json else cv.show(manifest.render(files=files))


@data.command("verify")
@click.argument("snapshot_id")
@click.argument("source", required=False, type=click.Path(file_okay=False, path_type=Path))
@json_option
@project_option
def data_verify(snapshot_id: str, source: Path | None, as_json: bool, project: cv.Project) -> None:
    """Check SOURCE (else the store's objects) against a snapshot: missing, modified, extra files.

    A stat cache vouches for unchanged files: a re-check costs about a stat per file. Exits 1 on drift.

    \b
    Examples:
      mlflow-cv data verify DS-1.1.1 examples/shapes/data
      mlflow-cv data verify DS-1.1.1
    """
    with cv.progress_on_stderr("verifying") as progress:
        report = cv.verify(project, snapshot_id, source, progress=progress)
    print_json(report.to_dict()) if as_json else cv.show(report)
    if not report.ok:
        sys.exit(1)


@data.command("diff")
@click.argument("old")
@click.argument("new")
@json_option
@click.option("--limit", default=10, show_default=True, help="Paths shown per section.")
@project_option
def data_diff(old: str, new: str, as_json: bool, limit: int, project: cv.Project) -> None:
    """What changed from snapshot OLD to NEW, and the semver bump that change requires.

    \b
    Example: mlflow-cv data diff DS-1.1.0 DS-1.1.1
    """
    d = cv.diff_snapshots(project, old, new)
    print_json(d.to_dict()) if as_json else cv.show(d.render(limit=limit))


@data.command("checkout")
@click.argument("snapshot_id")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--link",
    type=click.Choice(["copy", "hardlink"]),
    default="copy",
    show_default=True,
    help="copy (reflink where possible) or hard-link the read-only objects (for read-only use).",
)
@project_option
def data_checkout(snapshot_id: str, dest: Path, link: str, project: cv.Project) -> None:
    """Write a snapshot's exact bytes to DEST, with a data.yaml Ultralytics can train on.

    \b
    Example: mlflow-cv data checkout DS-1.1.1 /tmp/ds-1.1.1 && yolo train data=/tmp/ds-1.1.1/data.yaml
    """
    with cv.progress_on_stderr("checking out") as progress:
        out = cv.checkout(
            project, snapshot_id, dest, link="hardlink" if link == "hardlink" else "copy", progress=progress
        )
    click.echo(f"checked out {snapshot_id} to {out}; train with data={out / 'data.yaml'}")


@data.command("remote")
@click.argument("uri", required=False)
@project_option
def data_remote(uri: str | None, project: cv.Project) -> None:
    """Show the project's remote, or set it to any artifact URI MLflow supports (in mlflow-cv.yaml).

    \b
    Example: mlflow-cv data remote mlflow-artifacts://127.0.0.1:5000/snapshots
    """
    shown = f"{uri} (in {cv.set_remote(project, uri)})" if uri else cv.configured_remote(project) or "none"
    click.echo(f"remote: {shown}")


def _transfer(verb: str, snapshot_ids: tuple[str, ...], remote: str | None, project: cv.Project) -> None:
    move = cv.push if verb == "push" else cv.pull
    with cv.progress_on_stderr(f"{verb}ing") as progress:
        cv.show(move(project, list(snapshot_ids), remote=remote, progress=progress))


@data.command("push")
@click.argument("snapshot_ids", nargs=-1, required=True)
@remote_option
@project_option
def data_push(snapshot_ids: tuple[str, ...], remote: str | None, project: cv.Project) -> None:
    """Upload snapshots (missing objects, then manifests) to the remote. Resumable.

    \b
    Example: mlflow-cv data push DS-1.0.0 DS-1.1.0 DS-1.1.1
    """
    _transfer("push", snapshot_ids, remote, project)


@data.command("pull")
@click.argument("snapshot_ids", nargs=-1, required=True)
@remote_option
@project_option
def data_pull(snapshot_ids: tuple[str, ...], remote: str | None, project: cv.Project) -> None:
    """Download snapshots from the remote; every object is verified before it enters the store.

    \b
    Example: mlflow-cv data pull DS-1.1.1 && mlflow-cv data checkout DS-1.1.1 /tmp/ds
    """
    _transfer("pull", snapshot_ids, remote, project)
