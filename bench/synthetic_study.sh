#!/usr/bin/env bash
# The synthetic-data study behind docs/results.md ("How close synthetic data comes to real"):
# every row of its table, one job after another (about 3 h on a 2-core CPU, most of it 01's
# second set of generators and 04's runs). 04 reads its finished runs back from runs.json
# (copied from one report folder to the next, so real-only is trained once) and each step
# resumes where it stopped. Ends by writing the table's JSON lines. Every row but the latent
# scale sweep draws at LATENT_SCALE=1.0 (02's default is 1.5), the first ones into 02's default
# folders: run 02 again afterwards for data at the defaults. Run from the repository root:
#
#     bash bench/synthetic_study.sh
set -eux
PYTHON=${PYTHON:-python}
Z1=--LATENT_SCALE=1.0
EVERY=real,synthetic,synthetic-clear,raw,acgan,dcgan+acgan,real+synthetic,real+ambiguous

# 60,000 verified images per generator, every training set, three seeds
$PYTHON 02_generate_and_verify.py $Z1
$PYTHON 02_generate_and_verify.py $Z1 --GENERATOR=acgan
$PYTHON 04_train_classifier_on_synthetic.py --SETS=$EVERY --AMBIGUOUS= --OUTPUT_DIR=outputs/report_study

# fresh data: as many distinct verified draws (and raw ones) as a classifier sees images
$PYTHON 02_generate_and_verify.py $Z1 --N_PER_CLASS=18000 --OUTPUT_DIR=outputs/generated_18000
study() {  # study FOLDER GENERATED SETS: 04 on other data, its real-only runs read back
    mkdir -p "$1" && cp outputs/report_study/runs.json "$1/runs.json"
    $PYTHON 04_train_classifier_on_synthetic.py --SETS="$3" --AMBIGUOUS= --GENERATED="$2" --GENERATED_ACGAN= \
        --OUTPUT_DIR="$1"
}
study outputs/report_18000 outputs/generated_18000/generated.npz real,synthetic,raw

# two generators per digit (01's recipe, a second seed), half the images from each
$PYTHON 01_train_class_gans.py --SEED=2234 --WEIGHTS_DIR=weights/class_gans_seed2234 \
    --OUTPUT_DIR=outputs/class_gans_seed2234
$PYTHON 02_generate_and_verify.py $Z1 --N_PER_CLASS=9000 --GENERATOR_DIR=weights/class_gans_seed2234 \
    --OUTPUT_DIR=outputs/generated_seed2234
$PYTHON bench/merge_generated.py
study outputs/report_two_seeds outputs/generated_two_seeds/generated.npz real,synthetic,raw

# the learning curve in synthetic set size: the first 2,000 per digit of the fresh draws (60,000 and 180,000: above)
$PYTHON bench/merge_generated.py --INPUTS=outputs/generated_18000/generated.npz --N_PER_CLASS=2000 \
    --OUTPUT=outputs/generated_18000_first2000/generated.npz
study outputs/report_first2000 outputs/generated_18000_first2000/generated.npz real,synthetic

# wider latent noise: the shipped generators fed z ~ N(0, s^2), the verifier removing what fails
for s in 1.15 1.3 1.5 1.7; do
    $PYTHON 02_generate_and_verify.py --LATENT_SCALE=$s --OUTPUT_DIR=outputs/generated_z$s
    study outputs/report_z$s outputs/generated_z$s/generated.npz real,synthetic
done

$PYTHON bench/study_table.py outputs/report_study outputs/report_18000 outputs/report_two_seeds \
    outputs/report_first2000 outputs/report_z1.15 outputs/report_z1.3 outputs/report_z1.5 outputs/report_z1.7 \
    > docs/synthetic_study.jsonl
