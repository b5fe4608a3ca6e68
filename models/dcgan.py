"""DCGAN networks for 28x28 images: the per-digit GANs of 01, and the bodies the AC-GAN reuses.

Generator: z -> Dense 7x7x(2*width) -> BN/LeakyReLU -> ConvT(width) 14x14 -> BN/LeakyReLU
-> ConvT(1) 28x28, tanh. Discriminator: Conv(width) 14x14 -> Conv(2*width) 7x7, each
LeakyReLU + dropout, -> one real/fake logit. Small on purpose: one digit is an easy
distribution, and ten of these must train on a laptop CPU.
"""

import keras
from keras import layers, ops


def build_generator(latent_dim=100, width=64, name="generator"):
    """z (latent_dim,) -> image (28, 28, 1) in [-1, 1]."""
    z = keras.Input((latent_dim,), name="z")
    return keras.Model(z, upsample_to_image(z, width), name=name)


def build_discriminator(width=64, dropout=0.4, name="discriminator"):
    """image (28, 28, 1) -> real/fake logit (1,)."""
    image = keras.Input((28, 28, 1), name="image")
    features = image_features(image, width, dropout)
    return keras.Model(image, layers.Dense(1, name="real_fake")(features), name=name)


def upsample_to_image(x, width):
    """The generator's body: a vector -> a (28, 28, 1) tanh image."""
    x = layers.Dense(7 * 7 * 2 * width, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((7, 7, 2 * width))(x)
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    return layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(x)


def image_features(image, width, dropout, minibatch_std=False):
    """The discriminator's body: an image -> a flat feature vector for its heads."""
    x = image
    for filters in (width, 2 * width):
        x = layers.Conv2D(filters, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout)(x)
    if minibatch_std:
        x = MinibatchStd()(x)
    return layers.Flatten()(x)


class MinibatchStd(layers.Layer):
    """One more channel: the features' standard deviation across the batch, averaged over
    features and positions (ProGAN's minibatch standard deviation). D sees how varied a
    batch is, so a G that draws the same few images is easy to catch. D gets real and
    generated images in separate batches here, as this needs."""

    def call(self, x):
        std = ops.mean(ops.sqrt(ops.var(x, axis=0) + 1e-8))
        return ops.concatenate([x, ops.ones_like(x[..., :1]) * std], axis=-1)
