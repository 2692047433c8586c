#!/usr/bin/env bash
# The built-in models' training pipeline (CPU). Resumable: every step skips what is done, and
# the generator continues from its newest complete checkpoint (--resume auto), so a stopped
# session loses minutes, not hours. Run it in the background:
#
#   nohup nice -n 5 tools/train_builtin.sh /work/runs > /work/runs/pipeline.log 2>&1 &
#
# OMP_WAIT_POLICY=PASSIVE (set below unless given): torch's two CPU threads sleep instead of
# spinning while they wait, so another process on the 2 cores (tests, benchmarks) slows a step
# by a little instead of 25x. It changes speed only, not results.
# VARIANT=eyemask trains the eye-mask variant (model.eye_window=mask) into g128-eyemask,
# fine-tuned from g128's newest checkpoint (same data, parser and losses; fresh optimizers).
# Six checkpoints are kept (every 250 steps) so that packaging can pick among them: the GAN's
# metrics move from one checkpoint to the next (tools/build_builtin_model.py --checkpoint).
# VARIANT=finetune continues the released mgpe-synth-128 (generator + EMA of step 3500, git
# f9bbc6c; its discriminators were not shipped, so they start fresh and learn alone for 100
# steps) into g128-ft with loss.region_reconstruction=10, the model's own parser, fp32, and an
# EMA decay of 0.995 (the EMA must follow the fine-tune within a few hundred steps).
# VARIANT=eyemask-ft trains the eye-mask variant the same way from g128-ft's step 1000 into
# g128-eyemask-ft. VARIANT=eyemask-ft2 continues that run from its step 501 (the checkpoint a
# stop wrote; EYEMASK_FT_FROM names another) at half the learning rate (1e-4) into
# g128-eyemask-ft2, a checkpoint and sample every 125 steps.
# PRECISION: bf16 (the recipe's) where the CPU has native bf16, else fp32 (bf16 is emulated on
# AVX2-only CPUs, ~20x slower).
# Then package with tools/package_builtin.sh (or tools/build_builtin_model.py, see its --help).
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
RUNS=${1:-runs}
STEPS=${STEPS:-200000}
M=${MGPE:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/mgpe}
mkdir -p "$RUNS" && cd "$RUNS"
[ -f synth128/synth.json ] || $M data synth synth128 --count 6000 --size 128 --seed 128 -j 2 --no-preview
$M data prepare synth128 data128 --size 128 --schema mgpe-11 -j 2
[ -f parser128/parser.json ] || $M train-parser --data data128 --out parser128 --steps 2500 \
  --batch 8 --base-channels 16 --depth 4 --device cpu --json > parser128.result.json
PY="$(dirname "$M")/python"
PRECISION=${PRECISION:-$("$PY" -c "import torch; print('bf16' if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 'fp32')")}
out=g128; parser=parser128; extra=()
if [ "${VARIANT:-}" = eyemask ]; then
  out=g128-eyemask; extra=(--set model.eye_window=mask --init-from g128)
elif [ "${VARIANT:-}" = eyemask-ft ]; then
  # the eye-mask variant of the fine-tuned model: from g128-ft's step 1000 (generator, EMA and
  # discriminators), same fine-tune settings
  out=g128-eyemask-ft; parser=mgpe-synth-128
  extra=(--init-from g128-ft/checkpoints/step-000001000.json --set model.eye_window=mask
         --set train.ema_decay=0.995 --set loss.region_reconstruction=10
         --set train.checkpoint_every=125 --set train.keep_checkpoints=8
         --set train.sample_every=250)
elif [ "${VARIANT:-}" = eyemask-ft2 ]; then
  out=g128-eyemask-ft2; parser=mgpe-synth-128
  extra=(--init-from "${EYEMASK_FT_FROM:-g128-eyemask-ft/checkpoints/step-000000501.json}"
         --set model.eye_window=mask --set train.ema_decay=0.995
         --set loss.region_reconstruction=10 --set train.lr=1e-4
         --set train.checkpoint_every=125 --set train.keep_checkpoints=8
         --set train.sample_every=125)
elif [ "${VARIANT:-}" = finetune ]; then
  out=g128-ft; parser=mgpe-synth-128
  extra=(--init-from mgpe-synth-128 --set train.d_warmup_steps=100 --set train.ema_decay=0.995
         --set loss.region_reconstruction=10 --set train.checkpoint_every=125
         --set train.keep_checkpoints=8 --set train.sample_every=250)
fi
$M train --data data128 --parser "$parser" --out "$out" --steps "$STEPS" --batch 8 \
  --set model.width=0.25 --set model.latent_dim=256 \
  --set train.sample_every=500 --set train.checkpoint_every=250 --set train.keep_checkpoints=6 \
  "${extra[@]}" --precision "$PRECISION" --device cpu --resume auto
