"""ACGAN (Odena et al. 2017): D also classifies, and G is rewarded for the class it was asked.

  python experiments/acgan.py                        # digits at 16×16
  python experiments/acgan.py --flagfile=experiments/configs/acgan_cifar10.flags

G takes (z, c); D takes only the image and has two heads: real/fake and a
K-way classifier. D minimizes the GAN loss + L_C(real) + L_C(fake), G the GAN
loss + L_C(fake), with L_C = −E[log P(C = c | X)] (eq. 2). Non-saturating
GAN loss, Adam 2e-4 with β1 = 0.5.
"""

import dataclasses

from jaxgan import builders, cli, losses
from jaxgan.config import ImageGANConfig, option
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  class_weight: float = option(1.0, "Weight of the auxiliary classification loss.")


def class_loss_both(inputs: gan.RegularizerInputs):
  """D's L_C on real and fake examples (fakes were generated for the real batch's labels)."""
  real = losses.auxiliary_classifier_loss(inputs.real_out["class_logits"], inputs.labels)
  fake = losses.auxiliary_classifier_loss(inputs.fake_out["class_logits"], inputs.latent.labels)
  return real + fake


def class_loss_fake(inputs: gan.RegularizerInputs):
  """G's L_C: the classes it was asked for, as D's classifier sees them."""
  return losses.auxiliary_classifier_loss(inputs.fake_out["class_logits"], inputs.latent.labels)


def make_spec(config: Config, dataset) -> gan.GANSpec:
  classes = builders.require_labels(dataset, "acgan")
  return builders.gan_spec(
    config,
    dataset,
    generator=builders.generator(config, dataset, num_classes=classes),
    discriminator=builders.discriminator(config, dataset, aux_classes=classes),
    loss=loss_pair("non_saturating"),
    discriminator_regularizers=(
      gan.Regularizer("d_class_loss", config.class_weight, class_loss_both),
    ),
    generator_regularizers=(gan.Regularizer("g_class_loss", config.class_weight, class_loss_fake),),
    num_classes=classes,
  )


def main(config: Config):
  builders.run_experiment("acgan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
