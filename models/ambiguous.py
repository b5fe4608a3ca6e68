"""Digits between two classes on demand: the AC-GAN drawn with a mix of two class labels.

The AC-GAN's generator concatenates a one-hot label to its noise z. Fed a mix instead,
``(1 - t) * onehot(a) + t * onehot(b)``, it draws a digit that morphs from class ``a``
(t = 0) into class ``b`` (t = 1) for the same z. Where along the way the verifier cannot
decide depends on z, so ``find_mix`` searches each z's own t: bisection on which of the
two classes the verifier without dropout (its MC mean's usual stand-in) ranks higher.
The images at those mixes then go through the full MC verifier like any other.
"""

import keras
import numpy as np
from keras import layers, ops

from models.data import to_classifier_input, to_uint8
from models.verdict import verdicts


def mixed_label_generator(generator):
    """``generator`` (the AC-GAN's: ``[z, int label]`` -> image) as ``[z, class weights]`` ->
    image, sharing its layers: the class weights (rows summing to 1) replace the one-hot."""
    concat = next((layer for layer in generator.layers if isinstance(layer, layers.Concatenate)), None)
    if len(generator.inputs) != 2 or concat is None:
        raise ValueError(f"{generator.name} is not an AC-GAN generator (z and a one-hot label, concatenated).")
    tail = keras.Model(concat.output, generator.output)
    latent_dim = generator.inputs[0].shape[-1]
    n_classes = concat.output.shape[-1] - latent_dim
    z, weights = keras.Input((latent_dim,), name="z"), keras.Input((n_classes,), name="class_weights")
    return keras.Model([z, weights], tail(ops.concatenate([z, weights], axis=-1)), name="mixed_label_generator")


def mixed_labels(a, b, t, n_classes=10):
    """(N, n_classes) rows ``(1 - t) * onehot(a) + t * onehot(b)`` for mixes ``t`` (N,)."""
    t = np.asarray(t, np.float32)
    weights = np.zeros((len(t), n_classes), np.float32)
    weights[:, a] = 1 - t
    weights[:, b] += t
    return weights


def draw_mixed(mixed_generator, z, a, b, t, batch_size=500):
    """uint8 images (N, 28, 28) from noise ``z`` at mixes ``t`` between classes ``a`` and ``b``."""
    n_classes = mixed_generator.inputs[1].shape[-1]
    out = [mixed_generator([z[i : i + batch_size], mixed_labels(a, b, t[i : i + batch_size], n_classes)],
                           training=False) for i in range(0, len(z), batch_size)]
    return to_uint8(np.concatenate([ops.convert_to_numpy(o) for o in out]))


def find_mix(mixed_generator, deterministic, z, a, b, steps=8, batch_size=1000):
    """Per z, the mix t in [0, 1] where ``deterministic`` ranks classes ``a`` and ``b`` equally,
    found by ``steps`` bisection steps (to within 2**-(steps + 1)); (N,) float32."""
    low, high = np.zeros(len(z), np.float32), np.ones(len(z), np.float32)
    for _ in range(steps):
        t = (low + high) / 2
        x = draw_mixed(mixed_generator, z, a, b, t)
        x = to_classifier_input(x)
        probs = np.concatenate([np.asarray(deterministic.predict_on_batch(x[i : i + batch_size]))
                                for i in range(0, len(x), batch_size)])
        more_b = probs[:, b] > probs[:, a]
        high, low = np.where(more_b, t, high), np.where(more_b, low, t)
    return (low + high) / 2


def verify_between(verifier, x, a, b, density=None, **mc):
    """``verdicts`` on images meant to lie between ``a`` and ``b``, plus ``on_pair``: ambiguous
    with {a, b} as the top two classes (and, with a ``density``, not out of distribution)."""
    verdict = verdicts(verifier, x, density, **mc)
    top, challenger = verdict["top"], verdict["challenger"]
    on_pair = (np.minimum(top, challenger) == min(a, b)) & (np.maximum(top, challenger) == max(a, b))
    return {**verdict, "on_pair": verdict["ambiguous"] & on_pair & ~verdict.get("out_of_distribution", False)}
