"""DCGAN networks for 28x28 images: the per-digit GANs of 01, and the bodies the AC-GAN reuses.

Generator: z -> Dense 7x7x(2*width) -> BN/LeakyReLU -> ConvT(width) 14x14 -> BN/LeakyReLU
-> ConvT(1) 28x28, tanh. Discriminator: Conv(width) 14x14 -> Conv(2*width) 7x7, each
LeakyReLU + dropout, -> one real/fake logit. Small on purpose: one digit is an easy
distribution, and ten of these must train on a laptop CPU.
"""

import keras
from keras import layers, ops


def build_generator(latent_dim=100, width=64, name="generator", convs=0):
    """z (latent_dim,) -> image (28, 28, 1) in [-1, 1]; ``convs``: see ``upsample_to_image``."""
    z = keras.Input((latent_dim,), name="z")
    return keras.Model(z, upsample_to_image(z, width, convs), name=name)


def build_discriminator(width=64, dropout=0.4, name="discriminator", minibatch_std=False, spectral_norm=False):
    """image (28, 28, 1) -> real/fake logit (1,); ``minibatch_std``: see ``MinibatchStd``;
    ``spectral_norm``: every kernel divided by its largest singular value (SNGAN)."""
    image = keras.Input((28, 28, 1), name="image")
    features = image_features(image, width, dropout, minibatch_std, spectral_norm)
    dense = SpectralDense if spectral_norm else layers.Dense
    return keras.Model(image, dense(1, name="real_fake")(features), name=name)


def upsample_to_image(x, width, convs=0):
    """The generator's body: a vector -> a (28, 28, 1) tanh image; ``convs`` 3x3 convolutions
    (BN, LeakyReLU) more at 7x7 and at 14x14, for a deeper G."""
    x = _bn_lrelu(layers.Dense(7 * 7 * 2 * width, use_bias=False)(x))
    x = layers.Reshape((7, 7, 2 * width))(x)
    for _ in range(convs):
        x = _bn_lrelu(layers.Conv2D(2 * width, 3, padding="same", use_bias=False)(x))
    x = _bn_lrelu(layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x))
    for _ in range(convs):
        x = _bn_lrelu(layers.Conv2D(width, 3, padding="same", use_bias=False)(x))
    return layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(x)


def _bn_lrelu(x):
    return layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))


def image_features(image, width, dropout, minibatch_std=False, spectral_norm=False):
    """The discriminator's body: an image -> a flat feature vector for its heads."""
    x = image
    conv = SpectralConv2D if spectral_norm else layers.Conv2D
    for filters in (width, 2 * width):
        x = conv(filters, 4, strides=2, padding="same")(x)
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


class PowerVector:
    """Mixin for a layer with a kernel: ``power_vector``, the power iteration's running estimate
    of the kernel's top right-singular vector (not trained; rewritten by every training call,
    G's steps included, as in SNGAN)."""

    def build(self, input_shape):
        super().build(input_shape)
        self.power_vector = self.add_weight(shape=(1, self.kernel.shape[-1]), initializer="random_normal",
                                            trainable=False, name="power_vector")


class SpectralConv2D(PowerVector, layers.Conv2D):
    """Conv2D whose kernel is divided by its largest singular value (spectral normalisation,
    Miyato et al. 2018), so D cannot sharpen without bound. Keras's own wrapper writes the
    normalised kernel back into the layer's weights, which here would move D in G's steps.
    As D uses it: channels last, a bias, no activation."""

    def call(self, inputs, training=False):
        return self.convolution_op(inputs, spectral_kernel(self, training)) + self.bias


class SpectralDense(PowerVector, layers.Dense):
    """Dense with its kernel divided by its largest singular value (see ``SpectralConv2D``)."""

    def call(self, inputs, training=False):
        return ops.matmul(inputs, spectral_kernel(self, training)) + self.bias


def spectral_kernel(layer, training):
    """``layer``'s kernel over its largest singular value, estimated by one power iteration from
    ``layer.power_vector`` (kept for the next call when ``training``); the gradient flows through the
    value, not through the iteration's vectors."""
    kernel = layer.kernel
    matrix = ops.reshape(kernel, (-1, kernel.shape[-1]))
    v = ops.stop_gradient(unit(ops.matmul(layer.power_vector, ops.transpose(matrix))))
    image = ops.matmul(v, matrix)  # sigma * u, differentiable in the kernel
    u = ops.stop_gradient(unit(image))
    if training:
        layer.power_vector.assign(u)
    return kernel / ops.sum(image * u)


def unit(x):
    return x / (ops.sqrt(ops.sum(ops.square(x))) + 1e-12)
