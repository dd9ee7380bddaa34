"""Conditional GAN (Mirza & Osindero 2014): the label goes into both G and D.

  python experiments/cgan.py                         # digits at 16×16, about 2 minutes on a CPU
  python experiments/cgan.py --conditioning=projection   # Miyato & Koyama 2018
  python -m jaxgan.sample --workdir=runs/cgan_digits --label=7 --num_samples=64 --output=7.png

--conditioning=concat feeds the one-hot label to G beside z and to D as
constant extra input channels; --conditioning=projection gives G
class-conditional BatchNorm and D the projection term yᵀVφ(x). Fakes are
generated for the labels of the real batch. Non-saturating loss (or
--loss=hinge, the projection paper's), Adam 2e-4 with β1 = 0.5. On digits
the run reports, every --eval_every steps, how often an independent
classifier (logistic regression on real digits) sees the class that was
asked for.
"""

import dataclasses

from jaxgan import builders, cli
from jaxgan.config import ImageGANConfig, option
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  conditioning: str = option("concat", "How the label enters.", choices=("concat", "projection"))
  loss: str = option(
    "non_saturating",
    "Adversarial loss (hinge: Miyato & Koyama).",
    choices=("non_saturating", "hinge"),
  )


def make_spec(config: Config, dataset) -> gan.GANSpec:
  classes = builders.require_labels(dataset, "cgan")
  conditioning = config.conditioning
  return builders.gan_spec(
    config,
    dataset,
    generator=builders.generator(config, dataset, num_classes=classes, conditioning=conditioning),
    discriminator=builders.discriminator(
      config, dataset, num_classes=classes, conditioning=conditioning
    ),
    loss=loss_pair(config.loss),
    num_classes=classes,
    label_to_discriminator=True,
  )


def main(config: Config):
  builders.run_experiment("cgan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
