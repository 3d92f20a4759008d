"""The registry: bump rules (pure and against a real ``mlflow server``), gates, history, guard, concurrency."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_cv import history, promote, register, rollback
from mlflow_cv.errors import BumpError, ConfigError, GateError, RegistryError, SemverError
from mlflow_cv.project import Project
from mlflow_cv.registry.facts import VersionFacts
from mlflow_cv.registry.gates import (
    GateData,
    GateScores,
    evaluate_gates,
    metric_regressions,
    metrics_gate,
    required_bump,
)
from mlflow_cv.registry.policy import Policy
from mlflow_cv.semver import Bump, Version
from tests.helpers.registry import BASE_TAGS, METRICS, make_run, register_concurrently, register_evaluated
from tests.helpers.servers import Server


def facts(label: str = "old", metrics: dict[str, float] | None = None, **changes: str) -> VersionFacts:
    return VersionFacts(tags={**BASE_TAGS, **changes}, metrics=METRICS if metrics is None else metrics, label=label)


# --- the rules, without MLflow ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "required"),
    [
        ({"cv.model.arch_sha256": "9" * 64}, Bump.MAJOR),
        ({"cv.model.labelmap_sha256": "9" * 64}, Bump.MAJOR),
        ({"cv.model.task": "segment"}, Bump.MAJOR),
        ({"cv.data.manifest_sha256": "9" * 64}, Bump.MINOR),
        ({"cv.config.sha256": "9" * 64}, Bump.MINOR),
        ({"cv.code.commit": "9" * 40}, Bump.PATCH),
    ],
)
def test_required_bump_follows_the_table(change: dict[str, str], required: Bump) -> None:
    bump, reasons = required_bump(facts(), facts("new", **change), policy=Policy())
    assert bump is required
    assert reasons and reasons[0].startswith(required.name)


def test_a_data_change_is_not_called_a_config_change() -> None:
    old = facts(**{"cv.config.hparams_sha256": "1" * 64})
    new = facts(
        "new",
        **{"cv.config.hparams_sha256": "1" * 64, "cv.data.manifest_sha256": "9" * 64, "cv.config.sha256": "9" * 64},
    )
    bump, reasons = required_bump(old, new, policy=Policy())
    assert bump is Bump.MINOR and len(reasons) == 1 and reasons[0].startswith("MINOR: dataset changed")
    changed = facts("new", **{"cv.config.hparams_sha256": "2" * 64, "cv.config.sha256": "9" * 64})
    assert required_bump(old, changed, policy=Policy())[1][0].startswith("MINOR: training config changed")


def test_nothing_changed_requires_nothing() -> None:
    assert required_bump(facts(), facts("new"), policy=Policy())[0] is Bump.NONE


def test_code_only_change_that_moves_metrics_is_refused() -> None:
    moved = {**METRICS, "val/AP50-95/circle": 0.40}
    with pytest.raises(BumpError, match="a PATCH must not shift accuracy") as info:
        required_bump(facts(), facts("new", metrics=moved, **{"cv.code.commit": "9" * 40}), policy=Policy())
    assert info.value.problems == ("val/AP50-95/circle 0.5500 → 0.4000",)
    within = {**METRICS, "val/AP50-95/circle": 0.545}
    assert (
        required_bump(facts(), facts("n", metrics=within, **{"cv.code.commit": "9" * 40}), policy=Policy())[0]
        is Bump.PATCH
    )


def test_the_patch_rule_compares_on_the_gate_data() -> None:
    """Own validation metrics equal, but on the gate data a gated slice moved: not a PATCH; and the reason
    names the data it was compared on."""
    hotfix = facts("new", **{"cv.code.commit": "9" * 40})
    data = GateData("DS-1.1.1", "a" * 64, "test")
    night = "eval/slice/time_of_day:night/mAP50-95"
    old = {"eval/mAP50-95": 0.5, night: 0.45}
    gated = Policy(slices=("time_of_day",))

    def scores(new: dict[str, float]) -> GateScores:
        return GateScores(data, new, old)

    with pytest.raises(BumpError, match="beyond tolerance on DS-1.1.1/test") as info:
        required_bump(facts(), hotfix, policy=gated, scores=lambda: scores({**old, night: 0.30}))
    assert info.value.problems == (f"{night} 0.4500 → 0.3000",)
    bump, reasons = required_bump(facts(), hotfix, policy=Policy(), scores=lambda: scores({**old, night: 0.30}))
    assert bump is Bump.PATCH and reasons[0].endswith(f"within ±0.01 on {data}")  # the slice is not gated
    assert required_bump(facts(), hotfix, policy=gated)[1][0].endswith("on their own validation split")


def test_regressions_are_listed_worst_first_and_per_class() -> None:
    new = {**METRICS, "val/AP50-95/circle": 0.30, "val/mAP50-95": 0.48}
    assert metric_regressions(METRICS, new, 0.01) == [
        "val/AP50-95/circle: 0.3000 < 0.5500 - 0.01",
        "val/mAP50-95: 0.4800 < 0.5000 - 0.01",
    ]
    assert metric_regressions(METRICS, {k: v - 0.005 for k, v in METRICS.items()}, 0.01) == []
    assert metric_regressions({"val/AP50/x": 0.5}, {}, 0.01) == ["val/AP50/x: missing (was 0.5000)"]


def on_gate_data(candidate: VersionFacts, holder: VersionFacts | None) -> GateScores:
    """The two versions' metrics as evaluations on one gate data (``val/…`` → ``eval/…``)."""

    def renamed(m: Mapping[str, float]) -> dict[str, float]:
        return {"eval/" + k.removeprefix("val/"): v for k, v in m.items()}

    data = GateData("DS-1.0.0", "a" * 64, "val")
    return GateScores(data, renamed(candidate.metrics), renamed(holder.metrics) if holder else None)


def test_each_gate_fails_on_its_own() -> None:
    holder = facts("v1.0.0", **{"cv.semver": "1.0.0"})
    good = facts("v1.1.0", metrics={k: v + 0.01 for k, v in METRICS.items()}, **{"cv.semver": "1.1.0"})
    assert all(
        g.passed for g in evaluate_gates(good, holder, policy=Policy(), artifacts=[], scores=on_gate_data(good, holder))
    )
    cases: list[tuple[VersionFacts, list[str] | None, str]] = [
        (
            VersionFacts(tags={k: v for k, v in good.tags.items() if k != "cv.config.id"}, metrics=good.metrics),
            [],
            "lineage",
        ),
        (
            facts("x", metrics=good.metrics, **{"cv.semver": "1.1.0", "cv.preflight": "overridden: dirty_code"}),
            [],
            "preflight",
        ),
        (good, ["weights/best.pt: content changed since the run logged it"], "artifacts"),
        (facts("x", metrics={**good.metrics, "val/AP50-95/square": 0.2}, **{"cv.semver": "1.1.0"}), [], "metrics"),
        (facts("x", metrics=good.metrics, **{"cv.semver": "0.9.0"}), [], "semver"),
    ]
    for candidate, artifacts, gate in cases:
        gates = evaluate_gates(
            candidate, holder, policy=Policy(), artifacts=artifacts, scores=on_gate_data(candidate, holder)
        )
        assert [g.name for g in gates if not g.passed] == [gate]


def test_the_metrics_gate_compares_evaluations_on_the_same_data_only() -> None:
    """Own validation metrics do not count: without evaluations on the gate data the gate fails; a
    candidate better on its own val set but worse on the gate data is refused; a gated slice has its
    own tolerance; floors hold with no holder."""
    holder = facts("v1.0.0", **{"cv.semver": "1.0.0"})
    candidate = facts("v1.1.0", metrics={k: v + 0.2 for k, v in METRICS.items()}, **{"cv.semver": "1.1.0"})
    (gate,) = [g for g in evaluate_gates(candidate, holder, policy=Policy(), artifacts=[]) if g.name == "metrics"]
    assert not gate.passed and "no evaluations of both versions on the same gate data" in gate.detail
    data = GateData("DS-1.1.1", "b" * 64, "test")
    worse = GateScores(data, {"eval/mAP50": 0.60, "eval/mAP50-95": 0.40}, {"eval/mAP50": 0.70, "eval/mAP50-95": 0.41})
    verdict = metrics_gate(candidate, holder, policy=Policy(), scores=worse)
    assert not verdict.passed and verdict.detail.startswith("on DS-1.1.1/test (manifest bbbbbbbbbbbb): eval/mAP50:")
    night = {"eval/slice/time_of_day:night/mAP50": 0.30, "eval/mAP50": 0.70}
    sliced = GateScores(data, night, {"eval/slice/time_of_day:night/mAP50": 0.40, "eval/mAP50": 0.70})
    assert metrics_gate(candidate, holder, policy=Policy(), scores=sliced).passed  # slices not gated
    gated = Policy(slices=("time_of_day",), slice_tolerance=0.05)
    refused = metrics_gate(candidate, holder, policy=gated, scores=sliced)
    assert not refused.passed and "eval/slice/time_of_day:night/mAP50: 0.3000 < 0.4000 - 0.05" in refused.detail
    floors = Policy(min_metrics={"eval/mAP50": 0.3})
    low = GateScores(data, {"eval/mAP50": 0.0}, None)
    assert metrics_gate(candidate, None, policy=floors, scores=low).detail.endswith("eval/mAP50: 0.0000 < floor 0.3")
    assert metrics_gate(candidate, None, policy=Policy(), scores=None).passed  # no holder, no floors


def test_policy_from_json() -> None:
    assert Policy.from_json(None) == Policy()
    assert Policy.from_json('{"tolerance": 0.05, "protected": ["production", "qa"]}').protected == ("production", "qa")
    with pytest.raises(ConfigError, match="unknown fields"):
        Policy.from_json('{"tolerence": 0.05}')
    with pytest.raises(ConfigError, match="unknown gates"):
        Policy.from_json('{"gates": ["vibes"]}')


def test_one_view_of_a_version_whoever_read_it() -> None:
    """A client's ModelVersion, the guard's database fields and a run about to be registered give the
    same kind of value: gate metrics from ``cv.metrics`` (none when it does not parse), a label, a number."""
    from mlflow.entities.model_registry import ModelVersion, ModelVersionTag

    tags = {**BASE_TAGS, "cv.semver": "1.4.2", "cv.metrics": json.dumps(METRICS)}
    entity = ModelVersion(
        "m", "3", 0, run_id="r" * 32, source="models:/m-1", tags=[ModelVersionTag(k, v) for k, v in tags.items()]
    )
    seen = VersionFacts.of_model_version(entity)
    assert seen == VersionFacts.registered(name="m", version=3, run_id="r" * 32, source="models:/m-1", tags=tags)
    assert (seen.label, seen.version, seen.semver, dict(seen.metrics)) == (
        "v1.4.2 (#3)",
        "3",
        Version(1, 4, 2),
        METRICS,
    )
    broken = VersionFacts.registered(name="m", version="4", run_id=None, source="", tags={"cv.metrics": "[1]"})
    assert (broken.metrics, broken.label, broken.semver) == ({}, "v? (#4)", None)
    run = VersionFacts.of_run("3f2a9c1b" * 4, tags=BASE_TAGS, metrics=METRICS)
    assert (run.label, run.version, run.run_id, run.name) == ("run 3f2a9c1b", None, "3f2a9c1b" * 4, "")
    assert required_bump(seen, run, policy=Policy())[0] is Bump.NONE  # the rules read both alike


# --- against a real mlflow server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(mlflow_server: Server) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)


@pytest.fixture
def name() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


def better(delta: float = 0.05) -> dict[str, float]:
    return {k: v + delta for k, v in METRICS.items()}


def test_register_bump_rules_both_ways(client: MlflowClient, name: str, project: Project) -> None:
    first = register_evaluated(client, make_run(client), name=name, project=project)
    assert (str(first.semver), first.bump) == ("1.0.0", Bump.NONE)
    data_run = make_run(client, **{"cv.data.manifest_sha256": "9" * 64, "cv.data.snapshot": "DS-1.1.1"})
    with pytest.raises(BumpError, match="requires MINOR"):
        register(client, data_run, name=name, project=project, bump=Bump.PATCH)
    assert str(register(client, data_run, name=name, project=project).semver) == "1.1.0"
    arch_run = make_run(client, **{"cv.data.manifest_sha256": "9" * 64, "cv.model.arch_sha256": "8" * 64})
    with pytest.raises(BumpError, match="1.2.0 is a MINOR bump of v1.1.0, but the change requires MAJOR"):
        register(client, arch_run, name=name, project=project, version="1.2.0")
    assert str(register(client, arch_run, name=name, project=project, version="2.0.0").semver) == "2.0.0"
    code_run = make_run(
        client, **{"cv.data.manifest_sha256": "9" * 64, "cv.model.arch_sha256": "8" * 64, "cv.code.commit": "7" * 40}
    )
    patch = register(client, code_run, name=name, project=project)
    assert (str(patch.semver), patch.bump) == ("2.0.1", Bump.PATCH)
    with pytest.raises(BumpError, match=r"already registered as v2.0.1"):
        register(client, code_run, name=name, project=project)
    with pytest.raises(BumpError, match=r"already registered as v1.0.0"):  # not only the latest version counts
        register_evaluated(client, make_run(client), name=name, project=project)
    minor_anyway = make_run(
        client, **{"cv.data.manifest_sha256": "9" * 64, "cv.model.arch_sha256": "8" * 64, "cv.code.commit": "6" * 40}
    )
    assert (
        str(register(client, minor_anyway, name=name, project=project, bump=Bump.MINOR).semver) == "2.1.0"
    )  # more than required: fine
    semvers = sorted(v.tags["cv.semver"] for v in client.search_model_versions(f"name='{name}'"))
    assert semvers == ["1.0.0", "1.1.0", "2.0.0", "2.0.1", "2.1.0"]  # refused registrations left nothing


def test_release_notes(client: MlflowClient, name: str, project: Project) -> None:
    register_evaluated(client, make_run(client), name=name, project=project)
    run = make_run(
        client,
        metrics=better(),
        **{
            "cv.config.sha256": "9" * 64,
            "cv.config.id": "9" * 12,
            "cv.preflight": "overridden: dirty_code (1 uncommitted: x.py)",
        },
    )
    r = register(client, run, name=name, project=project)
    notes = client.get_model_version(name, r.version).description
    assert notes == r.notes
    for expected in (
        "## " + name + " v1.1.0",
        "MINOR bump from v1.0.0",
        "training config changed",
        "DS-1.0.0",
        "c" * 40,
        "9" * 12,
        run,
        "| val/AP50-95/circle | 0.6000 | +0.0500 |",
        "preflight overridden: dirty_code",
    ):
        assert expected in notes
    version = client.get_model_version(name, r.version)
    assert version.tags["cv.semver"] == "1.1.0" and version.tags["cv.data.snapshot"] == "DS-1.0.0"


def test_bad_input(client: MlflowClient, name: str, project: Project) -> None:
    with pytest.raises(RegistryError, match="unknown run"):
        register(client, "0" * 32, name=name, project=project)
    incomplete = make_run(client, **{"cv.config.id": ""})  # (deleting a cv.* tag is refused by the guard)
    with pytest.raises(RegistryError, match="lacks lineage tags") as info:
        register(client, incomplete, name=name, project=project)
    assert info.value.problems == ("cv.config.id",)
    with pytest.raises(SemverError):
        register_evaluated(client, make_run(client), name=name, project=project, version="1.0")
    register_evaluated(client, make_run(client), name=name, project=project, version="3.0.0")
    with pytest.raises(SemverError, match="must be higher than v3.0.0"):
        register_evaluated(
            client, make_run(client, **{"cv.model.arch_sha256": "1" * 64}), name=name, project=project, version="3.0.0"
        )
    with pytest.raises(RegistryError, match="no registered model"):
        promote(client, "no-such-model", "1.0.0", alias="production", project=project)
    with pytest.raises(RegistryError, match="has no version 9.9.9 .known: 3.0.0"):
        promote(client, name, "9.9.9", alias="production", project=project)
    with pytest.raises(RegistryError, match="nothing to roll back"):
        rollback(client, name, alias="production")
    promote(client, name, "3.0.0", alias="production", project=project)
    with pytest.raises(RegistryError, match="no previous holder"):
        rollback(client, name, alias="production")


def test_gates_and_per_class_regression(
    client: MlflowClient, name: str, mlflow_server: Server, project: Project
) -> None:
    register_evaluated(client, make_run(client), name=name, project=project)
    promote(client, name, "1.0.0", alias="production", project=project)
    worse_circle = {**better(), "val/AP50-95/circle": 0.40}
    register_evaluated(
        client, make_run(client, metrics=worse_circle, **{"cv.config.sha256": "9" * 64}), name=name, project=project
    )
    dry = promote(client, name, "1.1.0", alias="production", project=project, dry_run=True)
    assert [g.name for g in dry.gates if not g.passed] == ["metrics"] and not dry.moved
    with pytest.raises(GateError) as info:
        promote(client, name, "1.1.0", alias="production", project=project)
    assert info.value.problems == (
        "metrics: on DS-1.0.0/val (manifest aaaaaaaaaaaa): eval/AP50-95/circle: 0.4000 < 0.5500 - 0.01",
    )
    overridden = make_run(
        client, metrics=better(), **{"cv.config.sha256": "8" * 64, "cv.preflight": "overridden: seed (x)"}
    )
    register_evaluated(client, overridden, name=name, project=project)
    with pytest.raises(GateError, match="preflight"):
        promote(client, name, "1.2.0", alias="production", project=project)
    tampered = make_run(client, metrics=better(), **{"cv.config.sha256": "7" * 64})
    register_evaluated(client, tampered, name=name, project=project)
    weights = next((mlflow_server.root / "artifacts").rglob(f"{tampered}/artifacts/weights/best.pt"))
    weights.write_bytes(b"swapped")
    with pytest.raises(GateError) as info:
        promote(client, name, "1.3.0", alias="production", project=project)
    assert info.value.problems == ("artifacts: weights/best.pt: content changed since the run logged it",)
    assert promote(
        client, name, "1.1.0", alias="experiments", project=project
    ).moved  # unprotected alias: gates only reported
    assert client.get_model_version_by_alias(name, "production").tags["cv.semver"] == "1.0.0"


def test_history_promote_promote_rollback(client: MlflowClient, name: str, project: Project) -> None:
    register_evaluated(client, make_run(client), name=name, project=project)
    register_evaluated(
        client, make_run(client, metrics=better(), **{"cv.config.sha256": "9" * 64}), name=name, project=project
    )
    promote(client, name, "1.0.0", alias="production", project=project, why="first release")
    promote(client, name, "1.1.0", alias="production", project=project, why="better data")
    back = rollback(client, name, alias="production", why="night images regressed")
    assert (back.kind, back.semver, back.previous) == ("rollback", "1.0.0", "1.1.0")
    events = history(client, name)
    assert [(e.from_semver, e.to_semver, e.kind, e.why) for e in events] == [
        (None, "1.0.0", "promote", "first release"),
        ("1.0.0", "1.1.0", "promote", "better data"),
        ("1.1.0", "1.0.0", "rollback", "night images regressed"),
    ]
    assert all(e.who.startswith("unauthenticated (claims ") and e.when and e.gates for e in events)
    assert client.get_model_version_by_alias(name, "production").tags["cv.semver"] == "1.0.0"


def test_guard_refuses_plain_client_and_allows_legal_moves(client: MlflowClient, name: str, project: Project) -> None:
    register_evaluated(client, make_run(client), name=name, project=project)
    low = register_evaluated(
        client, make_run(client, metrics=better(-0.2), **{"cv.config.sha256": "9" * 64}), name=name, project=project
    )
    high = register_evaluated(
        client, make_run(client, metrics=better(), **{"cv.config.sha256": "8" * 64}), name=name, project=project
    )
    client.set_registered_model_alias(name, "production", high.version)  # legal: gates pass
    with pytest.raises(MlflowException, match="mlflow-cv guard: .* may not become 'production': metrics: .*semver"):
        client.set_registered_model_alias(name, "production", low.version)
    with pytest.raises(MlflowException, match="cv.semver of .* is set once"):
        client.set_model_version_tag(name, low.version, "cv.semver", "9.0.0")
    with pytest.raises(MlflowException, match="cannot be deleted"):
        client.delete_model_version_tag(name, low.version, "cv.semver")
    with pytest.raises(MlflowException, match="cv.preflight of .* is set once"):
        client.set_model_version_tag(name, low.version, "cv.preflight", "passed!")
    with pytest.raises(MlflowException, match="history is written by the registry only"):
        client.set_registered_model_tag(name, "cv.history.0000000000000.x", "{}")
    with pytest.raises(MlflowException, match="protected"):
        client.delete_registered_model_alias(name, "production")
    plain = client.create_run(client.get_experiment_by_name("registry").experiment_id)  # no lineage at all
    bare = client.create_model_version(name, source=f"{plain.info.artifact_uri}/weights", run_id=plain.info.run_id)
    with pytest.raises(MlflowException, match="already has cv.semver=1.1.0"):
        client.set_model_version_tag(name, bare.version, "cv.semver", "1.1.0")
    with pytest.raises(MlflowException, match="not a semantic version|MAJOR.MINOR.PATCH"):
        client.set_model_version_tag(name, bare.version, "cv.semver", "banana")
    client.set_model_version_tag(name, bare.version, "cv.semver", "5.0.0")  # legal: unique, above all before
    with pytest.raises(MlflowException, match="lineage: missing"):
        client.set_registered_model_alias(name, "production", bare.version)
    (event,) = history(client, name)
    assert (event.kind, event.to_semver, event.who) == ("direct", "1.2.0", "unauthenticated")
    assert client.get_model_version_by_alias(name, "production").version == high.version


def test_eight_concurrent_registrations_get_eight_semvers(
    client: MlflowClient, name: str, mlflow_server: Server
) -> None:
    register_concurrently(client, mlflow_server.url, name)


def test_a_policy_knows_when_another_loosens_it() -> None:
    base = Policy()
    assert (
        base.loosened_by(
            Policy(tolerance=0.005, gates=(*base.gates, "semver"), protected=("production", "staging", "qa"))
        )
        == []
    )
    assert base.loosened_by(Policy(tolerance=0.02)) == ["tolerance 0.01 → 0.02"]
    assert base.loosened_by(Policy(gates=("lineage", "preflight", "semver"))) == ["gates dropped: artifacts, metrics"]
    assert base.loosened_by(Policy(protected=("Production",))) == ["protected aliases dropped: staging"]
    assert base.loosened_by(Policy(per_class=())) == [
        f"per-class metric prefixes dropped: {', '.join(sorted(base.per_class))}"
    ]
    assert base.loosened_by(Policy(artifacts="client")) == ["artifacts checked by the client only (was: the server)"]
    assert Policy(artifacts="client").loosened_by(base) == []
    with pytest.raises(ConfigError, match="artifacts must be one of server, client"):
        Policy.from_json('{"artifacts": "nobody"}')


def test_policy_is_per_model(client: MlflowClient, name: str, mlflow_server: Server, project: Project) -> None:
    from click.testing import CliRunner

    from mlflow_cv.cli import cli
    from mlflow_cv.registry.client import set_policy

    register_evaluated(client, make_run(client), name=name, project=project)
    promote(client, name, "1.0.0", alias="production", project=project)
    register_evaluated(
        client, make_run(client, metrics=better(-0.03), **{"cv.config.sha256": "9" * 64}), name=name, project=project
    )
    with pytest.raises(GateError, match="metrics"):
        promote(client, name, "1.1.0", alias="production", project=project)
    with pytest.raises(RegistryError, match="loosens the rules") as info:
        set_policy(client, name, '{"tolerance": 0.05}')
    assert info.value.problems == ("tolerance 0.01 → 0.05",)
    set_policy(client, name, '{"tolerance": 0.05}', allow_loosen=True, why="noisy val set")
    assert promote(client, name, "1.1.0", alias="production", project=project).moved
    with pytest.raises(MlflowException, match="not a valid policy"):
        client.set_registered_model_tag(name, "cv.policy", '{"tolerence": 1}')
    shown = CliRunner().invoke(cli, ["model", "policy", name, "--tracking-uri", mlflow_server.url])
    assert shown.exit_code == 0 and json.loads(shown.output)["tolerance"] == 0.05


def test_guard_refuses_claims_deletions_and_policy_holes(client: MlflowClient, name: str, project: Project) -> None:
    run = make_run(client, **{"cv.preflight": "overridden: dirty_code (x)"})
    with pytest.raises(MlflowException, match="cv.preflight='passed' is not the tag of run"):
        client.create_registered_model(name)
        client.create_model_version(
            name, source=f"{client.get_run(run).info.artifact_uri}/weights", run_id=run, tags={"cv.preflight": "passed"}
        )
    with pytest.raises(MlflowException, match="cv.metrics does not match"):
        client.create_model_version(
            name,
            source=f"{client.get_run(run).info.artifact_uri}/weights",
            run_id=run,
            tags={"cv.metrics": json.dumps({"val/mAP50-95": 0.99})},
        )
    first = register_evaluated(client, make_run(client), name=name, project=project)
    promote(client, name, "1.0.0", alias="production", project=project)
    with pytest.raises(MlflowException, match="holds production"):
        client.delete_model_version(name, first.version)
    with pytest.raises(MlflowException, match="protected aliases"):
        client.delete_registered_model(name)
    for bad in ('{"gates": ["lineage", "metrics"]}', '{"protected": ["staging"]}', "[]", '{"protected": "production"}'):
        with pytest.raises(MlflowException, match="not a valid policy|stays protected"):
            client.set_registered_model_tag(name, "cv.policy", bad)
    client.set_registered_model_tag(name, "cv.move.request", "[]")  # malformed: the next move counts as direct
    register_evaluated(
        client, make_run(client, metrics=better(), **{"cv.config.sha256": "9" * 64}), name=name, project=project
    )
    assert promote(client, name, "1.1.0", alias="production", project=project).moved


def test_a_second_rollback_does_not_bring_the_bad_version_back(
    client: MlflowClient, name: str, project: Project
) -> None:
    register_evaluated(client, make_run(client), name=name, project=project)
    register_evaluated(
        client, make_run(client, metrics=better(), **{"cv.config.sha256": "9" * 64}), name=name, project=project
    )
    promote(client, name, "1.0.0", alias="production", project=project)
    promote(client, name, "1.1.0", alias="production", project=project)
    assert rollback(client, name, alias="production").semver == "1.0.0"
    with pytest.raises(RegistryError, match="no previous holder"):
        rollback(client, name, alias="production")
