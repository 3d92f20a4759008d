"""Reading lineage back: ``mlflow-cv diff`` (regression triage) and ``mlflow-cv reproduce`` (proof)."""
