#!/usr/bin/env bash
# Package the runs of tools/train_builtin.sh as the built-in models (mgpe_plugins/model_data/):
# evaluates each on 500 held-out mgpe-synth faces, records the recipe below and the metrics in
# config.json and writes the full reports to docs/eval/NAME/.
#
#   tools/package_builtin.sh /work/runs
set -euo pipefail
RUNS=${1:-runs}
N=${EVAL_N:-500}
PY=${PYTHON:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
BUILD="$(cd "$(dirname "$0")" && pwd)/build_builtin_model.py"
REPORTS="$(cd "$(dirname "$0")/.." && pwd)/docs/eval"
DATA="mgpe data synth synth128 --count 6000 --size 128 --seed 128 -j 2 --no-preview && mgpe data prepare synth128 data128 --size 128 --schema mgpe-11 -j 2"
PARSER="mgpe train-parser --data data128 --out parser128 --steps 2500 --batch 8 --base-channels 16 --depth 4 --device cpu"
TRAIN="OMP_WAIT_POLICY=PASSIVE mgpe train --data data128 --parser parser128 --out g128 --steps STEPS --batch 8 --set model.width=0.25 --set model.latent_dim=256 --set train.sample_every=500 --set train.checkpoint_every=250 --set train.keep_checkpoints=6 --precision bf16 --device cpu --resume auto (tools/train_builtin.sh; stopped and resumed across sessions, STEPS = the recipe's step)"
"$PY" "$BUILD" --run "$RUNS/g128" --parser "$RUNS/parser128" --name mgpe-synth-128 \
  --description "MGPE at 128 px (width 0.25, latent 256) trained on mgpe-synth portraits on a 2-core CPU" \
  --data-command "$DATA" --parser-command "$PARSER" --train-command "$TRAIN" \
  --variant eye-mask=mgpe-synth-128-eyemask --eval-n "$N" --report "$REPORTS/mgpe-synth-128"
if [ -d "$RUNS/g128-eyemask/checkpoints" ]; then
  "$PY" "$BUILD" --run "$RUNS/g128-eyemask" --parser "$RUNS/parser128" \
    --name mgpe-synth-128-eyemask \
    --description "The eye-mask variant of mgpe-synth-128 (eye encoders see only eye pixels)" \
    --data-command "$DATA" --parser-command "$PARSER" \
    --train-command "${TRAIN//--out g128/--out g128-eyemask --set model.eye_window=mask --init-from g128}" \
    --eval-n "$N" --report "$REPORTS/mgpe-synth-128-eyemask"
fi
