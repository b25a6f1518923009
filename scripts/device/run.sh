#!/usr/bin/env bash
# The command a GPU lease runs, in the repository root on the GPU machine, with .device/ carried
# (scripts/device/README.md). Ends within about 9 minutes of a 10-minute call.
set -euo pipefail
: "${OUT:?run on the device machine, where OUT is the folder that comes back}"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .device/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi -L
# The first measured GPU fill speed (docs/capacity.md has only an assumed one), of the shipped
# model, first: it takes seconds and must not wait on training. FILL_DEVICE=cpu rehearses.
python3 benchmarks/fill_speed.py --device "${FILL_DEVICE:-cuda}" --repeats 5 --json \
    >"$OUT/fill_speed_cuda.json" || echo "fill_speed on the GPU failed (see above)" >&2
# Stage 1 trained on the CPU beforehand (prepare.sh's, else the one kept in the repository)
# leaves the lease to stage 2; without one the lease trains its own first.
autoencoder=
for candidate in .device/autoencoder scripts/device/autoencoder; do
    if [[ -d $candidate ]]; then autoencoder=$candidate; break; fi
done
if [[ -n $autoencoder ]]; then
    # Where a GPU step's time goes (footage, encoder, model) and what --echo buys there: about
    # half a minute, so that the next lease's recipe rests on a measurement.
    python3 benchmarks/train_step.py --config scripts/device/space4.json \
        --autoencoder "$autoencoder" --device "${FILL_DEVICE:-cuda}" --batch 16 --steps 3 \
        --workers "$(($(nproc) > 3 ? $(nproc) - 2 : 1))" >"$OUT/train_step_cuda.txt" 2>&1 ||
        echo "train_step on the GPU failed (see $OUT/train_step_cuda.txt)" >&2
    minutes=(--autoencoder "$autoencoder" --stage2-minutes 6)
else
    minutes=(--stage1-minutes 2.5 --stage2-minutes 4)
fi
python3 scripts/device/train.py --results "$OUT" --clips .device/clips/* "${minutes[@]}" "$@" \
    2>&1 | tr '\r' '\n' | grep -v 'step/s\|s/step' | tee "$OUT/console.log"
