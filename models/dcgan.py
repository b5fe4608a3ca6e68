"""DCGAN networks for 28x28 images and the plain GAN objective.

Generator: z -> Dense 7x7x(2*width) -> BN/LeakyReLU -> ConvT(width) 14x14 -> BN/LeakyReLU
-> ConvT(1) 28x28, tanh. Discriminator: Conv(width) 14x14 -> Conv(2*width) 7x7, each
LeakyReLU + dropout 0.4, -> one real/fake logit. Small on purpose: one digit is an easy
distribution, and ten of these must train on a laptop CPU. With ``n_classes`` the same
networks become the AC-GAN's (models/acgan.py): G also takes a class label (one-hot,
concatenated to z) and D gets a second head with class logits.
"""

import keras
from keras import layers, ops


def build_generator(latent_dim=100, width=64, n_classes=0, name="generator"):
    """z (latent_dim,) [and an int label if n_classes] -> image (28, 28, 1) in [-1, 1]."""
    z = keras.Input((latent_dim,), name="z")
    inputs, x = z, z
    if n_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs, x = [z, label], layers.Concatenate()([z, ops.one_hot(label, n_classes)])
    x = layers.Dense(7 * 7 * 2 * width, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((7, 7, 2 * width))(x)
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    image = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(x)
    return keras.Model(inputs, image, name=name)


def build_discriminator(width=64, dropout=0.4, n_classes=0, name="discriminator"):
    """image (28, 28, 1) -> real/fake logit (1,) [and class logits (n_classes,)]."""
    image = keras.Input((28, 28, 1), name="image")
    x = image
    for filters in (width, 2 * width):
        x = layers.Conv2D(filters, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout)(x)
    features = layers.Flatten()(x)
    outputs = layers.Dense(1, name="real_fake")(features)
    if n_classes:
        outputs = [outputs, layers.Dense(n_classes, name="class")(features)]
    return keras.Model(image, outputs, name=name)


def bce_with_logits(target, logits):
    """Mean binary cross-entropy of ``logits`` against a constant ``target`` probability."""
    return ops.mean(ops.binary_crossentropy(ops.full_like(logits, target), logits, from_logits=True))


class DCGANObjective:
    """Non-saturating GAN loss with one-sided label smoothing (real target ``real_label``)."""

    def __init__(self, real_label=0.9):
        self.real_label = real_label

    def discriminator_loss(self, real_out, fake_out, labels, fake_labels):
        loss_real = bce_with_logits(self.real_label, real_out)
        loss_fake = bce_with_logits(0.0, fake_out)
        metrics = {
            "d_loss_real": loss_real,
            "d_loss_fake": loss_fake,
            "d_acc_real": ops.mean(ops.cast(real_out > 0, "float32")),
            "d_acc_fake": ops.mean(ops.cast(fake_out < 0, "float32")),
        }
        return loss_real + loss_fake, metrics

    def generator_loss(self, fake_out, fake_labels):
        loss = bce_with_logits(1.0, fake_out)
        return loss, {"g_loss": loss}
