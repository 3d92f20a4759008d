"""Evaluation on pinned data: scoring per class and per slice, latency, charts, and the evaluation run."""
