"""The state of the project's git repository, read with GitPython from the project root.

Paths are resolved from the project root, never from the current directory, so the answer is the same
when Hydra changes directory (DESIGN §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow_cv.errors import ConfigError

__all__ = ["GitState", "LoadedCode", "git_state", "loaded_code", "loaded_project_files"]

CONF_DIR = "conf"


@dataclass(frozen=True)
class GitState:
    root: Path
    commit: str
    branch: str | None  # None on a detached HEAD
    remote_url: str | None
    dirty_code: tuple[str, ...]  # tracked files outside conf/ with uncommitted changes
    dirty_conf: tuple[str, ...]  # tracked or untracked (not ignored) files under conf/

    @property
    def dirty(self) -> bool:
        return bool(self.dirty_code or self.dirty_conf)


def git_state(project_root: Path) -> GitState:
    """Commit, branch, remote and uncommitted changes of the repository holding ``project_root``."""
    import git

    try:
        repo = git.Repo(project_root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ConfigError(
            f"{project_root} is not in a git repository; run `git init && git add -A && git commit` there"
        ) from None
    try:
        commit = repo.head.commit.hexsha
    except ValueError:
        raise ConfigError(f"{repo.working_tree_dir}: the repository has no commit yet; commit first") from None
    root = Path(str(repo.working_tree_dir)).resolve()
    conf = (project_root.resolve() / CONF_DIR).relative_to(root).as_posix() + "/"
    changed = {d.a_path for diff in (repo.index.diff(None), repo.index.diff("HEAD")) for d in diff if d.a_path}
    untracked_conf = set(repo.git.ls_files("--others", "--exclude-standard", "--", conf).splitlines())
    try:
        branch: str | None = repo.active_branch.name
    except TypeError:
        branch = None
    remote = next(iter(repo.remotes), None)
    return GitState(
        root=root,
        commit=commit,
        branch=branch,
        remote_url=next(iter(remote.urls), None) if remote is not None else None,
        dirty_code=tuple(sorted(p for p in changed if not p.startswith(conf))),
        dirty_conf=tuple(sorted({p for p in changed if p.startswith(conf)} | untracked_conf)),
    )


@dataclass(frozen=True)
class LoadedCode:
    """The Python files of the project this process imported (``sys.modules``), judged by git.

    ``pinned`` maps each tracked, unmodified file to its blob id (what the commit holds); ``unpinned``
    names the others with why: ``untracked``, ``ignored`` or ``modified``. Code under the interpreter's
    prefix (a virtualenv inside the project) is not the project's.
    """

    pinned: dict[str, str]
    unpinned: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"pinned": dict(sorted(self.pinned.items())), "unpinned": list(self.unpinned)}


def loaded_project_files(project_root: Path, git_root: Path) -> list[str]:
    """Paths (relative to ``git_root``) of every module file imported from inside the project."""
    import sys

    project = project_root.resolve()
    outside = {Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}}
    found = set()
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name:
            continue
        path = Path(name).resolve()
        if path.is_relative_to(project) and not any(path.is_relative_to(o) for o in outside) and path.is_file():
            found.add(path.relative_to(git_root).as_posix())
    return sorted(found)


def loaded_code(project_root: Path) -> LoadedCode:
    """Which of the project files this process imported are pinned by the commit (see :class:`LoadedCode`)."""
    import git

    repo = git.Repo(project_root, search_parent_directories=True)
    root = Path(str(repo.working_tree_dir)).resolve()
    paths = loaded_project_files(project_root, root)
    if not paths:
        return LoadedCode({}, ())
    why: dict[str, str] = {}
    for line in repo.git.status("--porcelain", "--ignored", "--untracked-files=all", "--", *paths).splitlines():
        code, path = line[:2], line[3:]
        why[path] = "untracked" if code == "??" else "ignored" if code == "!!" else "modified"
    staged = {}
    for line in repo.git.ls_files("-s", "--", *paths).splitlines():  # mode blob stage\tpath
        meta, path = line.split("\t", 1)
        staged[path] = meta.split()[1]
    for path in paths:
        if path not in why and path not in staged:
            why[path] = "untracked"
    unpinned = tuple(f"{p} ({why[p]})" for p in paths if p in why)
    return LoadedCode({p: staged[p] for p in paths if p not in why}, unpinned)
