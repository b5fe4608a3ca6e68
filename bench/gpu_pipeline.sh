#!/usr/bin/env bash
# Time the pipeline 01-05 at its defaults on the device JAX finds (one GPU, several, or a
# CPU), one script after another, inside one time budget (a lent machine is short of time):
# each stage gets at most its own cap and what is left of BUDGET seconds; its output, exit
# status and wall time go to $OUT/log.txt, and the end prints one table: script, wall time,
# device, the constants chosen for the device. Everything the scripts write goes under $OUT
# (01 and 03 train from scratch, 02 draws from 01's generators, 05 from 03's, 04 reads 02's
# and 05's data), so a run never reuses an earlier one's results; a non-empty $OUT is
# refused. Run from the repository root (Linux: GNU date):
#
#     OUT=outputs/gpu BUDGET=900 bash bench/gpu_pipeline.sh
#
# ARGS_01 ... ARGS_05 add arguments to a stage (for a dry run on small data); leave them
# empty to measure the defaults. PYTHON picks the interpreter (python3).
set -u
OUT=${OUT:-outputs/gpu}
BUDGET=${BUDGET:-900}
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
W=$OUT/weights
stage 01_train_class_gans 400 "$PYTHON" 01_train_class_gans.py --RETRAIN=1 --WEIGHTS_DIR="$W/class_gans" \
    --OUTPUT_DIR="$OUT/class_gans" ${ARGS_01:-}
stage 02_generate_and_verify 120 "$PYTHON" 02_generate_and_verify.py --VERBOSE=0 --GENERATOR_DIR="$W/class_gans" \
    --WEIGHTS_DIR="$W/verifier" --OUTPUT_DIR="$OUT/generated" ${ARGS_02:-}
stage 03_train_acgan 240 "$PYTHON" 03_train_acgan.py --VERBOSE=2 --RETRAIN=1 --WEIGHTS_DIR="$W/acgan" \
    --OUTPUT_DIR="$OUT/acgan" ${ARGS_03:-}
stage 05_make_ambiguous_digits 120 "$PYTHON" 05_make_ambiguous_digits.py --VERBOSE=0 \
    --GENERATOR_DIR="$W/acgan/mnist" --WEIGHTS_DIR="$W/verifier" --OUTPUT_DIR="$OUT/ambiguous" ${ARGS_05:-}
stage 04_train_classifier_on_synthetic 300 "$PYTHON" 04_train_classifier_on_synthetic.py --VERBOSE=0 \
    --GENERATED="$OUT/generated/generated.npz" --GENERATED_ACGAN="" --AMBIGUOUS="$OUT/ambiguous/ambiguous.npz" \
    --WEIGHTS_DIR="$W/verifier" --OUTPUT_DIR="$OUT/report" ${ARGS_04:-}
echo "== all stages: $(elapsed "$began") s" | tee -a "$log"
echo
echo "| script | wall time (s) | exit | device | chosen for the device |"
echo "|---|---|---|---|---|"
awk '/^== [0-9]+_[a-z_]+: exit/ {print "| " substr($2, 1, length($2) - 1) " | " $(NF-1) " | " $4 " | " device " | " chosen " |"
                                    device = ""; chosen = ""}
     /^device: / && device == "" {split($0, part, "; "); device = substr(part[1], 9); chosen = substr(part[2], 16)}' "$log"
