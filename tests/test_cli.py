import json

import click
import pytest
from click.testing import CliRunner

from mlflow_cv.cli import cli
from mlflow_cv.data.manifest import load_manifest


def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", [p for p, _ in _commands(cli)], ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "mlflow-cv " in result.output


def test_cli_session(project, shapes_dir):
    run = CliRunner().invoke
    opts = ["--project", str(project.root)]
    src = str(shapes_dir("1.0.0"))
    r = run(cli, ["data", "snapshot", src, "--id", "DS-1.0.0", "--notes", "initial", *opts])
    assert r.exit_code == 0, r.output
    assert "created DS-1.0.0" in r.output
    r = run(cli, ["data", "snapshot", str(shapes_dir("1.1.0")), "--id", "DS-1.0.1", "--parent", "DS-1.0.0", *opts])
    assert r.exit_code == 2 and "requires MINOR" in r.output and "Traceback" not in r.output
    r = run(cli, ["data", "snapshot", src, "--parent", "DS-1.0.0", "--bump", "minor", *opts])
    assert r.exit_code == 0 and "created DS-1.1.0" in r.output
    r = run(cli, ["data", "list", "--json", *opts])
    assert [row["id"] for row in json.loads(r.output)] == ["DS-1.0.0", "DS-1.1.0"]
    r = run(cli, ["data", "show", "DS-1.1.0", *opts])
    assert "parent DS-1.0.0" in r.output and "circle" in r.output
    r = run(cli, ["data", "diff", "DS-1.0.0", "DS-1.1.0", "--json", *opts])
    assert json.loads(r.output)["required_bump"] == "MINOR"
    r = run(cli, ["data", "verify", "DS-1.1.0", src, *opts])
    assert r.exit_code == 0 and r.output.startswith("OK:")
    (shapes_dir() / "labels" / "shape_0000.txt").write_text("")
    r = run(cli, ["data", "verify", "DS-1.1.0", src, *opts])
    assert r.exit_code == 1 and "modified labels/shape_0000.txt" in r.output
    r = run(cli, ["data", "show", "DS-9.9.9", *opts])
    assert r.exit_code == 2 and "known: DS-1.0.0, DS-1.1.0" in r.output


def test_split_options(project, shapes_dir):
    r = CliRunner().invoke(
        cli,
        [
            "data",
            "snapshot",
            str(shapes_dir()),
            "--id",
            "DS-1.0.0",
            "--seed",
            "5",
            "--split",
            "train=0.8,val=0.2",
            "--project",
            str(project.root),
        ],
    )
    assert r.exit_code == 0, r.output
    assert load_manifest(project, "DS-1.0.0").split.to_dict() == {
        "method": "hash",
        "seed": 5,
        "ratios": {"train": 0.8, "val": 0.2},
    }
    r = CliRunner().invoke(cli, ["data", "snapshot", ".", "--id", "DS-2.0.0", "--split", "nope", "--project", "x"])
    assert r.exit_code == 2 and "NAME=FRACTION" in r.output
