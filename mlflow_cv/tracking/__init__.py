"""Runs: lineage tags, dataset inputs, metrics and the preflight gate."""
