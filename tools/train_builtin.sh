#!/usr/bin/env bash
# The built-in models' training pipeline (CPU), issue 23's generation: schema mgpe-13 (glasses
# and neck have their own classes), lipstick on half the faces, the architecture's new defaults
# (resize upsampling, light fusing, 3 residual blocks in G_m) and the per-region colour loss,
# weighted up for the lips (x3) and each eye (x1.5) at a total of 16 (skin and hair keep the
# default's share, 16/8 = 10/5): a first run with equal weights had removed only 41% of the
# lips' and 52% of the eyes' Lab distance to the style source by step 2400 (target 75%).
# Resumable: every step skips what is done, and a generator run continues from its newest
# complete checkpoint (--resume auto), so a stopped session loses minutes, not hours. Run it in
# the background:
#
#   nohup tools/train_builtin.sh /work/runs > /work/runs/pipeline.log 2>&1 &
#   VARIANT=eyemask nohup tools/train_builtin.sh /work/runs > /work/runs/eyemask.log 2>&1 &
#
# OMP_WAIT_POLICY=PASSIVE (set below unless given): torch's two CPU threads sleep instead of
# spinning while they wait, so another process on the 2 cores (tests, benchmarks) slows a step
# by a little instead of 25x. It changes speed only, not results.
#
# Stages (run folders under RUNS): synth128 (6000 procedural faces) -> data128m13 (prepared in
# mgpe-13) -> parser128m13 (U-Net parser, 2500 steps: mean IoU 0.932 on the test split) ->
# g128m13 (the default model: --preset cpu-small, STEPS steps, 1.5-4.5 s a step on 2 cores; the
# learning rate falls linearly to 0 over the last DECAY of them, train.lr_decay_steps).
# VARIANT=eyemask fine-tunes the eye-mask variant (model.eye_window=mask) from g128m13-brows2's
# step EYEMASK_FROM (default 1000) into g128m13-brows2-eyemask (EYEMASK_STEPS steps, default
# 300 as shipped; same data, parser and losses, the rate falling over all of them); with
# BROWS=0, from g128m13-bgskip's step EYEMASK_FROM into g128m13-bgskip-eyemask (the variant
# shipped before the brows runs); with BGSKIP=0, the variant before the gate: from g128m13's
# step EYEMASK_FROM into g128m13-eyemask.
# Then the continuation the default model ships from (CONTINUE=0 skips it): g128m13-cont, 1500
# more steps from g128m13's step STEPS at 1e-4 falling to 0 (same data, parser and losses).
# Then the background gate (BGSKIP=0 skips it): g128m13-bgskip, 1000 steps from g128m13-cont's
# step 1200 with model.background_skip=true (the gate starts fresh, every other weight from
# there) at 1e-4 falling to 0.
# Then the brows (BROWS=0 skips it; what ships): g128m13-brows, 600 steps from g128m13-bgskip's
# step 900 with the brows weighted 6 instead of 3 in the parsing loss
# (loss.parsing_class_weights), then g128m13-brows2, 1000 steps from its step 600 with the
# brows at 10 and the glasses at 3 (brows were the mask mIoU's largest loss: IoU 0.74 on edits
# against 0.90 on the faces), each at 1e-4 falling to 0.
# Then the stricter parser (PARSER2=0 skips it; what ships): parser128m13-ft, 4500 more
# train-parser steps from parser128m13 at 5e-4 (OneCycle), and g128m13-parser2, 500 steps from
# g128m13-brows2's step 1000 with it in the parsing loss (the first 100 train only fresh
# discriminators: train.d_warmup_steps), at 1e-4 falling to 0; VARIANT=eyemask then
# fine-tunes the variant from its step 500. PARSER2_FROM=MODEL (a model folder) starts both
# from that model instead and skips the stages before (what was run: the runs before were
# gone, so from the packaged model of git 087c61e, float16 weights, no discriminators).
# Then package with tools/package_builtin.sh (what ships and with which settings:
# docs/builtin-models.md, "Recipe").
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
RUNS=${1:-runs}
STEPS=${STEPS:-4500}
DECAY=${DECAY:-1200}  # the last DECAY steps lower the learning rate linearly towards 0
M=${MGPE:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/mgpe}
mkdir -p "$RUNS" && cd "$RUNS"
[ -f synth128/synth.json ] || $M data synth synth128 --count 6000 --size 128 --seed 128 \
  --lipstick 0.5 -j 2 --no-preview
$M data prepare synth128 data128m13 --size 128 --schema mgpe-13 -j 2
[ -n "${PARSER2_FROM:-}" ] || [ -f parser128m13/parser.json ] || $M train-parser --data data128m13 --out parser128m13 \
  --schema mgpe-13 --steps 2500 --batch 8 --base-channels 16 --depth 4 --device cpu
COMMON=(--preset cpu-small --data data128m13 --schema mgpe-13 --parser parser128m13
        --set loss.region_reconstruction=10 --set loss.region_colour=16
        --set 'loss.region_colour_components={"mouth": 3, "l_eye": 1.5, "r_eye": 1.5}'
        --set train.checkpoint_every=100
        --set train.sample_every=250 --log-every 60 --device cpu --resume auto)
# the brows runs' parsing-loss class weights, less the brows and glasses (set per run)
W='"background": 0.5, "skin": 0.5, "hair": 1.0, "l_eye": 4.0, "r_eye": 4.0, "u_lip": 3.0, "l_lip": 3.0, "mouth": 3.0, "nose": 2.0'
# the stricter parser's runs (PARSER2): the same arguments with parser128m13-ft
COMMON2=()
for a in "${COMMON[@]}"; do [ "$a" = parser128m13 ] && COMMON2+=(parser128m13-ft) || COMMON2+=("$a"); done
BROWS2_W="{$W, \"l_brow\": 10.0, \"r_brow\": 10.0, \"eye_g\": 3.0}"
# the eye-mask variant: EYE_STEPS steps from RUN's step FROM into OUT, with the rest of the
# arguments (the run's own, which the variant keeps)
eyemask() {  # RUN FROM OUT ARGS...
  local run=$1 from=$2 out=$3
  shift 3
  $M train "$@" --out "$out" --steps "$EYE_STEPS" \
    --init-from "$run/checkpoints/step-$(printf %09d "$from").json" \
    --set model.eye_window=mask --set train.ema_decay=0.995 --set train.lr_decay_steps="$EYE_STEPS"
}
if [ "${VARIANT:-}" = eyemask ]; then
  EYE_STEPS=${EYEMASK_STEPS:-300}
  GATED_BROWS=(--set "loss.parsing_class_weights=$BROWS2_W" --set model.background_skip=true)
  if [ "${BGSKIP:-1}" != 0 ] && [ "${BROWS:-1}" != 0 ] && [ "${PARSER2:-1}" != 0 ]; then
    # what ships: from the stricter parser's run, its last step
    eyemask g128m13-parser2 "${EYEMASK_FROM:-500}" g128m13-parser2-eyemask "${COMMON2[@]}" \
      "${GATED_BROWS[@]}"
  elif [ "${BGSKIP:-1}" != 0 ] && [ "${BROWS:-1}" != 0 ]; then  # from brows2's last step
    eyemask g128m13-brows2 "${EYEMASK_FROM:-1000}" g128m13-brows2-eyemask "${COMMON[@]}" \
      "${GATED_BROWS[@]}"
  elif [ "${BGSKIP:-1}" != 0 ]; then  # from the gated model's last step
    eyemask g128m13-bgskip "${EYEMASK_FROM:-1000}" g128m13-bgskip-eyemask "${COMMON[@]}" \
      --set model.background_skip=true
  else  # the variant before the gate: from g128m13's step STEPS
    eyemask g128m13 "${EYEMASK_FROM:-$STEPS}" g128m13-eyemask "${COMMON[@]}"
  fi
elif [ -z "${PARSER2_FROM:-}" ]; then
  $M train "${COMMON[@]}" --out g128m13 --steps "$STEPS" --set train.lr_decay_steps="$DECAY"
  if [ "${CONTINUE:-1}" != 0 ]; then
    $M train "${COMMON[@]}" --out g128m13-cont --steps 1500 \
      --init-from "g128m13/checkpoints/step-$(printf %09d "$STEPS").json" \
      --set train.lr=1e-4 --set train.lr_decay_steps=1500
  fi
  if [ "${CONTINUE:-1}" != 0 ] && [ "${BGSKIP:-1}" != 0 ]; then
    $M train "${COMMON[@]}" --out g128m13-bgskip --steps 1000 \
      --init-from g128m13-cont/checkpoints/step-000001200.json \
      --set model.background_skip=true --set train.lr=1e-4 --set train.lr_decay_steps=1000
  fi
  if [ "${CONTINUE:-1}" != 0 ] && [ "${BGSKIP:-1}" != 0 ] && [ "${BROWS:-1}" != 0 ]; then
    $M train "${COMMON[@]}" --out g128m13-brows --steps 600 \
      --init-from g128m13-bgskip/checkpoints/step-000000900.json --set model.background_skip=true \
      --set "loss.parsing_class_weights={$W, \"l_brow\": 6.0, \"r_brow\": 6.0}" \
      --set train.lr=1e-4 --set train.lr_decay_steps=600
    $M train "${COMMON[@]}" --out g128m13-brows2 --steps 1000 \
      --init-from g128m13-brows/checkpoints/step-000000600.json --set model.background_skip=true \
      --set "loss.parsing_class_weights=$BROWS2_W" \
      --set train.lr=1e-4 --set train.lr_decay_steps=1000
  fi
fi
if [ -z "${VARIANT:-}" ] && [ "${CONTINUE:-1}" != 0 ] && [ "${BGSKIP:-1}" != 0 ] \
   && [ "${BROWS:-1}" != 0 ] && [ "${PARSER2:-1}" != 0 ]; then
  [ -f parser128m13-ft/parser.json ] || $M train-parser --data data128m13 \
    --out parser128m13-ft --schema mgpe-13 --init-from "${PARSER2_FROM:-parser128m13}" \
    --steps 4500 --lr 5e-4 --batch 8 --device cpu
  $M train "${COMMON2[@]}" --out g128m13-parser2 --steps 500 \
    --init-from "${PARSER2_FROM:-g128m13-brows2/checkpoints/step-000001000.json}" \
    --set model.background_skip=true --set "loss.parsing_class_weights=$BROWS2_W" \
    --set train.d_warmup_steps=100 --set train.lr=1e-4 --set train.lr_decay_steps=500
fi
