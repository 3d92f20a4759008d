"""The ``mlflow-cv`` command line: a thin shell over the library.

Each command calls one library function and prints its result; :class:`MlflowCvError` is turned into
``error: …`` on stderr and exit status 2 here, and only here. ``data verify`` exits 1 on drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mlflow_cv._version import __version__
from mlflow_cv.errors import MlflowCvError
from mlflow_cv.progress import progress_bar

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns library errors into one clean message instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlflowCvError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


def _project(path: str | None) -> Any:
    from mlflow_cv.data.snapshots import Project

    return Project.at(path)


_project_option = click.option(
    "--project",
    type=click.Path(file_okay=False),
    default=None,
    help="Project folder holding data/manifests and conf/ (default: $MLFLOW_CV_PROJECT or the current folder).",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-cv")
def cli() -> None:
    """Reproducible computer-vision training on MLflow.

    \b
    Example:
      mlflow-cv data snapshot examples/shapes/data --id DS-1.0.0
    """


@cli.group(cls=_Group)
def data() -> None:
    """Immutable, content-addressed dataset snapshots.

    \b
    Example:
      mlflow-cv data list
    """


@data.command("snapshot")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--id", "snapshot_id", help="Snapshot id DS-MAJOR.MINOR.PATCH (or use --parent with --bump).")
@click.option("--parent", help="The snapshot this one derives from; the semver bump is checked against it.")
@click.option("--bump", type=click.Choice(["major", "minor", "patch"]), help="Pick the next free id of this kind.")
@click.option("--seed", type=int, help="Split seed (default: the parent's, else 42).")
@click.option("--split", "split_text", help="Ratios like train=0.7,val=0.2,test=0.1, or 'from-dirs'.")
@click.option(
    "--task",
    type=click.Choice(["detect", "segment", "pose", "classify"]),
    help="Default: parent's, else detect.",
)
@click.option("--classes", help="Class map as a comma-separated list (else data.yaml 'names' or classes.txt).")
@click.option("--notes", default="", help="Free text kept in the manifest.")
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
    project: str | None,
) -> None:
    """Freeze the dataset at SOURCE as a new snapshot.

    Hashes every image and label, checks the semver bump against --parent, stores the bytes in the
    content-addressed store, and writes data/manifests/DS-….json (read-only) and conf/data/DS-….yaml.

    \b
    Examples:
      mlflow-cv data snapshot data/shapes --id DS-1.0.0 --notes "initial"
      mlflow-cv data snapshot data/shapes --parent DS-1.0.0 --bump minor
      mlflow-cv data snapshot data/yolo --id DS-0.1.0 --split from-dirs
    """
    from mlflow_cv.data.labels import parse_class_list
    from mlflow_cv.data.snapshots import create_snapshot
    from mlflow_cv.data.splits import DEFAULT_RATIOS, DEFAULT_SEED, SplitSpec, parse_ratios
    from mlflow_cv.semver import Bump

    proj = _project(project)
    split = None
    if split_text == "from-dirs":
        if seed is not None:
            raise click.UsageError("--seed has no meaning with --split from-dirs")
        split = SplitSpec(method="from-dirs", seed=None, ratios=())
    elif split_text is not None or seed is not None:
        base = proj.load(parent).split if parent else SplitSpec()
        ratios = parse_ratios(split_text) if split_text else (base.ratios or DEFAULT_RATIOS)
        split = SplitSpec(method="hash", seed=seed if seed is not None else (base.seed or DEFAULT_SEED), ratios=ratios)
    with progress_bar("hashing", 10**9) as progress:
        result = create_snapshot(
            proj,
            source,
            snapshot_id=snapshot_id,
            parent=parent,
            bump=Bump.parse(bump) if bump else None,
            task=task,
            class_map=parse_class_list(classes) if classes else None,
            split=split,
            notes=notes,
            progress=progress,
        )
    m = result.manifest
    click.echo(f"created {m.snapshot_id}  manifest {m.sha256}")
    click.echo(f"  {m.stats.images} images, {m.stats.labels} label files, {m.stats.background} background")
    click.echo(f"  splits: {', '.join(f'{k}={len(v)}' for k, v in m.splits.items())}  ({_split_text(m.split)})")
    click.echo(f"  read {result.hashed} file(s), stored {result.new_objects} new object(s)")
    if result.declared is not None:
        click.echo(f"  {result.declared.name} bump of {m.parent}:")
        for reason in result.reasons:
            click.echo(f"    - {reason}")
    if result.skipped:
        click.echo(
            f"  skipped {len(result.skipped)} file(s) that are neither images nor labels, e.g. {result.skipped[0]}"
        )
    click.echo(f"  wrote {result.path} and conf/data/{m.snapshot_id}.yaml")


def _split_text(split: Any) -> str:
    if split.method == "from-dirs":
        return "from-dirs"
    return f"seed {split.seed}, " + ",".join(f"{n}={r:g}" for n, r in split.ratios)


@data.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_project_option
def data_list(as_json: bool, project: str | None) -> None:
    """List the frozen snapshots, oldest first.

    \b
    Example:
      mlflow-cv data list
    """
    proj = _project(project)
    rows = []
    for sid in proj.snapshot_ids():
        m = proj.load(sid)
        rows.append(
            {"id": sid, "parent": m.parent, "created_at": m.created_at, "images": m.stats.images,
             "labels": m.stats.labels, "classes": len(m.class_map), "manifest_sha256": m.sha256, "notes": m.notes}
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no snapshots yet: create one with `mlflow-cv data snapshot SOURCE --id DS-0.1.0`")
        return
    click.echo(f"{'ID':<12} {'PARENT':<12} {'CREATED':<21} {'IMAGES':>7} {'LABELS':>7}  MANIFEST      NOTES")
    for r in rows:
        click.echo(
            f"{r['id']:<12} {r['parent'] or '-':<12} {r['created_at']:<21} {r['images']:>7} {r['labels']:>7}  "
            f"{str(r['manifest_sha256'])[:12]}  {r['notes']}"
        )


@data.command("show")
@click.argument("snapshot_id")
@click.option("--files", is_flag=True, help="Also list every file with its hash.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
@_project_option
def data_show(snapshot_id: str, files: bool, as_json: bool, project: str | None) -> None:
    """Show one snapshot: lineage, class map, split, counts per class and split.

    \b
    Example:
      mlflow-cv data show DS-1.1.1
    """
    m = _project(project).load(snapshot_id)
    if as_json:
        click.echo(json.dumps({**m.to_dict(), "manifest_sha256": m.sha256}, indent=1, sort_keys=True))
        return
    click.echo(f"{m.snapshot_id}  (parent {m.parent or '-'}, created {m.created_at}, mlflow-cv {m.tool_version})")
    click.echo(f"manifest sha256: {m.sha256}")
    click.echo(f"task: {m.task}  labels: {m.label_format}  split: {_split_text(m.split)}")
    click.echo("classes: " + ", ".join(f"{k}={v}" for k, v in m.class_map.items()))
    if m.notes:
        click.echo(f"notes: {m.notes}")
    names = list(m.class_map.values())
    click.echo(f"\n{'':<8} {'images':>7} {'labels':>7} {'backgr.':>7}  " + " ".join(f"{n:>10}" for n in names))
    for name, s in [("all", m.stats), *m.split_stats.items()]:
        counts = " ".join(f"{s.instances.get(n, 0):>10}" for n in names)
        click.echo(f"{name:<8} {s.images:>7} {s.labels:>7} {s.background:>7}  {counts}")
    if files:
        click.echo("")
        for f in m.files:
            click.echo(f"{f.sha256}  {f.size:>10}  {f.kind:<5}  {f.path}")


@data.command("verify")
@click.argument("snapshot_id")
@click.argument("source", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_project_option
def data_verify(snapshot_id: str, source: Path | None, as_json: bool, project: str | None) -> None:
    """Check files against a snapshot: missing, modified and extra files by path.

    With SOURCE, checks that folder (working files or a checkout); without it, checks the store's
    objects. Unchanged files are vouched for by a stat cache, so re-checks are fast. Exits 1 on drift.

    \b
    Examples:
      mlflow-cv data verify DS-1.1.1 examples/shapes/data
      mlflow-cv data verify DS-1.1.1
    """
    from mlflow_cv.data.checkout import verify

    proj = _project(project)
    n = len(proj.load(snapshot_id).files)
    with progress_bar("verifying", n) as progress:
        report = verify(proj, snapshot_id, source, progress=progress)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        state = "OK" if report.ok else "DRIFT"
        click.echo(
            f"{state}: {report.snapshot_id} vs {report.target}: {report.checked} file(s) checked, "
            f"{report.hashed} read, {len(report.missing)} missing, {len(report.modified)} modified, "
            f"{len(report.extra)} extra"
        )
        for line in report.problems():
            click.echo(f"  {line}")
    if not report.ok:
        sys.exit(1)


@data.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@click.option("--limit", default=10, show_default=True, help="Paths shown per section.")
@_project_option
def data_diff(old: str, new: str, as_json: bool, limit: int, project: str | None) -> None:
    """What changed from snapshot OLD to NEW, and the semver bump that change requires.

    \b
    Example:
      mlflow-cv data diff DS-1.1.0 DS-1.1.1
    """
    from mlflow_cv.data.diff import diff_manifests

    proj = _project(project)
    d = diff_manifests(proj.load(old), proj.load(new))
    if as_json:
        click.echo(json.dumps(d.to_dict(), indent=2))
        return
    click.echo(f"{d.old} → {d.new}: requires a {d.required.name} bump")
    for reason in d.reasons:
        click.echo(f"  - {reason}")
    for line in d.summary_lines(limit=limit):
        click.echo(line)


@data.command("checkout")
@click.argument("snapshot_id")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--link", type=click.Choice(["copy", "hardlink"]), default="copy", show_default=True,
              help="copy (reflink where possible) or hard-link the read-only objects (for read-only use).")  # fmt: skip
@_project_option
def data_checkout(snapshot_id: str, dest: Path, link: str, project: str | None) -> None:
    """Write a snapshot's exact bytes to DEST, with a data.yaml Ultralytics can train on.

    \b
    Example:
      mlflow-cv data checkout DS-1.1.1 /tmp/ds-1.1.1 && yolo train data=/tmp/ds-1.1.1/data.yaml
    """
    from mlflow_cv.data.checkout import checkout

    proj = _project(project)
    n = len(proj.load(snapshot_id).files)
    with progress_bar("checking out", n) as progress:
        out = checkout(proj, snapshot_id, dest, link="hardlink" if link == "hardlink" else "copy", progress=progress)
    click.echo(f"checked out {snapshot_id} ({n} files) to {out}; train with data={out / 'data.yaml'}")


@data.command("remote")
@click.argument("uri", required=False)
@_project_option
def data_remote(uri: str | None, project: str | None) -> None:
    """Show the project's remote, or set it (written to mlflow-cv.yaml: commit it).

    Any artifact URI MLflow supports: mlflow-artifacts://HOST:PORT/path (a tracking server with
    proxied artifacts), s3://bucket/prefix, file:///shared/path. $MLFLOW_CV_REMOTE overrides it.

    \b
    Examples:
      mlflow-cv data remote mlflow-artifacts://127.0.0.1:5000/snapshots
      mlflow-cv data remote
    """
    from mlflow_cv.data.remote import configured_remote, set_remote

    proj = _project(project)
    if uri:
        click.echo(f"remote: {uri} (in {set_remote(proj, uri)})")
    else:
        click.echo(f"remote: {configured_remote(proj) or 'none'}")


def _transfer(verb: str, snapshot_ids: tuple[str, ...], remote: str | None, project: str | None) -> None:
    from mlflow_cv.data import remote as remotes

    proj = _project(project)
    total = sum(len(proj.load(s).files) for s in snapshot_ids) if verb == "push" else 0
    with progress_bar(f"{verb}ing", total) as progress:
        r = getattr(remotes, verb)(proj, list(snapshot_ids), remote=remote, progress=progress)
    click.echo(
        f"{verb}ed {', '.join(r.snapshot_ids)}: {r.moved} of {r.objects} object(s) moved "
        f"({r.bytes / 1e6:.1f} MB) in {r.seconds:.1f} s; the rest were there already"
    )


_remote_option = click.option("--remote", help="Artifact URI; default: the project's remote (mlflow-cv data remote).")


@data.command("push")
@click.argument("snapshot_ids", nargs=-1, required=True)
@_remote_option
@_project_option
def data_push(snapshot_ids: tuple[str, ...], remote: str | None, project: str | None) -> None:
    """Upload snapshots (missing objects, then manifests) to the remote. Resumable.

    \b
    Example:
      mlflow-cv data push DS-1.0.0 DS-1.1.0 DS-1.1.1
    """
    _transfer("push", snapshot_ids, remote, project)


@data.command("pull")
@click.argument("snapshot_ids", nargs=-1, required=True)
@_remote_option
@_project_option
def data_pull(snapshot_ids: tuple[str, ...], remote: str | None, project: str | None) -> None:
    """Download snapshots from the remote; every object is verified before it enters the store.

    \b
    Example:
      mlflow-cv data pull DS-1.1.1 && mlflow-cv data checkout DS-1.1.1 /tmp/ds
    """
    _transfer("pull", snapshot_ids, remote, project)


@cli.command("preflight", context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1)
@_project_option
def preflight(overrides: tuple[str, ...], project: str | None) -> None:
    """Run train.py's preflight checks for a config, without training. Exits 1 when one fails.

    OVERRIDES are Hydra overrides, as for train.py. The snapshot is checked out (or an earlier
    checkout re-verified) exactly as training would read it.

    \b
    Example:
      mlflow-cv preflight data=DS-1.1.1 model=yolo
    """
    from mlflow_cv.tags import TAG_PREFLIGHT
    from mlflow_cv.training import compose_job, preflight_job

    proj = _project(project)
    report, _ = preflight_job(compose_job(proj.root, overrides), project=proj, show_progress=True)
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
@click.option("--tracking-uri", help="Default: $MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@_project_option
def compare(
    run_ids: tuple[str, ...], experiment: str | None, last: int, tracking_uri: str | None, as_json: bool,
    project: str | None,
) -> None:  # fmt: skip
    """Runs side by side: snapshot, commit, config id, the params that differ, final metrics.

    \b
    Examples:
      mlflow-cv compare 3f2a9c1b… 8e41d0aa…
      mlflow-cv compare --experiment shapes-demo --last 2
    """
    from mlflow.tracking import MlflowClient

    from mlflow_cv.tracking.compare import compare_runs, latest_runs
    from mlflow_cv.tracking.server import resolve_tracking_uri

    client = MlflowClient(resolve_tracking_uri(tracking_uri, project_root=_project(project).root))
    if experiment:
        run_ids = (*run_ids, *latest_runs(client, experiment, last))
    if not run_ids:
        raise click.UsageError("give RUN_IDS or --experiment")
    result = compare_runs(client, run_ids)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.table())


@cli.group(cls=_Group)
def model() -> None:
    """Registered models: semantic versions, gated promotion through aliases, history, rollback.

    \b
    Example:
      mlflow-cv model register 3f2a9c1b… --name shapes-detector
    """


_tracking_option = click.option(
    "--tracking-uri", help="Default: $MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db."
)


def _registry(tracking_uri: str | None, project: str | None) -> Any:
    from mlflow_cv.registry.client import registry_client
    from mlflow_cv.tracking.server import resolve_tracking_uri

    return registry_client(resolve_tracking_uri(tracking_uri, project_root=_project(project).root))


@model.command("register")
@click.argument("run_id")
@click.option("--name", required=True, help="Registered model name.")
@click.option("--bump", type=click.Choice(["auto", "major", "minor", "patch"]), default="auto", show_default=True,
              help="auto: the bump the lineage requires; a smaller one is refused.")  # fmt: skip
@click.option("--version", "version", help="Declare the semver (X.Y.Z) instead of bumping.")
@_tracking_option
@_project_option
def model_register(
    run_id: str, name: str, bump: str, version: str | None, tracking_uri: str | None, project: str | None
) -> None:
    """Register a training run's model with the semantic version its lineage requires.

    Against the highest version: architecture, class map or task changed → MAJOR; dataset or config →
    MINOR; only code → PATCH (metrics must stay within tolerance). Release notes become the description.

    \b
    Examples:
      mlflow-cv model register 3f2a9c1b… --name shapes-detector
      mlflow-cv model register 3f2a9c1b… --name shapes-detector --version 2.0.0
    """
    from mlflow_cv.registry.register import register

    r = register(_registry(tracking_uri, project), run_id, name=name, bump=bump, version=version)
    how = f"{r.bump.name} bump from v{r.supersedes}" if r.supersedes else "first version"
    click.echo(f"registered {r.name} v{r.semver} (version {r.version}): {how}")
    for reason in r.reasons:
        click.echo(f"  - {reason}")


@model.command("promote")
@click.argument("name")
@click.argument("semver")
@click.option("--to", "alias", required=True, help="The alias to move, e.g. production or staging.")
@click.option("--why", default="", help="Recorded in the history.")
@click.option("--dry-run", is_flag=True, help="Show the verdict of every gate; move nothing.")
@_tracking_option
@_project_option
def model_promote(
    name: str, semver: str, alias: str, why: str, dry_run: bool, tracking_uri: str | None, project: str | None
) -> None:
    """Move an alias to a version (by semver) when every gate passes. Exits 1 when a gate fails.

    \b
    Examples:
      mlflow-cv model promote shapes-detector 1.1.0 --to production --why "better on night images"
      mlflow-cv model promote shapes-detector 1.1.0 --to production --dry-run
    """
    from mlflow_cv.errors import GateError
    from mlflow_cv.registry.aliases import promote

    try:
        p = promote(_registry(tracking_uri, project), name, semver, alias=alias, why=why, dry_run=dry_run)
    except GateError as exc:
        click.echo(f"refused: {exc.message}", err=True)
        for problem in exc.problems:
            click.echo(f"  FAIL {problem}", err=True)
        sys.exit(1)
    _print_move(p, dry_run)


def _print_move(p: Any, dry_run: bool) -> None:
    for gate in p.gates:
        click.echo(f"  {gate.line()}")
    failed = any(not g.passed for g in p.gates)
    if dry_run:
        click.echo(f"dry run: {p.name} v{p.semver} → {p.alias!r} would be {'refused' if failed else 'allowed'}")
        if failed:
            sys.exit(1)
    elif p.moved:
        click.echo(f"{p.alias}: {'v' + p.previous if p.previous else 'unset'} → v{p.semver} ({p.kind})")
    else:
        click.echo(f"{p.alias} already points to v{p.semver}")


@model.command("rollback")
@click.argument("name")
@click.option("--alias", required=True, help="The alias to move back, e.g. production.")
@click.option("--why", default="", help="Recorded in the history.")
@click.option("--dry-run", is_flag=True, help="Show where it would go; move nothing.")
@_tracking_option
@_project_option
def model_rollback(
    name: str, alias: str, why: str, dry_run: bool, tracking_uri: str | None, project: str | None
) -> None:
    """Move an alias back to the version that held it before the current one.

    \b
    Example:
      mlflow-cv model rollback shapes-detector --alias production --why "regressed on night images"
    """
    from mlflow_cv.registry.aliases import rollback

    _print_move(rollback(_registry(tracking_uri, project), name, alias=alias, why=why, dry_run=dry_run), dry_run)


@model.command("policy")
@click.argument("name")
@click.option("--set", "new", help="JSON to store as the policy, e.g. '{\"tolerance\": 0.02}'.")
@_tracking_option
@_project_option
def model_policy(name: str, new: str | None, tracking_uri: str | None, project: str | None) -> None:
    """Show (or set) a registered model's policy: tolerance, protected aliases, gates, metrics.

    \b
    Examples:
      mlflow-cv model policy shapes-detector
      mlflow-cv model policy shapes-detector --set '{"tolerance": 0.02, "protected": ["production"]}'
    """
    from mlflow_cv.registry.client import policy, set_policy

    client = _registry(tracking_uri, project)
    shown = set_policy(client, name, new) if new is not None else policy(client, name)
    click.echo(json.dumps(json.loads(shown.to_json()), indent=2))


@model.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
@_tracking_option
@_project_option
def model_history(name: str, as_json: bool, tracking_uri: str | None, project: str | None) -> None:
    """Every alias move of a registered model: when, who, from, to, why, gate results.

    \b
    Example:
      mlflow-cv model history shapes-detector
    """
    import dataclasses

    from mlflow_cv.registry.aliases import history

    events = history(_registry(tracking_uri, project), name)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(e) for e in events], indent=2))
        return
    if not events:
        click.echo(f"no alias of {name} has moved yet")
    for e in events:
        frm = f"v{e.from_semver}" if e.from_version else "unset"
        click.echo(
            f"{e.when}  {e.alias:<12} {frm} → v{e.to_semver}  {e.kind:<8} by {e.who}" + (f": {e.why}" if e.why else "")
        )
        for gate in e.gates:
            click.echo(f"    {gate}")


@cli.command("diff")
@click.argument("a")
@click.argument("b")
@click.option("--model", help="Registered model, when A or B is a bare semantic version (1.4.2).")
@click.option("--tolerance", default=0.01, show_default=True, help="A metric drop beyond this is a regression.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_tracking_option
@_project_option
def diff(
    a: str, b: str, model: str | None, tolerance: float, as_json: bool, tracking_uri: str | None, project: str | None
) -> None:
    """What changed from A to B: code, data, config and metrics, and a verdict.

    A and B are run ids, models:/NAME/VERSION, models:/NAME@ALIAS, or semvers with --model.

    \b
    Examples:
      mlflow-cv diff models:/shapes-detector/1 models:/shapes-detector@production
      mlflow-cv diff 1.4.2 1.5.0 --model shapes-detector --json
    """
    from mlflow_cv.audit.run_diff import diff_runs

    result = diff_runs(
        _registry(tracking_uri, project), a, b, project=_project(project), model=model, tolerance=tolerance
    )
    click.echo(json.dumps(result.to_dict(), indent=2, default=str) if as_json else result.report())


@cli.command("reproduce")
@click.argument("ref")
@click.option("--model", help="Registered model, when REF is a bare semantic version.")
@click.option("--tolerance", type=float, help="Compare metrics within this instead of requiring equal weights.")
@click.option(
    "--keep", type=click.Path(file_okay=False, path_type=Path), help="Keep the re-run's outputs here (a new folder)."
)
@_tracking_option
@_project_option
def reproduce_cmd(
    ref: str, model: str | None, tolerance: float | None, keep: Path | None, tracking_uri: str | None,
    project: str | None,
) -> None:  # fmt: skip
    """Rebuild a run from its tags alone (commit, snapshot, config) and prove it matches. Exit 1 if not.

    \b
    Examples:
      mlflow-cv reproduce models:/shapes-detector@production
      mlflow-cv reproduce 3f2a9c1b… --tolerance 0.02
    """
    from mlflow_cv.audit.reproduce import reproduce

    result = reproduce(
        _registry(tracking_uri, project), ref, project=_project(project), model=model, tolerance=tolerance, keep=keep
    )
    click.echo(result.table())
    if not result.passed:
        sys.exit(1)


def main() -> None:
    cli()
