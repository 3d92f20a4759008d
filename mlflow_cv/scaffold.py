"""``mlflow-cv init DIR``: a project of one's own, from the package's template (``mlflow_cv/template``):
``train.py``, ``conf/`` (the Hydra groups, no snapshot yet), a ``.gitignore`` that keeps the machine's
state out and the pins (``conf/data/``, ``data/manifests/``) in, and a README stub; ``git init`` when DIR
is not inside a repository. An existing file is never overwritten: the conflicts are refused, all named.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_cv.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["TEMPLATE", "Scaffold", "init_project"]

TEMPLATE = Path(__file__).parent / "template"
_RENAMED = {"gitignore": ".gitignore"}  # a package cannot ship a file named .gitignore reliably


@dataclass(frozen=True)
class Scaffold:
    root: Path
    written: tuple[str, ...]
    git_init: bool

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import lines

        return lines(
            f"created the mlflow-cv project {self.root}" + (" (git init)" if self.git_init else ""),
            *(f"  {p}" for p in self.written),
            "next:",
            f"  cd {self.root}",
            "  mlflow-cv data snapshot path/to/yolo-data --id DS-1.0.0   (or: mlflow-cv data import FORMAT …)",
            '  git add -A && git commit -m "DS-1.0.0"',
            "  python train.py data=DS-1.0.0 model=yolo",
        )


def _files() -> list[tuple[Path, str]]:
    """(template file, path in the project), sorted."""
    found = []
    for path in sorted(TEMPLATE.rglob("*")):
        rel = path.relative_to(TEMPLATE)
        if path.is_file() and "__pycache__" not in rel.parts:
            found.append((path, _RENAMED.get(rel.as_posix(), rel.as_posix())))
    return found


def init_project(root: Path, *, name: str | None = None) -> Scaffold:
    """Write the template into ``root`` (new or without any of its files); see the module doc."""
    import git

    root = root.resolve()
    files = _files()
    taken = sorted(rel for _, rel in files if (root / rel).exists() or (root / rel).is_symlink())
    if taken:
        raise ConfigError(
            f"{root} has files the project template would overwrite; remove them or choose another folder",
            problems=taken,
        )
    title = name or root.name
    for path, rel in files:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel == "README.md":
            target.write_text(path.read_text(encoding="utf-8").replace("PROJECT_NAME", title), encoding="utf-8")
        else:
            shutil.copyfile(path, target)
    (root / "conf" / "data").mkdir(exist_ok=True)
    try:
        git.Repo(root, search_parent_directories=True)
        fresh = False
    except git.InvalidGitRepositoryError:
        git.Repo.init(root)
        fresh = True
    return Scaffold(root=root, written=tuple(rel for _, rel in files), git_init=fresh)
