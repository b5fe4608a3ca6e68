#!/usr/bin/env bash
# A per-digit GAN recipe's generators of all ten digits, judged as the data they make
# (docs/ablations.md, "01: a stronger recipe, all ten digits"): first their raw draws scored
# by bench/score_generators.py with 02's verdict counted at each latent scale of SCALES (one
# JSON line each in OUT), then, for each scale of SCALES_04, 02's 60,000 verified digits drawn
# at that scale and 04's classifiers trained on real data and on them alone (REPEATS seeds each,
# both judges' quality metrics), tested on real MNIST; RUNS: a runs.json of 04 whose finished
# runs (real-only) are read back rather than trained again. Every step resumes or skips what is
# done. Run from the repository root, after 01 has trained GENERATOR_DIR:
#
#     GENERATOR_DIR=weights/ablations/g_convs1_e85_all NAME=g_convs1_e85_all bash bench/recipe_candidate.sh
#     GENERATOR_DIR=weights/pretrained/class_gans NAME=shipped_e85_all bash bench/recipe_candidate.sh   # the shipped ones
#
# 04's table for the rows: python bench/study_table.py --markdown outputs/report_NAME_z*
set -eu
PYTHON=${PYTHON:-python}
GENERATOR_DIR=${GENERATOR_DIR:?set GENERATOR_DIR to the folder of generator_0..9}
NAME=${NAME:?set NAME, a name for the rows}
SCALES=${SCALES-"1.0 1.25 1.5"}  # empty: none
SCALES_04=${SCALES_04-1.5}  # empty: none
REPEATS=${REPEATS:-3}
RUNS=${RUNS:-}
OUT=${OUT:-docs/ablations_recipe_all.jsonl}
touch "$OUT"
for s in $SCALES; do
    ROW="${NAME}_z$s"
    if grep -q "\"name\": \"$ROW\"" "$OUT"; then echo "$ROW: in $OUT already, skipped"; continue; fi
    echo "$ROW: scoring ($(date +%H:%M))"
    $PYTHON bench/score_generators.py --GENERATOR_DIR="$GENERATOR_DIR" --NAME="$ROW" --LATENT_SCALE_02="$s" \
        | grep "^{" >> "$OUT"
done
for s in $SCALES_04; do
    echo "${NAME}_z$s: 02 and 04 ($(date +%H:%M))"
    $PYTHON 02_generate_and_verify.py --GENERATOR_DIR="$GENERATOR_DIR" --LATENT_SCALE="$s" \
        --OUTPUT_DIR="outputs/generated_${NAME}_z$s" --VERBOSE=0
    REPORT="outputs/report_${NAME}_z$s"
    if [ -n "$RUNS" ] && [ ! -e "$REPORT/runs.json" ]; then mkdir -p "$REPORT" && cp "$RUNS" "$REPORT/runs.json"; fi
    $PYTHON 04_train_classifier_on_synthetic.py --SETS=real,synthetic --REPEATS="$REPEATS" --AMBIGUOUS= --GENERATED_ACGAN= \
        --GENERATED="outputs/generated_${NAME}_z$s/generated.npz" --OUTPUT_DIR="$REPORT" --VERBOSE=0
done
