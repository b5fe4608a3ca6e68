"""AC-GAN: one conditional generator for every class, and its objective.

The networks are models/dcgan.py's with ``n_classes`` set: G([z, label]) -> image,
D(image) -> (real/fake logit, class logits). Both nets minimise the adversarial loss
plus the auxiliary class loss: D on real and fake images, G on its own samples.
"""

from keras import ops

from models.dcgan import bce_with_logits, build_discriminator, build_generator


def build_acgan(n_classes, latent_dim=100, width=64):
    """(generator, discriminator) for ``n_classes`` classes."""
    return (build_generator(latent_dim, width, n_classes, name="acgan_generator"),
            build_discriminator(width, n_classes=n_classes, name="acgan_discriminator"))


def class_loss(labels, logits):
    return ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))


class ACGANObjective:
    """Adversarial (one-sided label smoothing on real) + auxiliary classification loss."""

    def __init__(self, real_label=0.9):
        self.real_label = real_label

    def discriminator_loss(self, real_out, fake_out, labels, fake_labels):
        (real_logit, real_class), (fake_logit, fake_class) = real_out, fake_out
        adversarial = bce_with_logits(self.real_label, real_logit) + bce_with_logits(0.0, fake_logit)
        auxiliary = class_loss(labels, real_class) + class_loss(fake_labels, fake_class)
        real_class_acc = ops.mean(ops.cast(ops.argmax(real_class, axis=-1) == ops.cast(labels, "int32"), "float32"))
        metrics = {"d_adversarial": adversarial, "d_class": auxiliary, "d_real_class_acc": real_class_acc}
        return adversarial + auxiliary, metrics

    def generator_loss(self, fake_out, fake_labels):
        fake_logit, fake_class = fake_out
        adversarial, auxiliary = bce_with_logits(1.0, fake_logit), class_loss(fake_labels, fake_class)
        return adversarial + auxiliary, {"g_adversarial": adversarial, "g_class": auxiliary}
