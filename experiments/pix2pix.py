"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN.

  python experiments/pix2pix.py                     # digits: edge drawing → digit, about 3 minutes
  python experiments/pix2pix.py --flagfile=experiments/configs/pix2pix_facades.flags

G is a U-Net whose only noise is dropout (kept on when sampling); D a PatchGAN
that judges (input, output) pairs patch by patch (--d_layers=3: the 70×70
PatchGAN); G's loss adds λ·‖b − G(a)‖₁ with λ = --l1_weight = 100. Adam 2e-4,
β1 = 0.5, batch normalization. Every --eval_every steps the run reports the
held-out L1 error beside the input-as-output baseline, and on the digits how
often an independent classifier reads each output as the input's digit;
plots/translations_STEP.png shows input | output | target.
"""

import dataclasses

from jaxgan import builders, cli, models
from jaxgan.config import TranslationConfig, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import image_to_image, pix2pix
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(TranslationConfig):
  l1_weight: float = option(100.0, "λ, the weight of the L1 term in G's loss.")
  dropout: float = option(0.5, "Dropout rate in the U-Net's decoder (G's noise).")
  direction: str = option("AtoB", "Translate A to B, or B to A.", choices=("AtoB", "BtoA"))
  loss: str = option(
    "non_saturating",
    "The conditional GAN loss (the paper's; least squares is the code's lsgan option).",
    choices=("non_saturating", "least_squares"),
  )


def make_spec(config: Config, dataset) -> pix2pix.Pix2PixSpec:
  try:
    models.image_to_image.unet_depth(config.image_size)
  except ValueError as e:
    raise ConfigError(f"--image_size={config.image_size}: {e}") from None
  return pix2pix.Pix2PixSpec(
    generator=models.UNetGenerator(
      channels=dataset.channels[1],
      width=config.g_width,
      normalization=config.normalization,
      dropout_rate=config.dropout,
    ),
    discriminator=models.PatchGANDiscriminator(
      width=config.d_width, num_layers=config.d_layers, normalization=config.normalization
    ),
    loss=loss_pair(config.loss),
    generator_optimizer=builders.adam(config, "generator"),
    discriminator_optimizer=builders.adam(config, "discriminator"),
    l1_weight=config.l1_weight,
  )


def main(config: Config):
  image_to_image.run_experiment(
    "pix2pix",
    config,
    make_spec,
    pix2pix.make_trainer,
    paired=True,
    swap=config.direction == "BtoA",
  )


if __name__ == "__main__":
  cli.run(main, Config)
