#!/usr/bin/env bash
# Reproduces the shipped models, every evaluation in their cards and the cards themselves,
# seeded, one run at a time. Usage: bash training/reproduce.sh [DATA_DIR] (default ../shared/datasets).
# Needs the training extra (pip install -e ".[train]"). On 2 CPU cores the logreg's part takes
# about 3 minutes, the cnn's about
# 50 minutes; the bilstm trains 20 times (the shipped model, 19 folds) at up to 45 minutes each: allow a day.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/datasets}
py=${PYTHON:-python}
for arch in logreg cnn ensemble bilstm; do
  epochs=(); [ "$arch" = bilstm ] && epochs=(--epochs 30)
  "$py" -m training train --arch "$arch" "${epochs[@]}" --corpora tess,ravdess,cremad --data "$data"
  for protocol in cross-corpus cremad-actors tess-cross-speaker tess-random cross-corpus-no-cremad ravdess-actors; do
    "$py" -m training evaluate "$protocol" --arch "$arch" "${epochs[@]}" --data "$data"
  done
done
"$py" -m training baseline --data "$data"
for arch in logreg cnn ensemble bilstm; do
  "$py" -m training card --arch "$arch"
done
