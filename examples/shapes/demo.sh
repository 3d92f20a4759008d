#!/usr/bin/env bash
# The guide's Example 1 end to end: DS-1.0.0 → DS-1.1.0 → DS-1.1.1, then the diffs between them.
# Run by `make demo` from the repository root. Re-running it verifies the snapshots it already made
# (snapshot ids are never reused); `make clean-demo` starts over.
set -euo pipefail
data=examples/shapes/data
parent=""
notes_1_0_0="initial shapes dataset: 240 images"
notes_1_1_0="60 images added; missed objects labelled"
notes_1_1_1="80 wrong boxes fixed (class or position)"
for stage in 1.0.0 1.1.0 1.1.1; do
  id="DS-$stage"
  notes_var="notes_${stage//./_}"
  echo "\$ python examples/shapes/generate.py $data --stage $stage"
  python examples/shapes/generate.py "$data" --stage "$stage"
  if [ -f "data/manifests/$id.json" ]; then
    echo "\$ mlflow-cv data verify $id $data      # $id exists already: check the data still matches"
    mlflow-cv data verify "$id" "$data"
  else
    echo "\$ mlflow-cv data snapshot $data --id $id ${parent:+--parent $parent} --notes \"${!notes_var}\""
    mlflow-cv data snapshot "$data" --id "$id" ${parent:+--parent "$parent"} --notes "${!notes_var}"
  fi
  parent="$id"
  echo
done
echo "\$ mlflow-cv data list"
mlflow-cv data list
echo
echo "\$ mlflow-cv data diff DS-1.0.0 DS-1.1.0"
mlflow-cv data diff DS-1.0.0 DS-1.1.0 --limit 3
echo
echo "\$ mlflow-cv data diff DS-1.1.0 DS-1.1.1"
mlflow-cv data diff DS-1.1.0 DS-1.1.1 --limit 3
