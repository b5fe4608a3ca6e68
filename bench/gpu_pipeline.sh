#!/usr/bin/env bash
# Time 02, 03 and 01 at their defaults on a GPU, JAX backend, one after another, inside one
# time budget (a lent machine is short of time): each stage gets at most its own cap and
# what is left of BUDGET seconds, and its wall time, exit status and output go to
# $OUT/log.txt. Everything the scripts write goes under $OUT too (01 and 03 train from
# scratch, 02 draws from the shipped generators), so a run never reuses an earlier one's
# results; a non-empty $OUT is refused. Run from the repository root (Linux: GNU date):
#
#     OUT=outputs/gpu BUDGET=580 bash bench/gpu_pipeline.sh
#
# ARGS_01, ARGS_02 and ARGS_03 add arguments to a stage (for a dry run on small data);
# leave them empty to measure the defaults. PYTHON picks the interpreter (python3).
set -u
OUT=${OUT:-outputs/gpu}
BUDGET=${BUDGET:-580}
PYTHON=${PYTHON:-python3}
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
if [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
    echo "error: $OUT is not empty: give an empty or new folder as OUT, so that no earlier result is reused." >&2
    exit 2
fi
mkdir -p "$OUT"
log=$OUT/log.txt
began=$(date +%s%N)

elapsed() { echo $((($(date +%s%N) - $1) / 1000000000)); }  # whole seconds since $1 (ns)

stage() {  # stage NAME MAX_SECONDS COMMAND...: run it for at most MAX_SECONDS and what is left of BUDGET
    local name=$1 limit=$2
    shift 2
    local left
    left=$((BUDGET - $(elapsed "$began")))
    ((limit > left)) && limit=$left
    if ((limit < 10)); then
        echo "== $name: not run, ${left} s of the budget left" | tee -a "$log"
        return
    fi
    echo "== $name: $* (at most $limit s)" | tee -a "$log"
    local t0
    t0=$(date +%s%N)
    timeout -k 15 "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc (124 = stopped at the limit) after $(elapsed "$t0") s" | tee -a "$log"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  echo "$(nproc) CPU cores"; } | tee -a "$log"
stage environment 60 "$PYTHON" -c "
import sys; sys.path.insert(0, 'bench')
import importlib.metadata as meta
import jax, keras
from flops import matmul_flops_per_second
plugins = [d.metadata['Name'] + ' ' + d.version for d in meta.distributions() if 'jax-cuda' in d.metadata['Name']]
print('keras', keras.__version__, keras.backend.backend(), 'jax', jax.__version__, plugins, jax.devices())
print('matmul_gflops (float32, 4096^2, with the copy back to the host)', round(matmul_flops_per_second(4096) / 1e9, 1))"
stage 02_generate_and_verify 150 "$PYTHON" 02_generate_and_verify.py --VERBOSE=0 --WEIGHTS_FROM=shipped \
    --OUTPUT_DIR="$OUT/generated" ${ARGS_02:-}
stage 03_train_acgan 260 "$PYTHON" 03_train_acgan.py --VERBOSE=2 --RETRAIN=1 --WEIGHTS_DIR="$OUT/weights/acgan" \
    --OUTPUT_DIR="$OUT/acgan" ${ARGS_03:-}
stage 01_train_class_gans 100000 "$PYTHON" 01_train_class_gans.py --RETRAIN=1 \
    --WEIGHTS_DIR="$OUT/weights/class_gans" --OUTPUT_DIR="$OUT/class_gans" ${ARGS_01:-}
echo "== all stages: $(elapsed "$began") s" | tee -a "$log"
