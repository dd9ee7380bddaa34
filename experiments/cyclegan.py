"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation with cycle consistency.

  python experiments/cyclegan.py                    # digits: edge drawings ↔ digits, unpaired
  python experiments/cyclegan.py --flagfile=experiments/configs/cyclegan_horse2zebra.flags

Two ResNet generators (G: A → B, F: B → A; --num_blocks residual blocks,
instance norm), two PatchGANs, the least-squares adversarial loss in the
paper's form E[(D(G(a)) − 1)²], cycle consistency λ·(‖F(G(a)) − a‖₁ +
‖G(F(b)) − b‖₁) with λ = --cycle_weight = 10, the identity loss
λ_id·λ·(‖G(b) − b‖₁ + ‖F(a) − a‖₁), and discriminators trained on a pool of
the 50 latest fakes. Adam 2e-4, β1 = 0.5, constant for half the steps then
linearly to 0. Every --eval_every steps the run reports the cycle errors, how
many translations an independent domain classifier puts in the other domain,
and on the digits how often the translated digit keeps its class;
plots/translations_STEP.png shows A → B → A and B → A → B.

The defaults are the digits demo's and differ from the paper's 256×256 recipe
(cyclegan_horse2zebra.flags) in two places: one down-sampling instead of two,
and no identity loss (BENCHMARKS.md, "Image-to-image translation", has the
measurements behind both).
"""

import dataclasses

from jaxgan import builders, cli, models
from jaxgan.config import TranslationConfig, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import cyclegan, image_to_image
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(TranslationConfig):
  dataset: str = "digits_edges_unpaired"
  batch_size: int = 16
  g_width: int = 16
  normalization: str = "instance"
  lr_schedule: str = "constant_then_linear"
  num_blocks: int = option(6, "Residual blocks in each generator (9 for 256×256).")
  num_downsamplings: int = option(
    1, "Stride-2 convolutions before the blocks (the paper's 2 for 256×256)."
  )
  cycle_weight: float = option(10.0, "λ, the weight of the cycle-consistency loss.")
  identity_weight: float = option(
    0.0, "λ_id, the identity loss's weight relative to λ (the paper's 0.5)."
  )
  pool_size: int = option(50, "Earlier fakes kept for the discriminators; 0: none.")
  loss: str = option(
    "least_squares", "The adversarial loss.", choices=("least_squares", "non_saturating")
  )

  def __post_init__(self):
    super().__post_init__()
    factor = 2**self.num_downsamplings
    if self.num_downsamplings < 0 or self.image_size % factor or self.image_size < 4 * factor:
      raise ConfigError(
        f"--image_size={self.image_size} with --num_downsamplings={self.num_downsamplings}: "
        f"the ResNet generator needs a multiple of {factor}, at least {4 * factor}"
      )


def make_spec(config: Config, dataset) -> cyclegan.CycleGANSpec:
  channels_a, channels_b = dataset.channels

  def generator(channels):
    return models.ResNetTranslator(
      channels=channels,
      width=config.g_width,
      num_blocks=config.num_blocks,
      num_downsamplings=config.num_downsamplings,
      normalization=config.normalization,
    )

  def discriminator():
    return models.PatchGANDiscriminator(
      width=config.d_width, num_layers=config.d_layers, normalization=config.normalization
    )

  return cyclegan.CycleGANSpec(
    generator_ab=generator(channels_b),
    generator_ba=generator(channels_a),
    discriminator_a=discriminator(),
    discriminator_b=discriminator(),
    loss=loss_pair(config.loss),
    generator_optimizer=builders.adam(config, "generator"),
    discriminator_optimizer=builders.adam(config, "discriminator"),
    cycle_weight=config.cycle_weight,
    identity_weight=config.identity_weight,
    # ½E[(D − 1)²] is our least-squares G loss; the paper's has no ½.
    adversarial_weight=2.0 if config.loss == "least_squares" else 1.0,
    pool_size=config.pool_size,
  )


def main(config: Config):
  image_to_image.run_experiment("cyclegan", config, make_spec, cyclegan.make_trainer, paired=False)


if __name__ == "__main__":
  cli.run(main, Config)
