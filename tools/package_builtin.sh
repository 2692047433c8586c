#!/usr/bin/env bash
# Package the runs of tools/train_builtin.sh as the built-in models (mgpe_plugins/model_data/):
# each is evaluated on 500 held-out mgpe-synth faces in the float16 weights that ship; the
# recipe below and the metrics go into its config.json, the full report into docs/eval/NAME/.
# The default model is packaged first (the eye-mask variant uses its parser).
#
#   tools/package_builtin.sh /work/runs
#
# CHECKPOINT / EYE_CHECKPOINT: package that checkpoint of the run (a .json sidecar) instead of
# the newest, e.g. one chosen with tools/pick_checkpoint.py; WEIGHTS / EYE_WEIGHTS=raw ship the
# trained weights as the default instead of the EMA. VARIANT_ONLY=1 packages only the eye-mask
# variant (the default model already packaged from the same run). BASE_RUN / PARSER_RUN: the
# runs the default model ships (g128m13-cont, the default, or g128m13 alone; parser128m13, the
# default, or parser128m13-long, a longer-trained parser that was measured and not shipped:
# docs/builtin-models.md); the recipe names a continuation's command when one is shipped.
# BASE_MODEL: a copy of the model a continuation started from, whose recipe and metrics are
# kept in the new config.json as its base. BASE_RUN=g128m13-bgskip: the background-gate
# fine-tune (model.background_skip) of the continuation; EYE_RUN: the variant's run
# (g128m13-eyemask, the default, or g128m13-bgskip-eyemask, fine-tuned from the gated model).
# BASE_RUN=g128m13-brows2: the gated model fine-tuned twice with the brows (and then the
# glasses) weighted up in the parsing loss (g128m13-brows, then g128m13-brows2);
# EYE_RUN=g128m13-brows2-eyemask: the variant fine-tuned from that.
# PARSER_RUN=parser128m13-ft BASE_RUN=g128m13-parser2 EYE_RUN=g128m13-parser2-eyemask: the
# stricter parser and the runs fine-tuned with it (what ships); PARSER2_FROM names the model
# they started from when they did not start from g128m13-brows2 (with BASE_MODEL, its copy;
# INIT_NOTE: how the recipe names it).
set -euo pipefail
RUNS=${1:-runs}
N=${EVAL_N:-500}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY=${PYTHON:-$ROOT/.venv/bin/python}
BUILD="$ROOT/tools/build_builtin_model.py"
REPORTS="$ROOT/docs/eval"
DATA="mgpe data synth synth128 --count 6000 --size 128 --seed 128 --lipstick 0.5 -j 2 --no-preview && mgpe data prepare synth128 data128m13 --size 128 --schema mgpe-13 -j 2"
PARSER="mgpe train-parser --data data128m13 --out parser128m13 --schema mgpe-13 --steps 2500 --batch 8 --base-channels 16 --depth 4 --device cpu"
COMMON="--preset cpu-small --data data128m13 --schema mgpe-13 --parser parser128m13 --set loss.region_reconstruction=10 --set loss.region_colour=16 --set 'loss.region_colour_components={\"mouth\": 3, \"l_eye\": 1.5, \"r_eye\": 1.5}' --set train.checkpoint_every=100 --set train.sample_every=250 --log-every 60 --device cpu --resume auto"
TRAIN="OMP_WAIT_POLICY=PASSIVE mgpe train $COMMON --out g128m13 --steps 4500 --set train.lr_decay_steps=1200 (tools/train_builtin.sh; stopped and resumed across sessions)"
BASE_RUN=${BASE_RUN:-g128m13-cont}
PARSER_RUN=${PARSER_RUN:-parser128m13}
BASE_PARSER="$PARSER"
BASE_TRAIN="$TRAIN"
if [ "$PARSER_RUN" = parser128m13-long ]; then
  BASE_PARSER="$PARSER ; then mgpe train-parser --data data128m13 --out parser128m13-long --schema mgpe-13 --steps 3000 --batch 8 --lr 3e-4 --init-from parser128m13 --device cpu"
elif [ "$PARSER_RUN" = parser128m13-ft ]; then  # PARSER2_FROM: the model before (BASE_MODEL)
  BASE_PARSER="$PARSER ; then mgpe train-parser --data data128m13 --out parser128m13-ft --schema mgpe-13 --init-from ${PARSER2_FROM:-parser128m13} --steps 4500 --lr 5e-4 --batch 8 --device cpu"
fi
# the stricter parser's runs train with it
COMMON2="${COMMON/--parser parser128m13 /--parser parser128m13-ft }"
CONT="OMP_WAIT_POLICY=PASSIVE mgpe train $COMMON --out g128m13-cont --steps 1500 --init-from g128m13/checkpoints/step-000004500.json --set train.lr=1e-4 --set train.lr_decay_steps=1500"
BGSKIP="OMP_WAIT_POLICY=PASSIVE mgpe train $COMMON --out g128m13-bgskip --steps 1000 --init-from g128m13-cont/checkpoints/step-000001200.json --set model.background_skip=true --set train.lr=1e-4 --set train.lr_decay_steps=1000"
BROWS_WEIGHTS='{"background": 0.5, "skin": 0.5, "hair": 1.0, "l_eye": 4.0, "r_eye": 4.0, "l_brow": 6.0, "r_brow": 6.0, "u_lip": 3.0, "l_lip": 3.0, "mouth": 3.0, "nose": 2.0}'
BROWS2_WEIGHTS='{"background": 0.5, "skin": 0.5, "hair": 1.0, "l_eye": 4.0, "r_eye": 4.0, "l_brow": 10.0, "r_brow": 10.0, "eye_g": 3.0, "u_lip": 3.0, "l_lip": 3.0, "mouth": 3.0, "nose": 2.0}'
BROWS="OMP_WAIT_POLICY=PASSIVE mgpe train $COMMON --out g128m13-brows --steps 600 --init-from g128m13-bgskip/checkpoints/step-000000900.json --set model.background_skip=true --set 'loss.parsing_class_weights=$BROWS_WEIGHTS' --set train.lr=1e-4 --set train.lr_decay_steps=600"
BROWS2="OMP_WAIT_POLICY=PASSIVE mgpe train $COMMON --out g128m13-brows2 --steps 1000 --init-from g128m13-brows/checkpoints/step-000000600.json --set model.background_skip=true --set 'loss.parsing_class_weights=$BROWS2_WEIGHTS' --set train.lr=1e-4 --set train.lr_decay_steps=1000"
SHIPS="(tools/train_builtin.sh; the recipe's step is the checkpoint that ships)"
PARSER2="OMP_WAIT_POLICY=PASSIVE mgpe train $COMMON2 --out g128m13-parser2 --steps 500 --init-from ${PARSER2_FROM:-g128m13-brows2/checkpoints/step-000001000.json} --set model.background_skip=true --set 'loss.parsing_class_weights=$BROWS2_WEIGHTS' --set train.d_warmup_steps=100 --set train.lr=1e-4 --set train.lr_decay_steps=500"
# the generator runs before the stricter parser's (the model before, when it started from one)
BEFORE_PARSER2="$TRAIN ; then $CONT (its step 1200) ; then $BGSKIP (its step 900) ; then $BROWS ; then $BROWS2"
[ -n "${PARSER2_FROM:-}" ] && BEFORE_PARSER2="the model shipped before, copied to ${PARSER2_FROM} (its recipe: recipe.base)"
if [ "$BASE_RUN" = g128m13-cont ]; then
  BASE_TRAIN="$TRAIN ; then $CONT $SHIPS"
elif [ "$BASE_RUN" = g128m13-bgskip ]; then
  BASE_TRAIN="$TRAIN ; then $CONT (its step 1200) ; then $BGSKIP $SHIPS"
elif [ "$BASE_RUN" = g128m13-parser2 ]; then
  BASE_TRAIN="$BEFORE_PARSER2 ; then $PARSER2 $SHIPS"
elif [ "$BASE_RUN" = g128m13-brows2 ]; then
  BASE_TRAIN="$TRAIN ; then $CONT (its step 1200) ; then $BGSKIP (its step 900) ; then $BROWS ; then $BROWS2 $SHIPS"
fi
if [ -z "${VARIANT_ONLY:-}" ]; then
  "$PY" "$BUILD" --run "$RUNS/$BASE_RUN" ${CHECKPOINT:+--checkpoint "$CHECKPOINT"} \
    ${BASE_MODEL:+--base-model "$BASE_MODEL"} ${INIT_NOTE:+--init-note "$INIT_NOTE"} \
    --parser "$RUNS/$PARSER_RUN" --name mgpe-synth-128 --weights "${WEIGHTS:-ema}" \
    --description "MGPE at 128 px (width 0.25, latent 256, schema mgpe-13) trained on mgpe-synth portraits on a 2-core CPU" \
    --data-command "$DATA" --parser-command "$BASE_PARSER" --train-command "$BASE_TRAIN" \
    --variant eye-mask=mgpe-synth-128-eyemask --eval-n "$N" --report "$REPORTS/mgpe-synth-128"
fi
EYE_RUN=${EYE_RUN:-g128m13-eyemask}
if [ -d "$RUNS/$EYE_RUN/checkpoints" ]; then
  FROM=$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['init_from'])" "$RUNS/$EYE_RUN/run.json")
  GATE=$("$PY" -c "import json, sys; print('--set model.background_skip=true ' if json.load(open(sys.argv[1]))['model'].get('background_skip') else '')" "$RUNS/$EYE_RUN/config.json")
  # parsing-loss class weights other than the default (the brows runs' and what follows them)
  GATE="$GATE$("$PY" -c "import json, sys; from mgpe_core.model.config import LossConfig; w = json.load(open(sys.argv[1]))['loss'].get('parsing_class_weights'); print(\"--set 'loss.parsing_class_weights=\" + json.dumps(w) + \"' \" if w and w != LossConfig().parsing_class_weights else '')" "$RUNS/$EYE_RUN/config.json")"
  EYE_COMMON=$COMMON
  [ "$EYE_RUN" = g128m13-parser2-eyemask ] && EYE_COMMON=$COMMON2
  EYE="OMP_WAIT_POLICY=PASSIVE mgpe train $EYE_COMMON --out $EYE_RUN --steps STEPS --init-from $(basename "$(dirname "$(dirname "$FROM")")")/checkpoints/$(basename "$FROM") ${GATE}--set model.eye_window=mask --set train.ema_decay=0.995 --set train.lr_decay_steps=STEPS (VARIANT=eyemask tools/train_builtin.sh)"
  VARIANT_TRAIN="$TRAIN"
  case "$EYE_RUN" in
    g128m13-parser2-eyemask)
      VARIANT_TRAIN="$BEFORE_PARSER2 ; then $PARSER2" ;;
    g128m13-brows2-eyemask)
      VARIANT_TRAIN="$TRAIN ; then $CONT (its step 1200) ; then $BGSKIP (its step 900) ; then $BROWS ; then $BROWS2" ;;
    g128m13-bgskip-eyemask)
      VARIANT_TRAIN="$TRAIN ; then $CONT (its step 1200) ; then $BGSKIP" ;;
  esac
  "$PY" "$BUILD" --run "$RUNS/$EYE_RUN" ${EYE_CHECKPOINT:+--checkpoint "$EYE_CHECKPOINT"} \
    --parser-from-model mgpe-synth-128 --variant-of mgpe-synth-128 --variant-name eye-mask \
    --name mgpe-synth-128-eyemask --weights "${EYE_WEIGHTS:-ema}" \
    --description "The eye-mask variant of mgpe-synth-128 (eye encoders see only eye pixels), fine-tuned from it" \
    --data-command "$DATA" --parser-command "$BASE_PARSER" \
    --train-command "$VARIANT_TRAIN ; then the eye-mask variant: $EYE" \
    --eval-n "$N" --report "$REPORTS/mgpe-synth-128-eyemask"
fi
