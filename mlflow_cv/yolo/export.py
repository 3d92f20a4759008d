"""What goes out with a trained model besides its weights: the input example a logged model carries."""

from __future__ import annotations

from pathlib import Path

__all__ = ["example_image"]


def example_image(checkout: Path, task: str) -> Path:
    """The first validation image of a checkout in Ultralytics' layout (a model's input example)."""
    if task == "classify":
        return next(p for p in sorted((checkout / "val").rglob("*")) if p.is_file())
    first = (checkout / "val.txt").read_text(encoding="utf-8").splitlines()[0]
    return checkout / first
