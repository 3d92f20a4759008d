"""Dataset snapshots: manifests, hashing, the object store, splits, labels."""
