"""Runs left ``RUNNING`` by a training that is gone: owner records, and ending the runs they orphan.

A training's run is written by its writer process (:mod:`mlflow_cv.tracking.writer`); when one of the
two dies, the other ends the run: the writer as ``KILLED`` when the training vanishes, the training as
``FAILED`` when its writer does (:func:`end_runs_owned_by`, through a fresh MLflow client). When both
die (``kill -9`` of the process group, the OOM killer, a reboot) no one is left to end it, so the
writer keeps an owner record while the run is open, written as soon as the run exists and removed
once it has ended::

    <project>/.mlflow-cv/runs/<run_id>.json
        {run_id, tracking_uri, host, boot_id, started, owner: {pid, start_time}, writer: {pid, start_time}}

:func:`end_orphaned_runs` (run by every training as it starts, and by ``mlflow-cv runs doctor``) ends
as ``KILLED`` each recorded run still ``RUNNING`` whose training and writer are both gone, as the writer
does when its training vanishes, and says why in the run's description. A process is known by its pid
*and* its start time (field 22 of ``/proc/<pid>/stat``), so a pid reused by another program does not
keep a run alive; a zombie counts as gone. Records made on another host are left alone: whether their
processes live cannot be told from here. MLflow is imported only when a run has to be ended.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType

    from mlflow_cv.project import Project

__all__ = [
    "DoctorResult",
    "EndedRun",
    "OwnerRecord",
    "Process",
    "end_orphaned_runs",
    "end_runs_owned_by",
    "remove_record",
    "runs_dir",
    "write_record",
]

_PROC = Path("/proc")
_BOOT_ID = _PROC / "sys" / "kernel" / "random" / "boot_id"
_SQLITE = "sqlite:///"


def runs_dir(project: Project) -> Path:
    """Where ``project`` keeps the owner records of its open runs."""
    return project.state_dir / "runs"


@dataclass(frozen=True)
class Process:
    """A process as a later one can recognise it: its pid and its start time (clock ticks after boot;
    None where there is no ``/proc``, and then the pid alone tells)."""

    pid: int
    start_time: int | None = None

    @classmethod
    def of(cls, pid: int) -> Process | None:
        """The running process ``pid``, or None when there is none (or it is a zombie)."""
        stat = _stat(pid)
        if stat is None:
            return cls(pid) if not _PROC.is_dir() and _pid_exists(pid) else None
        return None if stat[0] in ("Z", "X") else cls(pid, stat[1])

    @classmethod
    def current(cls) -> Process:
        stat = _stat(os.getpid())
        return cls(os.getpid(), stat[1] if stat else None)

    def alive(self) -> bool:
        if self.start_time is None:
            return _pid_exists(self.pid)
        return Process.of(self.pid) == self


@dataclass(frozen=True)
class OwnerRecord:
    """Who holds an open run: its training (``owner``) and that training's writer process."""

    run_id: str
    tracking_uri: str
    owner: Process
    writer: Process
    host: str
    boot_id: str | None
    started: str  # ISO 8601, UTC

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OwnerRecord:
        return cls(**{**data, "owner": Process(**data["owner"]), "writer": Process(**data["writer"])})

    def verdict(self) -> tuple[bool | None, str]:
        """Whether both processes are gone (None: cannot be told from this host), and why."""
        if self.host != socket.gethostname():
            return None, f"its training runs on {self.host}; whether it lives cannot be told from here"
        if self.boot_id and _boot_id() and self.boot_id != _boot_id():
            return True, f"{self.host} has restarted since its training began ({self.started})"
        if self.owner.alive():
            return False, f"its training is still running (pid {self.owner.pid})"
        if self.writer.alive():
            return False, f"its training is gone, and its writer (pid {self.writer.pid}) is ending it"
        return True, (
            f"its training (pid {self.owner.pid}, begun {self.started}) and writer (pid {self.writer.pid}) "
            f"on {self.host} are gone"
        )


@dataclass(frozen=True)
class EndedRun:
    run_id: str
    status: str  # KILLED or FAILED
    why: str


@dataclass(frozen=True)
class DoctorResult:
    """What :func:`end_orphaned_runs` did: runs it ended, runs it left alone (with why), problems."""

    ended: tuple[EndedRun, ...] = ()
    alive: tuple[tuple[str, str], ...] = ()  # (run id, why it was left alone): alive, or on another host
    problems: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        out = [f"ended run {e.run_id} as {e.status}: {e.why}" for e in self.ended]
        out += [f"left run {run_id} alone: {why}" for run_id, why in self.alive]
        out += [f"problem: {p}" for p in self.problems]
        return out or ["no run of this project was left RUNNING by a training that is gone"]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import lines

        return lines(self.lines())


def write_record(folder: Path, run_id: str, *, tracking_uri: str, owner: Process, writer: Process) -> Path:
    """Record that ``owner`` (a training) and ``writer`` hold the open run ``run_id``; the record's path."""
    record = OwnerRecord(
        run_id=run_id,
        tracking_uri=tracking_uri,
        owner=owner,
        writer=writer,
        host=socket.gethostname(),
        boot_id=_boot_id(),
        started=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.json"
    staged = folder / f"{run_id}.{os.getpid()}.tmp"
    staged.write_text(json.dumps(asdict(record), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(staged, path)
    return path


def remove_record(path: Path) -> None:
    path.unlink(missing_ok=True)


def end_orphaned_runs(project: Project, *, tracking_uri: str | None = None) -> DoctorResult:
    """End as ``KILLED`` each run of ``project`` still ``RUNNING`` whose training and writer are both
    gone, and forget the records of runs that have ended. ``tracking_uri``: only runs in that store
    (default: every recorded run, each in its own store). A store that cannot be reached is a problem
    in the result, not an error: its records stay for the next time."""
    wanted = None
    if tracking_uri:
        from mlflow_cv.tracking.store import resolve_tracking_uri

        wanted = resolve_tracking_uri(tracking_uri, project_root=project.root)
    ended: list[EndedRun] = []
    alive: list[tuple[str, str]] = []
    problems: list[str] = []
    for path, record in _records(runs_dir(project), problems):
        if wanted is not None and record.tracking_uri != wanted:
            continue
        gone, why = record.verdict()
        if not gone:
            alive.append((record.run_id, why))
            continue
        try:
            done = _end(record, path, "KILLED", why)
        except Exception as exc:  # one store's trouble must not stop the others (nor a training)
            problems.append(f"could not end run {record.run_id} in {record.tracking_uri}: {exc}")
            continue
        ended += [done] if done else []
    return DoctorResult(ended=tuple(ended), alive=tuple(alive), problems=tuple(problems))


def end_runs_owned_by(project: Project, owner: Process, *, status: str, why: str) -> DoctorResult:
    """End as ``status`` the runs ``owner`` holds (a training whose writer died), through a fresh client."""
    ended: list[EndedRun] = []
    problems: list[str] = []
    for path, record in _records(runs_dir(project), problems):
        if record.owner != owner:
            continue
        try:
            done = _end(record, path, status, why)
        except Exception as exc:
            problems.append(f"could not mark run {record.run_id} {status} in {record.tracking_uri}: {exc}")
            continue
        ended += [done] if done else []
    return DoctorResult(ended=tuple(ended), problems=tuple(problems))


def _records(folder: Path, problems: list[str]) -> list[tuple[Path, OwnerRecord]]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append((path, OwnerRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            problems.append(f"{path} is not an owner record ({type(exc).__name__}: {exc}); remove it by hand")
    return found


def _end(record: OwnerRecord, path: Path, status: str, why: str) -> EndedRun | None:
    """End the record's run as ``status`` if MLflow still has it ``RUNNING``, noting why in its
    description; then forget the record (also when the run, or its whole store, is gone)."""
    if record.tracking_uri.startswith(_SQLITE) and not Path(record.tracking_uri[len(_SQLITE) :]).exists():
        remove_record(path)  # the database went with its runs (opening it would create an empty one)
        return None
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

    client = MlflowClient(record.tracking_uri)
    try:
        run = client.get_run(record.run_id)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        remove_record(path)
        return None
    ended = None
    if run.info.status == "RUNNING":
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        note = f"Ended as {status} by mlflow-cv at {stamp}: {why}."
        before = run.data.tags.get(MLFLOW_RUN_NOTE)
        client.set_tag(record.run_id, MLFLOW_RUN_NOTE, f"{before}\n\n{note}" if before else note)
        client.set_terminated(record.run_id, status)
        ended = EndedRun(record.run_id, status, why)
    remove_record(path)
    return ended


def _stat(pid: int) -> tuple[str, int] | None:
    """State and start time of process ``pid`` from ``/proc/<pid>/stat``; None if there is none."""
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
        fields = text[text.rindex(")") + 2 :].split()  # after the command name, which may hold anything
        return fields[0], int(fields[19])  # fields 3 (state) and 22 (start time)
    except (OSError, ValueError, IndexError):
        return None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text(encoding="utf-8").strip()
    except OSError:
        return None
