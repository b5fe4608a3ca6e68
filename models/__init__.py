"""The mechanism shared by the numbered scripts: data, models, training, files, plots."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hide TensorFlow C++ start-up chatter (CUDA probing etc.)
