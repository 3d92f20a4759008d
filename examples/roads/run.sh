#!/usr/bin/env bash
# The guide's exercise: a 3-class segmentation project (road, lane, car) from a semantic-mask export.
# Run by `make roads` (or `bash examples/roads/run.sh` with the venv on PATH). This folder is a project of
# its own (train.py and conf/ link to the template); its state stays here; `make clean-roads` starts over.
#   1. generate the export (images/ + masks/ in the Cityscapes palette) at stage 1.0.0, then 1.1.0
#   2. mlflow-cv data import masks → a YOLO-seg tree with provenance; data snapshot → ROADS-1.0.0, ROADS-1.1.0
#   3. train yolo-seg on each, register both (ROADS-1.1.0 adds images: a MINOR model bump)
set -euo pipefail
cd "$(dirname "$0")"
palette='road=128,64,128;lane=255,255,255;car=0,0,142'
allow=""
if [ -n "$(git status --porcelain --untracked-files=no)" ] || [ -n "$(git status --porcelain -- conf)" ]; then
  echo "note: uncommitted changes: the preflight's dirty_code and dirty_conf are overridden (runs tagged so)"
  allow="preflight.allow=[dirty_code,dirty_conf]"
fi
parent=""
runs=()
for stage in 1.0.0 1.1.0; do
  id="ROADS-$stage"
  echo "\$ python generate.py export --stage $stage"
  python generate.py export --stage "$stage"
  if [ ! -f "data/manifests/$id.json" ]; then
    rm -rf "imported-$stage"
    echo "\$ mlflow-cv data import masks export imported-$stage --palette '$palette'"
    mlflow-cv data import masks export "imported-$stage" --palette "$palette"
    echo "\$ mlflow-cv data snapshot imported-$stage --id $id ${parent:+--parent $parent}"
    mlflow-cv data snapshot "imported-$stage" --id "$id" ${parent:+--parent "$parent"} --notes "roads export, stage $stage"
  fi
  echo "\$ python train.py data=$id model=yolo-seg train=quick tracking.experiment=roads"
  log=$(mktemp)
  python train.py data="$id" model=yolo-seg train=quick tracking.experiment=roads ${allow:+"$allow"} \
    2> >(grep -E "^(error|preflight:|(FAIL|override) +|  - | +fix: )" >&2) | tee "$log" | grep -A8 "^run [0-9a-f]* finished"
  runs+=("$(sed -n 's/^run \([0-9a-f]*\) finished.*/\1/p' "$log")")
  rm -f "$log"
  parent="$id"
  echo
done
echo "\$ mlflow-cv data show ROADS-1.1.0"
mlflow-cv data show ROADS-1.1.0
for run in "${runs[@]}"; do
  echo
  echo "\$ mlflow-cv model register $run --name roads-segmenter"
  out=$(mlflow-cv model register "$run" --name roads-segmenter 2>&1) || grep -q "already registered" <<<"$out" || { echo "$out"; exit 1; }
  echo "$out"
done
