"""AC-GAN networks: one conditional generator for every class.

The DCGAN's bodies (models/dcgan.py) with a label: G([z, label]) concatenates a one-hot
label to z; D(image) -> (real/fake logit, class logits), and with ``twin`` a second set of
class logits (TAC-GAN's twin classifier, which learns the classes of generated images).
The auxiliary class losses that both nets add to the adversarial one are in models/gan.py.
"""

import keras
from keras import layers, ops

from models.dcgan import image_features, upsample_to_image


def build_acgan(n_classes, latent_dim=100, width=64, dropout=0.4, minibatch_std=False, d_width=None, twin=False):
    """(generator, discriminator) for ``n_classes`` classes, G of ``width`` and D of ``d_width``
    (default: ``width``); ``minibatch_std`` gives D the batch's variety as one more feature
    channel (models.dcgan.MinibatchStd); ``twin`` gives D a twin class head (TAC-GAN)."""
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    x = layers.Concatenate()([z, ops.one_hot(label, n_classes)])
    generator = keras.Model([z, label], upsample_to_image(x, width), name="acgan_generator")

    image = keras.Input((28, 28, 1), name="image")
    features = image_features(image, d_width or width, dropout, minibatch_std)
    heads = [layers.Dense(1, name="real_fake")(features), layers.Dense(n_classes, name="class")(features)]
    heads += [layers.Dense(n_classes, name="twin_class")(features)] if twin else []
    return generator, keras.Model(image, heads, name="acgan_discriminator")
