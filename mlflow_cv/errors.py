"""The exception tree of mlflow-cv.

Every error the package raises on purpose derives from :class:`MlflowCvError`, so a caller can catch
one class; the CLI turns these (and only these) into a clean message and a non-zero exit.

    MlflowCvError
    ├── SemverError                 a version or snapshot id that is not MAJOR.MINOR.PATCH
    │   └── BumpError               a declared bump smaller than the change requires, or no change at all
    ├── DatasetError                the working files of a dataset cannot be snapshotted as they are
    │   ├── UnsafePathError         a path escapes the source (``..``, absolute, symlink out, non-UTF-8)
    │   ├── LabelError              malformed label lines or class ids outside the class map
    │   └── AnnotationError         a labelling tool's export that cannot be imported (``data import``)
    ├── ManifestError               a manifest that is malformed, of an unknown schema, or edited by hand
    ├── SnapshotError               a snapshot id that is unknown, already taken, or cannot be used
    │   └── SnapshotNotFoundError   no manifest with that id
    ├── StoreError                  an object missing from, or corrupt in, the content-addressed store
    ├── ConfigError                 a training config that cannot be used (unknown check name, bad path)
    ├── TrackingError               the MLflow tracking store cannot be reached or used
    ├── PreflightError              one or more preflight checks failed (each in ``problems``)
    ├── TrainingError               Ultralytics failed, or its output misses what the run must log
    ├── RegistryError               an unknown model, version or run; missing lineage; a refused move
    │   └── GateError               a promotion whose gates failed (each in ``problems``)
    ├── ReproductionError           a run that cannot be reproduced: dirty, overridden, commit or objects missing
    └── ServingError                a packaged model that cannot be saved, loaded or asked
        ├── WeightsMismatchError    its weights are not the ones recorded when it was saved (not loaded)
        └── InputError              request rows or params that cannot be predicted (HTTP 400)

Messages say what was expected and how to fix it. Errors that carry a list of problems (one per file
or line) keep it in ``problems`` so callers can show or count them.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AnnotationError",
    "BumpError",
    "ConfigError",
    "DatasetError",
    "GateError",
    "InputError",
    "LabelError",
    "ManifestError",
    "MlflowCvError",
    "PreflightError",
    "RegistryError",
    "ReproductionError",
    "SemverError",
    "ServingError",
    "SnapshotError",
    "SnapshotNotFoundError",
    "StoreError",
    "TrackingError",
    "TrainingError",
    "UnsafePathError",
    "WeightsMismatchError",
]

_MAX_SHOWN = 20


class MlflowCvError(Exception):
    """Base class of every error mlflow-cv raises on purpose.

    ``problems`` lists the individual findings behind the error (may be empty); ``str()`` shows the
    message followed by the first problems, one per line.
    """

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        self.message = message
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(message)

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        shown = [f"  - {p}" for p in self.problems[:_MAX_SHOWN]]
        if len(self.problems) > _MAX_SHOWN:
            shown.append(f"  ... and {len(self.problems) - _MAX_SHOWN} more")
        return "\n".join([self.message, *shown])


class SemverError(MlflowCvError, ValueError):
    """A version string or snapshot id is not of the form ``MAJOR.MINOR.PATCH`` (``DS-1.2.3``)."""


class BumpError(SemverError):
    """The declared version bump is smaller than the change requires, or nothing changed."""


class DatasetError(MlflowCvError):
    """The dataset's working files cannot be snapshotted: empty, duplicated ids, unreadable files."""


class UnsafePathError(DatasetError):
    """A path escapes the dataset root (``..``, absolute, a symlink pointing outside) or is not UTF-8."""


class LabelError(DatasetError):
    """Label files hold malformed lines or class ids outside the class map (``path:line: problem``)."""


class AnnotationError(DatasetError):
    """A labelling tool's export cannot be imported: a malformed file, an annotation whose image or category
    is missing, invalid geometry. ``problems`` names each one (file and line, element or annotation id)
    with how to fix it; nothing is written to the destination."""


class ManifestError(MlflowCvError):
    """A manifest is not valid JSON, misses fields, has an unknown schema version, or was edited."""


class SnapshotError(MlflowCvError):
    """A snapshot cannot be created or used: id taken, parent missing, checkout target not empty."""


class SnapshotNotFoundError(SnapshotError, LookupError):
    """No manifest exists for the requested snapshot id; the message lists the ones that do."""


class StoreError(MlflowCvError):
    """An object is missing from the content-addressed store or its bytes do not match its hash."""


class ConfigError(MlflowCvError, ValueError):
    """A composed training config cannot be used: a task mismatch, an unknown override name, a bad path."""


class TrackingError(MlflowCvError):
    """The MLflow tracking store is unreachable or refuses a call; raised before training starts."""


class PreflightError(MlflowCvError):
    """The run is not pinned: ``problems`` lists every failed check with how to fix it."""


class TrainingError(MlflowCvError):
    """Ultralytics failed, or a finished training lacks an output the run must log (e.g. weights)."""


class RegistryError(MlflowCvError):
    """A registry operation cannot proceed: unknown model, version or run, missing lineage, no previous
    holder to roll back to, or a refusal by the server-side guard."""


class GateError(RegistryError):
    """A promotion was refused: ``problems`` lists each failed gate with what it found."""


class ReproductionError(MlflowCvError):
    """A run cannot be reproduced from its tags: it was dirty or overrode the preflight, its commit is
    not in the repository, or its snapshot's objects are missing from (or changed in) the store."""


class ServingError(MlflowCvError):
    """A packaged model cannot be saved (an unknown task), loaded or asked for predictions."""


class WeightsMismatchError(ServingError):
    """The weights file's SHA-256 is not the one recorded when the model was saved: it is not loaded."""


class InputError(ServingError, ValueError):
    """Rows or params that cannot be predicted; ``problems`` names each row and what is wrong with it.
    The pyfunc model turns it into MLflow's ``INVALID_PARAMETER_VALUE`` (HTTP 400)."""
