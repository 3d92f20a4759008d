"""The model registry: enforced semantic versions, gated alias promotion, audit history, guard store."""
