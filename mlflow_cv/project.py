"""Where a project keeps its state: a value every layer can take without importing what reads it.

A project is a folder (usually the git repository) holding::

    data/manifests/DS-x.y.z.json   frozen manifests (commit them)
    conf/data/DS-x.y.z.yaml        the Hydra option for each snapshot (commit them)
    .mlflow-cv/objects/            the content-addressed store (or $MLFLOW_CV_STORE)
    .mlflow-cv/cache/              stat caches that make re-checks incremental

:class:`Project` only knows paths and snapshot ids; reading a manifest
(:func:`mlflow_cv.data.manifest.load_manifest`), the object store
(:class:`mlflow_cv.data.store.ObjectStore` at :attr:`Project.store_dir`) and the stat caches
(:class:`mlflow_cv.data.stat_cache.StatCache` under :attr:`Project.cache_dir`) live in ``data/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_cv.errors import SnapshotError
from mlflow_cv.semver import Version, parse_snapshot_id, snapshot_lineage

if TYPE_CHECKING:
    from mlflow_cv.data.manifest import Manifest

__all__ = ["Project"]


@dataclass(frozen=True)
class Project:
    """Where a project keeps its manifests, Hydra data options, object store and caches."""

    root: Path
    store_root: Path | None = None

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> Project:
        """The project at ``root``, else ``$MLFLOW_CV_PROJECT``, else the current directory."""
        chosen = Path(root or os.environ.get("MLFLOW_CV_PROJECT") or os.getcwd()).resolve()
        store = os.environ.get("MLFLOW_CV_STORE")
        return cls(root=chosen, store_root=Path(store).resolve() if store else None)

    @property
    def manifests_dir(self) -> Path:
        return self.root / "data" / "manifests"

    @property
    def conf_data_dir(self) -> Path:
        return self.root / "conf" / "data"

    @property
    def state_dir(self) -> Path:
        return self.root / ".mlflow-cv"

    @property
    def store_dir(self) -> Path:
        """The content-addressed object store: ``$MLFLOW_CV_STORE`` if set, else the state folder."""
        return self.store_root or self.state_dir

    @property
    def cache_dir(self) -> Path:
        """Where the stat caches live (one per checked tree)."""
        return self.state_dir / "cache"

    def checkout_path(self, manifest: Manifest) -> Path:
        """Where training and evaluation check ``manifest`` out (verified, reused while it verifies)."""
        return self.state_dir / "checkouts" / f"{manifest.snapshot_id}-{manifest.sha256[:12]}"

    def manifest_path(self, snapshot_id: str) -> Path:
        parse_snapshot_id(snapshot_id)  # refuses anything that could escape the folder
        return self.manifests_dir / f"{snapshot_id}.json"

    def snapshot_ids(self, lineage: str | None = None) -> list[str]:
        """Every frozen snapshot id (of ``lineage`` only, if given), by lineage, then oldest version first."""
        ids: list[tuple[str, Version, str]] = []
        if self.manifests_dir.is_dir():
            for path in self.manifests_dir.glob("*.json"):
                try:
                    name, version = snapshot_lineage(path.stem), parse_snapshot_id(path.stem)
                except SnapshotError:
                    continue
                if lineage is None or name == lineage:
                    ids.append((name, version, path.stem))
        return [sid for _, _, sid in sorted(ids)]
