"""README and ``--help`` stay in step: every command the README shows parses against the real CLI and
the real training config, and every CLI command is documented in the README."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import click
import pytest

from mlflow_cv.cli import cli
from mlflow_cv.config import JobConfig

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(?:console|bash|sh)\n(.*?)```", README, flags=re.S)
LINES = [line.strip().removeprefix("$ ") for block in BLOCKS for line in block.splitlines()]


def _words(line: str) -> list[str]:
    return shlex.split(line.split(" #", 1)[0].split(" &", 1)[0])


def _leaf(args: list[str]) -> tuple[click.Command, list[str], list[str]]:
    """The command ``args`` names, its path and the arguments left for it."""
    command: click.Command = cli
    path: list[str] = []
    while isinstance(command, click.Group) and args and args[0] in command.commands:
        path.append(args[0])
        command = command.commands[args[0]]
        args = args[1:]
    return command, path, args


CLI_LINES = [line for line in LINES if line.startswith("mlflow-cv ")]
TRAIN_LINES = [line for line in LINES if line.startswith("python train.py")]


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[str]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _all_commands(command, (*prefix, name))
        else:
            out.append(" ".join((*prefix, name)))
    return out


def test_the_readme_shows_commands() -> None:
    assert len(CLI_LINES) >= 10 and TRAIN_LINES, "the README's sessions went missing"


@pytest.mark.parametrize("line", CLI_LINES)
def test_every_readme_command_parses(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command, path, args = _leaf(_words(line)[1:])
    monkeypatch.chdir(tmp_path)  # the folders the example names exist once the demo made them
    for arg in args:  # any plain word may name a folder (``export``, ``data/shapes``): make them all
        if not arg.startswith(("-", "models:/", "http", "mlflow-artifacts:")) and "=" not in arg:
            (tmp_path / arg.lstrip("/")).mkdir(parents=True, exist_ok=True)
    assert not isinstance(command, click.Group), f"{line!r}: no such command"
    try:
        command.make_context(" ".join(["mlflow-cv", *path]), list(args))
    except click.UsageError as exc:
        pytest.fail(f"README's {line!r} does not parse against `mlflow-cv {' '.join(path)} --help`: {exc}")


def test_every_command_is_in_the_readme() -> None:
    missing = [c for c in _all_commands(cli) if f"mlflow-cv {c}" not in README and f"`{c} " not in README]
    assert not missing, f"README does not mention: {missing}"


@pytest.mark.parametrize("line", TRAIN_LINES)
def test_every_readme_training_override_exists(line: str) -> None:
    import typing

    hints = typing.get_type_hints(JobConfig)
    keys = set()
    for name, kind in hints.items():
        keys.add(name)
        keys |= {f"{name}.{f}" for f in typing.get_type_hints(kind)} if dataclasses.is_dataclass(kind) else set()
    for word in _words(line)[2:]:
        key, _, value = word.lstrip("+~").partition("=")
        if key in ("data", "model", "train"):  # config groups
            assert key == "data" or (ROOT / "conf" / key / f"{value}.yaml").is_file(), f"{line!r}: no {key}={value}"
        elif not key.startswith(("hydra.", "-")):
            assert key in keys, f"README's {line!r}: {key!r} is not a training config key"
