#!/usr/bin/env bash
# Rows of the per-digit GAN recipe study (docs/ablations.md, "01: a stronger recipe"): each row
# trains the GANs of DIGITS with 01 and one change from its defaults at EPOCHS, then scores
# the generators' raw draws with bench/score_generators.py (02's verifier and 04's CNN judge:
# fidelity, FID, precision and recall) and appends its JSON line to OUT. A finished row is
# skipped (01 skips trained digits and its line is in OUT); an interrupted one resumes from
# 01's checkpoints. Run from the repository root, one row per line of ROWS ("name overrides..."):
#
#     bash bench/recipe_ablation.sh
#     ROWS="hinge_sn --LOSS=hinge --D_SPECTRAL_NORM=1" SEEDS="1234 2234" bash bench/recipe_ablation.sh
#
# SEEDS: 01's SEED for each row (a seed other than 1234 is named NAME_eEPOCHS_sSEED); PYTHON: the interpreter.
# A row is known by its name alone: give another OUT for other DIGITS.
set -eu
PYTHON=${PYTHON:-python}
DIGITS=${DIGITS:-2,7,9}
EPOCHS=${EPOCHS:-40}
SEEDS=${SEEDS:-1234}
OUT=${OUT:-docs/ablations_recipe.jsonl}
ROWS=${ROWS:-"base
translation --AUGMENT=translation
hinge_sn --LOSS=hinge --D_SPECTRAL_NORM=1
r1 --R1_GAMMA=1.0
r1_10 --R1_GAMMA=10
minibatch_std --D_MINIBATCH_STD=1
g_convs1 --G_CONVS=1
width48 --WIDTH=48
g_convs1_r1_mbstd --G_CONVS=1 --R1_GAMMA=1.0 --D_MINIBATCH_STD=1"}
mkdir -p outputs/ablations
touch "$OUT"
while read -r NAME ARGS; do
    [ -n "$NAME" ] || continue
    for SEED in $SEEDS; do
        ROW="${NAME}_e${EPOCHS}$([ "$SEED" = 1234 ] || echo "_s$SEED")"
        if grep -q "\"name\": \"$ROW\"" "$OUT"; then
            echo "$ROW: in $OUT already, skipped"
            continue
        fi
        echo "$ROW: $ARGS ($(date +%H:%M))"
        # shellcheck disable=SC2086  # ARGS is a list of 01's overrides
        $PYTHON 01_train_class_gans.py --CLASSES="$DIGITS" --EPOCHS="$EPOCHS" --SEED="$SEED" $ARGS --VERBOSE=2 \
            --WEIGHTS_DIR="weights/ablations/$ROW" --OUTPUT_DIR="outputs/ablations/$ROW" > "outputs/ablations/$ROW.log" 2>&1 \
            || { echo "$ROW: 01 failed, see outputs/ablations/$ROW.log"; continue; }
        $PYTHON bench/score_generators.py --CLASSES="$DIGITS" --GENERATOR_DIR="weights/ablations/$ROW" --NAME="$ROW" \
            2>> "outputs/ablations/$ROW.log" | grep "^{" >> "$OUT" || echo "$ROW: scoring failed, see outputs/ablations/$ROW.log"
    done
done <<< "$ROWS"
$PYTHON bench/ablation_table.py "$OUT"
