"""The state of the project's git repository, read with GitPython from the project root.

Paths are resolved from the project root, never from the current directory, so the answer is the same
when Hydra changes directory (DESIGN §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow_cv.errors import ConfigError

__all__ = ["GitState", "git_state"]

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
