#!/usr/bin/env bash
# Gets a GPU lease's training ready, on this machine, before the lease (scripts/device/README.md):
# the PyAV wheel for the GPU machine's Python 3.12 (the one gapfill dependency it lacks that
# training needs), the real training clips, and optionally an autoencoder trained here, all
# under .device/ (ignored by git; the lease's `carry` takes it). Checks that the working tree
# and .device/ together stay under the 64 MiB a lease carries.
#
#   scripts/device/prepare.sh [STAGE1_EXPORT]    # e.g. artifacts/space4/export
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
rm -rf .device && mkdir -p .device/wheels .device/clips
av_version=$("$PY" -c "import av; print(av.__version__)")
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    -d .device/wheels "av==$av_version"
# The training clips of MODEL_CARD.md (never an evaluation clip: training refuses those by
# sha256 on the GPU machine too). box, cup and tree come from `make real-clips`.
"$PY" - <<'PYTHON'
import shutil
import sys
from gapfill.errors import UserError
from gapfill.training.clips import clip_path
for name in ("bikes.mp4", "box.mp4", "cup.mp4", "tree.avi"):
    try:
        shutil.copy(clip_path(name), ".device/clips/" + name)
    except UserError as exc:
        sys.exit(f"error: {exc} (run `make real-clips` first)")
PYTHON
if [[ -n "${1:-}" ]]; then
    "$PY" -m gapfill.training.publish "$1" --dest .device/autoencoder --autoencoder-only
fi
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb | tail -1 | cut -f1)
carried=$(du -sb .device | cut -f1)
total=$(( (tree_bytes + carried) / 1048576 ))
echo "working tree $(( tree_bytes / 1048576 )) MiB + .device $(( carried / 1048576 )) MiB = $total MiB (limit 64)"
(( total < 64 )) || { echo "too much to carry: drop a clip or the autoencoder" >&2; exit 1; }
