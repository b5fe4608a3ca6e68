#!/usr/bin/env bash
# Which verifier recipe gives the out-of-distribution verdict what the shipped verifier's
# features lack? Each variant is trained anew by bench/train_verifier_variant.py (02's recipe,
# the same seed, with the arguments that make it the variant; the default recipe too) on the
# device the backend finds; 02 then draws and verifies at its defaults with it (--VERIFIER_FILE;
# its tables: rejection and ambiguity of generated digits, the verifier's floor on real ones)
# and bench/bench_ood.py scores its density (Fashion-MNIST, noise, digits turned 30 and 90
# degrees). Everything goes under $OUT, which must be empty; the end prints one table. Run from
# the repository root:
#
#     OUT=outputs/verifier_variants bash bench/verifier_variants.sh
#
# VARIANTS: words "name=arguments" (arguments for bench/train_verifier_variant.py, joined by
# commas), default: a verifier that keeps distances (spectral normalisation and residual
# blocks, as in DDU), one trained with outlier exposure (scrambled digits toward a flat
# softmax) and the default recipe. ARGS_TRAIN, ARGS_02 and ARGS_OOD add arguments to every run
# (for a dry run on small data), PYTHON names the interpreter (python3).
set -eu
OUT=${OUT:-outputs/verifier_variants}
PYTHON=${PYTHON:-python3}
VARIANTS=${VARIANTS:-spectral=--VERIFIER=spectral exposed=--VERIFIER_OUTLIERS=0.5 default=}
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
if [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
    echo "error: $OUT is not empty: give an empty or new folder as OUT, so that no earlier result is reused." >&2
    exit 2
fi
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; echo "$(nproc) CPU cores"; } \
    | tee "$OUT/machine.txt"
NAMES=""
for VARIANT in $VARIANTS; do
    V=${VARIANT%%=*}
    NAMES="$NAMES $V"
    t0=$(date +%s)
    # shellcheck disable=SC2086  # the variant's and ARGS_* are lists of arguments
    $PYTHON bench/train_verifier_variant.py $(echo "${VARIANT#*=}" | tr , ' ') --WEIGHTS_DIR="$OUT/weights_$V" \
        --VERBOSE=0 ${ARGS_TRAIN:-} 2>&1 | grep -v "^I0000\|^W0000\|^WARNING: All log" | tee "$OUT/train_$V.log"
    FILE=$(ls "$OUT/weights_$V"/verifier_*.weights.h5)
    # shellcheck disable=SC2086
    $PYTHON 02_generate_and_verify.py --VERIFIER_FILE="$FILE" --OUTPUT_DIR="$OUT/generated_$V" --VERBOSE=0 \
        ${ARGS_02:-} 2>&1 | grep -v "^I0000\|^W0000\|^WARNING: All log" | tee "$OUT/02_$V.log"
    t1=$(date +%s)
    # shellcheck disable=SC2086
    $PYTHON bench/bench_ood.py --VERIFIER_FILE="$FILE" \
        --OUTPUT_DIR="$OUT/bench_ood_$V" ${ARGS_OOD:-} 2>&1 | grep "^{" | sed "s/^{/{\"variant\": \"$V\", /" \
        | tee "$OUT/ood_$V.jsonl"
    echo "{\"variant\": \"$VARIANT\", \"seconds_02\": $((t1 - t0)), \"seconds_bench_ood\": $(($(date +%s) - t1))}" \
        | tee -a "$OUT/times.jsonl"
done
# shellcheck disable=SC2086
$PYTHON - "$OUT" $NAMES <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
pct = lambda x: "-" if x is None else f"{x:.2%}"  # noqa: E731
print("| verifier | MNIST test accuracy (MC) | MNIST test: clear right, OOD | Fashion clear | noise clear "
      "| turned 30: clear right | turned 90: clear right (wrong) | Fashion AUROC | best density (worst AUROC) "
      "| generated: rejected, OOD, ambiguous |")
print("|---|---|---|---|---|---|---|---|---|---|")
for v in sys.argv[2:]:
    rows = [json.loads(line) for line in (out / f"ood_{v}.jsonl").read_text().splitlines()]
    by = {r["set"]: r for r in rows if r["bench"] == "ood_verdict"}
    best = next(r for r in rows if r["bench"] == "ood_choice")["best"]
    path = out / f"generated_{v}" / "summary.json"  # absent where 02 stopped (its log says why)
    summary = json.loads(path.read_text()) if path.is_file() else {"all": {}, "verifier": {}}
    drawn, turned = summary["all"], {a: by.get(f"mnist_test_rotated_{a}", {}) for a in (30, 90)}
    print(f"| {v} | {pct(summary['verifier'].get('mc_test_accuracy'))} "
          f"| {pct(by['mnist_test']['clear_right'])}, {pct(by['mnist_test']['ood'])} | {pct(by['fashion_test']['clear'])} "
          f"| {pct(by['uniform_noise']['clear'])} | {pct(turned[30].get('clear_right'))} "
          f"| {pct(turned[90].get('clear_right'))} ({turned[90].get('clear_wrong')}) "
          f"| {by['fashion_test']['auroc_vs_mnist_test']['atypicality']} "
          f"| {best['layer']} {best['grid']}x{best['grid']} {best['covariance']} ({best['worst_auroc']}) "
          f"| {pct(drawn.get('rejection_rate'))}, {pct(drawn.get('ood_rate'))}, {pct(drawn.get('ambiguity_rate'))} |")
EOF
