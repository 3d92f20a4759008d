"""The one boundary to Ultralytics: nothing else in mlflow_cv imports ``ultralytics`` (a test checks).

Import from the modules, not from here (this package re-exports nothing, so ``import mlflow_cv.yolo`` stays
light and each caller names what it uses):

- :mod:`~mlflow_cv.yolo.settings`: Ultralytics' settings file with its integrations off, its logger, its version;
- :mod:`~mlflow_cv.yolo.fit`: one training, its metrics streamed to a sink;
- :mod:`~mlflow_cv.yolo.scoring`: validation scored our way: metric names, per class, per slice, per image;
- :mod:`~mlflow_cv.yolo.weights`: checkpoints read without running code, hashed, rebuilt from plain tensors;
- :mod:`~mlflow_cv.yolo.export`: what goes out with a model besides its weights (its input example).

Ultralytics itself (it pulls in torch) is imported inside functions only.
"""

from __future__ import annotations

__all__: list[str] = []
