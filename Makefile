# Two commands: `make demo` and `make test`. Both create or refresh .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo roads test test-fast lint bench clean-demo clean-roads pg-server

# Torch first, pinned to the wheels this machine ships (other versions download gigabytes).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/shapes/demo.sh

# The guide's exercise: road / lane / car segmentation from a semantic-mask export (examples/roads/README.md).
roads: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/roads/run.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint
	$(BIN)/pytest

# Everything but what trains a model or starts a server (tests marked slow): seconds, not minutes.
test-fast: lint
	$(BIN)/pytest -m "not slow"

bench: install
	$(BIN)/python benchmarks/bench_snapshot.py
	$(BIN)/python benchmarks/bench_overhead.py
	$(BIN)/python benchmarks/bench_pyfunc.py
	$(BIN)/python benchmarks/bench_transfer.py
	$(BIN)/python benchmarks/bench_guard.py
	$(BIN)/python benchmarks/bench_evaluate.py
	$(BIN)/python benchmarks/bench_import.py

# A tracking server on PostgreSQL (scripts/postgres.sh) with proxied artifacts and the registry guard.
PG_DIR ?= .mlflow-cv/postgres
pg-server: install
	db=$$(scripts/postgres.sh start $(CURDIR)/$(PG_DIR) 5433) && \
	$(BIN)/mlflow server --host 127.0.0.1 --port 5000 --workers 4 --backend-store-uri "cv-guard-$$db" \
	  --registry-store-uri "cv-guard-$$db" --artifacts-destination $(CURDIR)/.mlflow-cv/server-artifacts

# Forget the demo's snapshots (ids are never reused, so a fresh demo needs a fresh project state).
clean-roads:
	chmod -R u+w examples/roads/data examples/roads/.mlflow-cv 2>/dev/null || true
	cd examples/roads && rm -rf export imported-* data conf/data .mlflow-cv mlflow.db mlflow.db.cv-guard.lock mlruns outputs

clean-demo:
	chmod -R u+w examples/shapes/data examples/shapes/.mlflow-cv 2>/dev/null || true
	cd examples/shapes && rm -rf export data conf/data .mlflow-cv mlflow.db mlflow.db.cv-guard.lock mlruns outputs
