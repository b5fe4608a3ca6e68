"""The verifier, its verdict and the independent judges: the one place their defaults are written.

02, 04, 05, 06 and 07 and the benchmarks import these names under a heading at their top, so
each is a knob of that script like its own (``--MC_RULE=fixed``, listed by ``--help``)
while its default exists once: change it here and every script verifies the same way.
Every artefact records the values that made it, so a changed default is never reused
silently. The numbers behind each default are in docs/ablations.md.
"""

# the verifier: the MC-dropout CNN that judges every image (trained by 02 where no weights match)
VERIFIER = "default"  # architecture: "default" (22.5 MFLOPs per MC pass), "light" (11.6: 02 1.5x as fast without
# bfloat16, its clear labels less trustworthy; shipped too) or "reference" (the original experiment's: 62)
DROPOUT = 0.4  # MC-dropout rate of its three dropout layers
VERIFIER_EPOCHS = 15  # epochs when it has to be trained (about 15 min on 2 CPU cores)
VERIFIER_BATCH_SIZE = 128  # images per training step
VERIFIER_VAL_SIZE = 5000  # training images held out to pick its best epoch (and to set the OOD threshold)
VERIFIER_SUBSET = 0  # train and test it on at most this many images (0 = all; for quick tests)
VERIFIER_SEED = 2024  # its weights, dropout and validation split

# the verdict: MC passes, and the 2-SD rule on their mean and SD
MC_PASSES = 100  # stochastic passes per image: the cap under the adaptive rule, every image's under "fixed"
MC_RULE = "adaptive"  # "adaptive": an image stops once its verdict is settled; "fixed": MC_PASSES for every image;
# "one_pass": one deterministic pass, ambiguous below ONE_PASS_CONFIDENCE
MC_ROUND_PASSES = 5  # adaptive rule: passes per round, after which settled images stop
MC_MIN_PASSES = 5  # adaptive rule: passes every image gets
ONE_PASS_CONFIDENCE = 0.9931  # one_pass rule: ambiguous below this top probability (flags as many held-out digits
# as the adaptive rule; 06_check_the_verdicts.py measures it)
MC_BATCH = 0  # rows (images x passes) per verifier call; 0 = chosen for the device (512 on a CPU, 16384 per GPU)
MC_PRECISION = "auto"  # "float32", "bfloat16", or "auto": bfloat16 where the CPU or GPU computes it natively

# out of distribution: an image unlike every training digit is rejected, whatever the passes say
OOD_LAYER = "conv4"  # verifier layer whose features are scored: conv1..conv4 or dense
OOD_GRID = 2  # those features averaged over an OOD_GRID x OOD_GRID grid of image regions
OOD_COVARIANCE = "class"  # their Gaussian per class: one covariance per "class", or one "shared" (Mahalanobis)
OOD_RATE = 0.005  # share of held-out real digits called out of distribution: sets the threshold (0 = no such verdict)

# the independent judges: classifiers trained on real MNIST that score generated data (never the verifier)
FILTERS = (32, 64)  # filters of the CNN judge's two 5x5 conv layers (and of 04's accuracy classifier)
DENSE_UNITS = 512  # width of its penultimate ("features") layer: the FID and precision/recall feature space
RESNET_WIDTHS = (16, 32, 64)  # the second judge, a small ResNet: its stages' widths (two blocks each)
BATCH_SIZE = 128  # images per training step (the judges and 04's classifiers)
INDEPENDENT_IMPRESSIONS = 300_000  # training images each judge sees
INDEPENDENT_SEED = 7  # the judges' weights and their split of the real train set
JUDGE_HELD_OUT = 10000  # real train images the judges never see: the real floor of FID and precision/recall
