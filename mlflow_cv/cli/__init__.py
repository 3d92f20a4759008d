"""The ``mlflow-cv`` command line: each command calls one library function and prints what it returns.

Results render themselves (:mod:`mlflow_cv.render`), or ``--json`` prints their ``to_dict()``; long calls
report their own progress on stderr. Here, and only here, a :class:`MlflowCvError` becomes ``error: …``
with its problems and exit status 2 (a :class:`GateError`: 1). Exit 1 also on drift (``data verify``),
a failed check (``preflight``, a ``--dry-run`` promotion) or a run not reproduced (``reproduce``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import mlflow_cv as cv  # the public API: each name loads on first use, so a command imports what it needs
from mlflow_cv._version import __version__
from mlflow_cv.data.importers.common import FORMATS as IMPORT_FORMATS
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.errors import GateError, MlflowCvError
from mlflow_cv.render import progress_on_stderr, show
from mlflow_cv.tags import TAG_PREFLIGHT

if TYPE_CHECKING:
    from mlflow_cv.project import Project

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns library errors into one clean message, with the problems behind it, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlflowCvError as exc:
            click.echo(f"error: {exc}", err=True)  # str(): the message, then one line per problem
            ctx.exit(1 if isinstance(exc, GateError) else 2)


def _json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=str))


def _client(tracking_uri: str | None, project: Project) -> Any:
    return cv.registry_client(tracking_uri, project_root=project.root)


_project_option = click.option(
    "--project",
    type=click.Path(file_okay=False),
    callback=lambda _ctx, _param, path: cv.Project.at(path),
    help="Project folder holding data/manifests and conf/ (default: $MLFLOW_CV_PROJECT or the current folder).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table or text.")
_remote_option = click.option("--remote", help="Artifact URI; default: the project's remote (mlflow-cv data remote).")


def _store_options(command: Any) -> Any:
    """``--tracking-uri`` and ``--project``, for the commands that read MLflow."""
    tracking = click.option("--tracking-uri", help="Default: $MLFLOW_TRACKING_URI, else <project>/mlflow.db.")
    return tracking(_project_option(command))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-cv")
def cli() -> None:
    """Reproducible computer-vision training on MLflow.

    \b
    Example: mlflow-cv data snapshot examples/shapes/data --id DS-1.0.0
    """
    # MLflow's download bars would land in the middle of tables and --json output; set it to true to see them
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@cli.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="The project's name in its README (default: the folder's name).")
def init_cmd(directory: Path, name: str | None) -> None:
    """Start a project of your own: train.py, conf/ (Hydra groups), a .gitignore that keeps machine state
    out and the snapshot pins in, a README stub; git init when DIRECTORY is not in a repository yet.
    Refuses to overwrite any file.

    \b
    Example: mlflow-cv init roads && cd roads && mlflow-cv data snapshot ~/exports/roads --id ROADS-1.0.0
    """
    from mlflow_cv.scaffold import init_project

    show(init_project(directory, name=name))


@cli.group(cls=_Group)
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
@_project_option
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
    project: Project,
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
    with progress_on_stderr("hashing") as progress:
        show(
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
@click.argument("fmt", metavar="FORMAT", type=click.Choice(IMPORT_FORMATS))
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
    show(
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
@_json_option
@_project_option
def data_list(as_json: bool, project: Project) -> None:
    """List the frozen snapshots, oldest first.

    \b
    Example: mlflow-cv data list
    """
    snapshots = cv.list_snapshots(project)
    _json(snapshots.to_list()) if as_json else show(snapshots)


@data.command("show")
@click.argument("snapshot_id")
@click.option("--files", is_flag=True, help="Also list every file with its hash.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
@_project_option
def data_show(snapshot_id: str, files: bool, as_json: bool, project: Project) -> None:
    """Show one snapshot: lineage, class map, split, counts per class and split.

    \b
    Example: mlflow-cv data show DS-1.1.1
    """
    manifest = load_manifest(project, snapshot_id)
    _json(manifest.to_dict(with_sha256=True)) if as_json else show(manifest.render(files=files))


@data.command("verify")
@click.argument("snapshot_id")
@click.argument("source", required=False, type=click.Path(file_okay=False, path_type=Path))
@_json_option
@_project_option
def data_verify(snapshot_id: str, source: Path | None, as_json: bool, project: Project) -> None:
    """Check SOURCE (else the store's objects) against a snapshot: missing, modified, extra files.

    A stat cache vouches for unchanged files: a re-check costs about a stat per file. Exits 1 on drift.

    \b
    Examples:
      mlflow-cv data verify DS-1.1.1 examples/shapes/data
      mlflow-cv data verify DS-1.1.1
    """
    with progress_on_stderr("verifying") as progress:
        report = cv.verify(project, snapshot_id, source, progress=progress)
    _json(report.to_dict()) if as_json else show(report)
    if not report.ok:
        sys.exit(1)


@data.command("diff")
@click.argument("old")
@click.argument("new")
@_json_option
@click.option("--limit", default=10, show_default=True, help="Paths shown per section.")
@_project_option
def data_diff(old: str, new: str, as_json: bool, limit: int, project: Project) -> None:
    """What changed from snapshot OLD to NEW, and the semver bump that change requires.

    \b
    Example: mlflow-cv data diff DS-1.1.0 DS-1.1.1
    """
    d = cv.diff_snapshots(project, old, new)
    _json(d.to_dict()) if as_json else show(d.render(limit=limit))


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
@_project_option
def data_checkout(snapshot_id: str, dest: Path, link: str, project: Project) -> None:
    """Write a snapshot's exact bytes to DEST, with a data.yaml Ultralytics can train on.

    \b
    Example: mlflow-cv data checkout DS-1.1.1 /tmp/ds-1.1.1 && yolo train data=/tmp/ds-1.1.1/data.yaml
    """
    with progress_on_stderr("checking out") as progress:
        out = cv.checkout(
            project, snapshot_id, dest, link="hardlink" if link == "hardlink" else "copy", progress=progress
        )
    click.echo(f"checked out {snapshot_id} to {out}; train with data={out / 'data.yaml'}")


@data.command("remote")
@click.argument("uri", required=False)
@_project_option
def data_remote(uri: str | None, project: Project) -> None:
    """Show the project's remote, or set it to any artifact URI MLflow supports (in mlflow-cv.yaml).

    \b
    Example: mlflow-cv data remote mlflow-artifacts://127.0.0.1:5000/snapshots
    """
    from mlflow_cv.data.remote import configured_remote, set_remote

    shown = f"{uri} (in {set_remote(project, uri)})" if uri else configured_remote(project) or "none"
    click.echo(f"remote: {shown}")


def _transfer(verb: str, snapshot_ids: tuple[str, ...], remote: str | None, project: Project) -> None:
    from mlflow_cv.data import remote as remotes

    with progress_on_stderr(f"{verb}ing") as progress:
        show(getattr(remotes, verb)(project, list(snapshot_ids), remote=remote, progress=progress))


@data.command("push")
@click.argument("snapshot_ids", nargs=-1, required=True)
@_remote_option
@_project_option
def data_push(snapshot_ids: tuple[str, ...], remote: str | None, project: Project) -> None:
    """Upload snapshots (missing objects, then manifests) to the remote. Resumable.

    \b
    Example: mlflow-cv data push DS-1.0.0 DS-1.1.0 DS-1.1.1
    """
    _transfer("push", snapshot_ids, remote, project)


@data.command("pull")
@click.argument("snapshot_ids", nargs=-1, required=True)
@_remote_option
@_project_option
def data_pull(snapshot_ids: tuple[str, ...], remote: str | None, project: Project) -> None:
    """Download snapshots from the remote; every object is verified before it enters the store.

    \b
    Example: mlflow-cv data pull DS-1.1.1 && mlflow-cv data checkout DS-1.1.1 /tmp/ds
    """
    _transfer("pull", snapshot_ids, remote, project)


@cli.command("preflight", context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1)
@_project_option
def preflight(overrides: tuple[str, ...], project: Project) -> None:
    """Run train.py's preflight checks for Hydra OVERRIDES, without training. Exits 1 when one fails.

    \b
    Example: mlflow-cv preflight data=DS-1.1.1 model=yolo
    """
    report, _ = cv.preflight_job(cv.compose_job(project.root, overrides), project=project, show_progress=True)
    click.echo(report.table())
    if report.overridden:
        click.echo(f"{TAG_PREFLIGHT} would be: {report.verdict}")
    if not report.passed:
        click.echo(f"refused: {len(report.failed)} check(s) failed", err=True)
        sys.exit(1)


@cli.command("compare")
@click.argument("run_ids", nargs=-1)
@click.option("--experiment", help="Compare the latest finished runs of this experiment instead.")
@click.option("--last", default=2, show_default=True, help="How many runs --experiment compares.")
@_json_option
@_store_options
def compare(
    run_ids: tuple[str, ...],
    experiment: str | None,
    last: int,
    tracking_uri: str | None,
    as_json: bool,
    project: Project,
) -> None:
    """Runs side by side: snapshot, commit, config id, the params that differ, final metrics.

    \b
    Examples:
      mlflow-cv compare 3f2a9c1b… 8e41d0aa…
      mlflow-cv compare --experiment shapes-demo --last 2
    """
    from mlflow_cv.tracking.compare import compare_runs
    from mlflow_cv.tracking.store import tracking_client

    client = tracking_client(tracking_uri, project_root=project.root)
    result = compare_runs(client, run_ids, experiment=experiment, last=last)
    _json(result.to_dict()) if as_json else show(result)


@cli.command("ui")
@click.option("--port", default=5000, show_default=True, help="Port on 127.0.0.1.")
@_store_options
def ui(port: int, tracking_uri: str | None, project: Project) -> None:
    """The MLflow UI on the project's store, through mlflow-cv's guards (plain `mlflow ui` bypasses them).

    \b
    Example:
      mlflow-cv ui --port 5000    # then open http://127.0.0.1:5000
    """
    from mlflow_cv.tracking.store import open_ui

    open_ui(tracking_uri, project_root=project.root, port=port)


@cli.group(cls=_Group)
def runs() -> None:
    """Training runs in MLflow.

    \b
    Example: mlflow-cv runs doctor
    """


@runs.command("doctor")
@click.option("--tracking-uri", help="Only runs in this tracking store (default: each run's own, as recorded).")
@_project_option
def runs_doctor(tracking_uri: str | None, project: Project) -> None:
    """End, as KILLED, the runs left RUNNING by trainings whose processes are gone (kill -9, OOM, reboot).

    Runs whose training still lives, or ran on another host, are left alone. Every training does this as it starts.

    \b
    Example: mlflow-cv runs doctor --project examples/shapes
    """
    from mlflow_cv.tracking.doctor import end_orphaned_runs

    show(end_orphaned_runs(project, tracking_uri=tracking_uri))


@cli.group(cls=_Group)
def model() -> None:
    """Registered models: semantic versions, gated promotion through aliases, history, rollback.

    \b
    Example: mlflow-cv model register 3f2a9c1b… --name shapes-detector
    """


@model.command("register")
@click.argument("run_id")
@click.option("--name", required=True, help="Registered model name.")
@click.option(
    "--bump",
    type=click.Choice(["auto", "major", "minor", "patch"]),
    default="auto",
    show_default=True,
    help="auto: the bump the lineage requires; a smaller one is refused.",
)
@click.option("--version", "version", help="Declare the semver (X.Y.Z) instead of bumping.")
@_store_options
def model_register(
    run_id: str, name: str, bump: str, version: str | None, tracking_uri: str | None, project: Project
) -> None:
    """Register a training run's model with the semantic version its lineage requires (DESIGN §4).

    \b
    Example: mlflow-cv model register 3f2a9c1b… --name shapes-detector
    """
    show(cv.register(_client(tracking_uri, project), run_id, name=name, bump=bump, version=version, project=project))


def _moved(promotion: Any) -> None:
    show(promotion)
    if promotion.dry_run and promotion.refused:
        sys.exit(1)


@model.command("promote")
@click.argument("name")
@click.argument("semver")
@click.option("--to", "alias", required=True, help="The alias to move, e.g. production or staging.")
@click.option("--why", default="", help="Recorded in the history.")
@click.option("--dry-run", is_flag=True, help="Show the verdict of every gate; move nothing.")
@_store_options
def model_promote(
    name: str, semver: str, alias: str, why: str, dry_run: bool, tracking_uri: str | None, project: Project
) -> None:
    """Move an alias to a version (by semver) when every gate passes. Exits 1 when a gate fails.

    \b
    Example: mlflow-cv model promote shapes-detector 1.1.0 --to production --why "better on night images"
    """
    _moved(
        cv.promote(_client(tracking_uri, project), name, semver, alias=alias, why=why, dry_run=dry_run, project=project)
    )


@model.command("rollback")
@click.argument("name")
@click.option("--alias", required=True, help="The alias to move back, e.g. production.")
@click.option("--why", default="", help="Recorded in the history.")
@click.option("--dry-run", is_flag=True, help="Show where it would go; move nothing.")
@_store_options
def model_rollback(name: str, alias: str, why: str, dry_run: bool, tracking_uri: str | None, project: Project) -> None:
    """Move an alias back to the version that held it before the current one.

    \b
    Example: mlflow-cv model rollback shapes-detector --alias production --why "regressed on night images"
    """
    _moved(cv.rollback(_client(tracking_uri, project), name, alias=alias, why=why, dry_run=dry_run))


@model.command("policy")
@click.argument("name")
@click.option("--set", "new", help="JSON to store as the policy, e.g. '{\"tolerance\": 0.02}'.")
@click.option("--allow-loosen", is_flag=True, help="Allow a policy looser than the current one (recorded).")
@click.option("--why", default="", help="Recorded in the history.")
@_store_options
def model_policy(
    name: str, new: str | None, allow_loosen: bool, why: str, tracking_uri: str | None, project: Project
) -> None:
    """Show (or set) a registered model's policy, as JSON: tolerance, protected aliases, gates, metrics,
    who checks artifacts. A looser policy (higher tolerance, a gate, alias or metric fewer) needs
    --allow-loosen; every change is in the history.

    \b
    Examples:
      mlflow-cv model policy shapes-detector
      mlflow-cv model policy shapes-detector --set '{"tolerance": 0.005}' --why "tighter for v2"
      mlflow-cv model policy shapes-detector --set '{"tolerance": 0.02}' --allow-loosen --why "noisy val set"
    """
    from mlflow_cv.registry.client import policy, set_policy

    client = _client(tracking_uri, project)
    if new is None:
        return show(policy(client, name))
    show(set_policy(client, name, new, allow_loosen=allow_loosen, why=why))


@model.command("history")
@click.argument("name")
@_json_option
@_store_options
def model_history(name: str, as_json: bool, tracking_uri: str | None, project: Project) -> None:
    """Every alias move and policy change of a registered model: when, who, from, to, why, gate results.

    \b
    Example: mlflow-cv model history shapes-detector
    """
    events = cv.history(_client(tracking_uri, project), name)
    _json(events.to_list()) if as_json else show(events)


@cli.command("diff")
@click.argument("a")
@click.argument("b")
@click.option("--model", help="Registered model, when A or B is a bare semantic version (1.4.2).")
@click.option("--tolerance", type=float, help="Override the policy's tolerance (default: B's model policy).")
@click.option("--no-evaluate", is_flag=True, help="Use recorded evaluations only; evaluate nothing now.")
@_json_option
@_store_options
def diff(
    a: str,
    b: str,
    model: str | None,
    tolerance: float | None,
    no_evaluate: bool,
    as_json: bool,
    tracking_uri: str | None,
    project: Project,
) -> None:
    """What changed from A to B (run ids, models:/NAME/VERSION, NAME@ALIAS): code, data, config, and both
    models on the same gate data, compared as the metrics gate compares them.

    \b
    Examples:
      mlflow-cv diff models:/shapes-detector/1 shapes-detector@production
      mlflow-cv diff 1.4.2 1.5.0 --model shapes-detector --json
    """
    result = cv.diff_runs(
        _client(tracking_uri, project),
        a,
        b,
        project=project,
        model=model,
        tolerance=tolerance,
        evaluate=not no_evaluate,
    )
    _json(result.to_dict()) if as_json else show(result)


@cli.command("reproduce")
@click.argument("ref")
@click.option("--model", help="Registered model, when REF is a bare semantic version.")
@click.option("--tolerance", type=float, help="Compare metrics within this instead of requiring equal weights.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), help="Keep the re-run's outputs here.")
@_store_options
def reproduce_cmd(
    ref: str, model: str | None, tolerance: float | None, keep: Path | None, tracking_uri: str | None, project: Project
) -> None:
    """Rebuild a run from its tags alone (commit, snapshot, config) and prove it matches. Exit 1 if not.

    \b
    Example: mlflow-cv reproduce models:/shapes-detector@production --tolerance 0.02
    """
    client = _client(tracking_uri, project)
    result = cv.reproduce(client, ref, project=project, model=model, tolerance=tolerance, keep=keep)
    show(result)
    if not result.passed:
        sys.exit(1)


@cli.command("evaluate")
@click.argument("ref")
@click.option("--data", "snapshot_id", required=True, help="The snapshot to evaluate on, e.g. DS-1.1.1.")
@click.option("--split", type=click.Choice(["val", "test", "all"]), default="val", show_default=True)
@click.option("--slices", "attributes", multiple=True, help="Score this attribute slice by slice (default: every one).")
@click.option("--model", help="Registered model, when REF is a bare semantic version.")
@click.option("--device", default="cpu", show_default=True, help="Where the model runs: cpu, cuda:0, ….")
@_json_option
@_store_options
def evaluate_cmd(
    ref: str,
    snapshot_id: str,
    split: str,
    attributes: tuple[str, ...],
    model: str | None,
    device: str,
    as_json: bool,
    tracking_uri: str | None,
    project: Project,
) -> None:
    """Evaluate any model on pinned data: overall, per class, per slice, latency; logged as an evaluation
    run (reused when the same weights, data, split and settings were evaluated before). REF is a run id,
    models:/NAME/VERSION, models:/NAME@ALIAS, NAME@ALIAS, or a semver with --model.

    \b
    Examples:
      mlflow-cv evaluate shapes-detector@production --data DS-1.1.1 --split test
      mlflow-cv evaluate 1.0.0 --model shapes-detector --data DS-1.1.1 --slices time_of_day
    """
    client = _client(tracking_uri, project)
    result = cv.evaluate(
        client,
        ref,
        project=project,
        data=snapshot_id,
        split=split,
        model=model,
        slices=attributes or None,
        device=device,
    )
    _json(result.to_dict()) if as_json else show(result)


@cli.command("triage")
@click.argument("name")
@click.option("--alias", default="production", show_default=True, help="The alias whose holder is triaged.")
@click.option("--against", help="Compare with this version (X.Y.Z); default: the alias's previous holder.")
@click.option("--rollback", "do_rollback", is_flag=True, help="Also roll the alias back (through the gates).")
@click.option("--why", default="", help="Recorded in the history with --rollback.")
@_json_option
@_store_options
def triage_cmd(
    name: str,
    alias: str,
    against: str | None,
    do_rollback: bool,
    why: str,
    as_json: bool,
    tracking_uri: str | None,
    project: Project,
) -> None:
    """A regression in five steps: what changed (code, data, config, processing), both versions on the
    same pinned data, the deltas overall, per class and per slice (the regressed slice named), whether
    it is a legal PATCH, and the rollback command (--rollback runs it).

    \b
    Examples:
      mlflow-cv triage shapes-detector
      mlflow-cv triage shapes-detector --alias staging --against 1.0.0 --json
      mlflow-cv triage shapes-detector --rollback --why "night-time recall dropped"
    """
    result = cv.triage(
        _client(tracking_uri, project),
        name,
        alias=alias,
        against=against,
        project=project,
        rollback=do_rollback,
        why=why,
    )
    _json(result.to_dict()) if as_json else show(result)


def main() -> None:
    cli()
