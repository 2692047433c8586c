#!/usr/bin/env bash
# Package the runs of tools/train_builtin.sh as the built-in models (mgpe_plugins/model_data/):
# evaluates each on 500 held-out mgpe-synth faces, records the recipe below and the metrics in
# config.json and writes the full reports to docs/eval/NAME/.
#
#   tools/package_builtin.sh /work/runs
set -euo pipefail
RUNS=${1:-runs}
N=${EVAL_N:-500}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY=${PYTHON:-$ROOT/.venv/bin/python}
BUILD="$ROOT/tools/build_builtin_model.py"
REPORTS="$ROOT/docs/eval"
DATA="mgpe data synth synth128 --count 6000 --size 128 --seed 128 -j 2 --no-preview && mgpe data prepare synth128 data128 --size 128 --schema mgpe-11 -j 2"
PARSER="mgpe train-parser --data data128 --out parser128 --steps 2500 --batch 8 --base-channels 16 --depth 4 --device cpu"
TRAIN="OMP_WAIT_POLICY=PASSIVE mgpe train --data data128 --parser parser128 --out g128 --steps STEPS --batch 8 --set model.width=0.25 --set model.latent_dim=256 --set train.sample_every=500 --set train.checkpoint_every=250 --set train.keep_checkpoints=6 --precision bf16 --device cpu --resume auto (tools/train_builtin.sh; stopped and resumed across sessions, STEPS = the recipe's step)"
# The parser that ships with the fine-tuned default model: the last of its continuations below
# that exists, or PARSER_SRC (default: the released model folder BASE). The eye-mask variant
# ships no copy: it uses mgpe-synth-128's (config.json "parser": {"model": "mgpe-synth-128"}),
# so the default model is packaged first.
BASE=${BASE:-$RUNS/base-mgpe-synth-128}
# The parser's continuations, in order (OMP_NUM_THREADS=1): "run folder|command". Each one that
# exists (after the one before it) is added to the recipe; the last ships.
PARSER_ROUNDS=(
  "parser128-ft|mgpe train-parser --data data128 --out parser128-ft --init-from mgpe-synth-128 --steps 2000 --lr 3e-4 --device cpu"
  "parser128-ft2|mgpe train-parser --data data128 --out parser128-ft2 --init-from parser128-ft --steps 2000 --lr 2e-4 --seed 1 --device cpu"
  "parser128-ft3|mgpe train-parser --data data128 --out parser128-ft3 --init-from parser128-ft2 --steps 1500 --lr 1e-4 --seed 2 --device cpu"
)
joiner="then continued:"
for round in "${PARSER_ROUNDS[@]}"; do
  [ -f "$RUNS/${round%%|*}/parser.json" ] || break
  PARSER_SRC=$RUNS/${round%%|*}
  PARSER="$PARSER ; $joiner ${round#*|}"
  joiner="then:"
done
PARSER_SRC=${PARSER_SRC:-$BASE}
if [ -d "$RUNS/g128-ft/checkpoints" ]; then
  # VARIANT=finetune of train_builtin.sh: the released model fine-tuned; CHECKPOINT picks one
  # (tools/pick_checkpoint.py --weights ema raw; WEIGHTS=raw ships the trained weights as the
  # default), BASE is a copy of the model folder it started from (its recipe is recorded as the
  # base)
  FT="OMP_WAIT_POLICY=PASSIVE mgpe train --data data128 --parser mgpe-synth-128 --out g128-ft --init-from mgpe-synth-128 --steps STEPS --batch 8 --set model.width=0.25 --set model.latent_dim=256 --set train.d_warmup_steps=100 --set loss.region_reconstruction=10 --set train.ema_decay=0.995 --set train.sample_every=250 --set train.checkpoint_every=125 --set train.keep_checkpoints=8 --precision fp32 --device cpu --resume auto (VARIANT=finetune tools/train_builtin.sh; STEPS = the recipe's step)"
  "$PY" "$BUILD" --run "$RUNS/g128-ft" ${CHECKPOINT:+--checkpoint "$CHECKPOINT"} \
    --parser "$PARSER_SRC" --base-model "$BASE" --name mgpe-synth-128 --weights "${WEIGHTS:-ema}" \
    --description "MGPE at 128 px (width 0.25, latent 256) trained on mgpe-synth portraits on a 2-core CPU, then fine-tuned with per-component reconstruction" \
    --data-command "$DATA" --parser-command "$PARSER" \
    --train-command "$TRAIN ; then fine-tuned: $FT${FT_NOTE:+ ($FT_NOTE)}" \
    --init-note "${INIT_NOTE:-mgpe-synth-128 step 3500 (git f9bbc6c: generator and EMA; fresh discriminators)}" \
    --variant eye-mask=mgpe-synth-128-eyemask --eval-n "$N" --report "$REPORTS/mgpe-synth-128"
else
  "$PY" "$BUILD" --run "$RUNS/g128" --parser "$RUNS/parser128" --name mgpe-synth-128 \
    --description "MGPE at 128 px (width 0.25, latent 256) trained on mgpe-synth portraits on a 2-core CPU" \
    --data-command "$DATA" --parser-command "$PARSER" --train-command "$TRAIN" \
    --variant eye-mask=mgpe-synth-128-eyemask --eval-n "$N" --report "$REPORTS/mgpe-synth-128"
fi
if [ -d "$RUNS/g128-eyemask-ft/checkpoints" ]; then
  # VARIANT=eyemask-ft: the eye-mask variant of the fine-tuned model (EYE_CHECKPOINT,
  # EYE_WEIGHTS as above), continued by VARIANT=eyemask-ft2 when that run exists; its base is
  # the default model just packaged (copied first)
  rm -rf "$RUNS/default-for-eyemask" && cp -r "$ROOT/mgpe_plugins/model_data/mgpe-synth-128" "$RUNS/default-for-eyemask"
  FTEYE="OMP_WAIT_POLICY=PASSIVE mgpe train --data data128 --parser mgpe-synth-128 --out g128-eyemask-ft --init-from g128-ft/checkpoints/step-000001000.json --set model.eye_window=mask --steps STEPS --batch 8 --set model.width=0.25 --set model.latent_dim=256 --set train.ema_decay=0.995 --set loss.region_reconstruction=10 --set train.sample_every=250 --set train.checkpoint_every=125 --set train.keep_checkpoints=8 --precision fp32 --device cpu --resume auto (VARIANT=eyemask-ft tools/train_builtin.sh; STEPS = the recipe's step)"
  EYE_RUN=$RUNS/g128-eyemask-ft
  EYE_DESC="fine-tuned from its step 1000"
  EYE_INIT="g128-ft step 1000 (the fine-tuned mgpe-synth-128: generator, EMA and discriminators)"
  if [ -d "$RUNS/g128-eyemask-ft2/checkpoints" ]; then
    EYE_RUN=$RUNS/g128-eyemask-ft2
    FTEYE="$FTEYE, stopped at step 501 ; then continued at half the rate: OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 mgpe train --data data128 --parser mgpe-synth-128 --out g128-eyemask-ft2 --init-from g128-eyemask-ft/checkpoints/step-000000501.json --set model.eye_window=mask --steps STEPS --batch 8 --set train.lr=1e-4 --set train.ema_decay=0.995 --set loss.region_reconstruction=10 --set train.sample_every=125 --set train.checkpoint_every=125 --set train.keep_checkpoints=8 --precision fp32 --device cpu --resume auto (VARIANT=eyemask-ft2 tools/train_builtin.sh; STEPS = the recipe's step)"
    EYE_DESC="fine-tuned from its step 1000, then continued at half the learning rate"
    EYE_INIT="g128-eyemask-ft step 501 (generator, EMA and discriminators), itself from g128-ft step 1000"
  fi
  "$PY" "$BUILD" --run "$EYE_RUN" ${EYE_CHECKPOINT:+--checkpoint "$EYE_CHECKPOINT"} \
    --parser-from-model mgpe-synth-128 --base-model "$RUNS/default-for-eyemask" \
    --variant-of mgpe-synth-128 --variant-name eye-mask \
    --name mgpe-synth-128-eyemask --weights "${EYE_WEIGHTS:-ema}" \
    --description "The eye-mask variant of mgpe-synth-128 (eye encoders see only eye pixels), $EYE_DESC" \
    --data-command "$DATA" --parser-command "$PARSER" \
    --train-command "$TRAIN ; then fine-tuned: $FT ; then the eye-mask variant: $FTEYE" \
    --init-note "$EYE_INIT" \
    --eval-n "$N" --report "$REPORTS/mgpe-synth-128-eyemask"
elif [ -d "$RUNS/g128-eyemask/checkpoints" ]; then
  "$PY" "$BUILD" --run "$RUNS/g128-eyemask" --parser-from-model mgpe-synth-128 \
    --variant-of mgpe-synth-128 --variant-name eye-mask --name mgpe-synth-128-eyemask \
    --description "The eye-mask variant of mgpe-synth-128 (eye encoders see only eye pixels)" \
    --data-command "$DATA" --parser-command "$PARSER" \
    --train-command "${TRAIN//--out g128/--out g128-eyemask --set model.eye_window=mask --init-from g128}" \
    --eval-n "$N" --report "$REPORTS/mgpe-synth-128-eyemask"
fi
