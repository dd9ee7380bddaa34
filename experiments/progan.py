"""Progressive GAN (Karras et al. 2018): G and D grow from 4×4 to the data's size.

  python experiments/progan.py                               # the digits at 16×16, CPU-sized
  python experiments/progan.py --flagfile=experiments/configs/progan_celebahq256.flags

Each level after 4×4 fades in over --fade_kimg thousand images (α from 0 to 1, G's new
block blended with the up-sampled output of the level below, D's with the down-sampled
input, the reals blended the same way) and is stabilized for --stable_kimg; the last level
trains until --num_steps. Each level has its own batch size (--batch_sizes, from 4×4 up)
and one compiled program (jaxgan.kinds.progressive). The networks (jaxgan.models.progan):
pixel norm, equalized learning rate, minibatch stddev. Training as the paper and the
authors' code: WGAN-GP with λ = 10 and the drift term ε·E[D(x)²] (ε = 0.001), one D step
per G step, Adam (1e-3, β = 0, 0.99) with its state reset at every fade-in and
stabilization, an EMA of G (0.999) that is sampled and evaluated.

The defaults are sized for the shipped digits on a CPU (16×16, 64 channels, batch 32,
20 kimg phases instead of 600, and so an EMA of 0.99 instead of 0.999: an average over
1,000 steps would still hold the last level's weights well into the next one); the paper's
settings are the recipes in experiments/configs.
"""

import dataclasses

import jax.numpy as jnp

from jaxgan import builders, cli, penalties
from jaxgan.config import ImageGANConfig, at_least, check_image_networks, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan, progressive
from jaxgan.loss_pairs import loss_pair
from jaxgan.models import progan
from jaxgan.models.stylegan2 import check_image_size, resolutions


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  num_steps: int = 4000
  batch_size: int = 32
  latent_dim: int = 128
  g_lr: float = 1e-3
  d_lr: float = 1e-3
  beta1: float = 0.0
  beta2: float = 0.99
  ema_decay: float = 0.99
  batch_sizes: tuple[int, ...] = option(
    (), "Batch size of each level from 4×4 up, the last repeating (empty: --batch_size at all)."
  )
  fade_kimg: float = option(20.0, "Thousands of images over which each new level fades in.")
  stable_kimg: float = option(20.0, "Thousands of images each level is stabilized for.")
  reset_optimizers: bool = option(
    True, "Reset Adam's state when a fade-in or stabilization starts."
  )
  channel_base: int = option(1024, "Channels at resolution r: min(channel_base / r, channel_max).")
  channel_max: int = option(64, "The most channels of any resolution.")
  mbstd_group: int = option(4, "Group size of D's minibatch stddev (0: off).")
  gp_weight: float = option(10.0, "λ of the gradient penalty (WGAN-GP).")
  drift: float = option(0.001, "ε of the drift term ε·E[D(x)²], which keeps D's scores near 0.")

  def __post_init__(self):
    check_image_networks(self, "Progressive GAN", check_image_size)
    super().__post_init__()
    at_least(self, 1, "channel_base", "channel_max")
    at_least(self, 0, "mbstd_group")
    levels = resolutions(self.image_size)
    if len(self.batch_sizes) > len(levels):
      raise ConfigError(
        f"--batch_sizes has {len(self.batch_sizes)} sizes for {len(levels)} levels "
        f"({', '.join(map(str, levels))})"
      )
    for size in self.level_batch_sizes:
      if size < 1 or (self.mbstd_group > 1 and size > self.mbstd_group and size % self.mbstd_group):
        raise ConfigError(
          f"batch size {size} (--batch_sizes) must be positive and divide into minibatch-stddev "
          f"groups of --mbstd_group={self.mbstd_group}"
        )
    if self.fade_kimg < 0 or self.stable_kimg <= 0:
      raise ConfigError(
        f"--fade_kimg must be ≥ 0 and --stable_kimg > 0, got {self.fade_kimg}, {self.stable_kimg}"
      )

  @property
  def level_batch_sizes(self) -> tuple[int, ...]:
    return self.batch_sizes or (self.batch_size,)


def drift_regularizer(config: Config) -> gan.Regularizer:
  """ProGAN's drift term ε·E[D(x)²] on the reals' scores (§A.1), keeping them near 0."""
  return gan.Regularizer(
    "drift", config.drift, lambda inputs: jnp.mean(inputs.real_out["adv"] ** 2)
  )


def gradient_penalty_regularizer(config: Config) -> gan.Regularizer:
  """WGAN-GP's λ·E[(‖∇D(x̂)‖ − 1)²] on random interpolates of reals and fakes."""

  def penalty(inputs: gan.RegularizerInputs):
    return penalties.gradient_penalty(inputs.d_fn, inputs.real, inputs.fake, inputs.key)

  return gan.Regularizer("gradient_penalty", config.gp_weight, penalty)


def networks(config: Config, dataset) -> tuple[progan.ProGANGenerator, progan.ProGANDiscriminator]:
  """G and D at the dataset's size (their `resolution` is set per level by the kind)."""
  G = progan.ProGANGenerator(
    image_size=dataset.image_size,
    channels=dataset.channels,
    channel_base=config.channel_base,
    channel_max=config.channel_max,
  )
  D = progan.ProGANDiscriminator(
    image_size=dataset.image_size,
    channel_base=config.channel_base,
    channel_max=config.channel_max,
    mbstd_group_size=config.mbstd_group,
  )
  return G, D


def make_spec(config: Config, dataset) -> progressive.ProgressiveSpec:
  if not hasattr(dataset, "image_size"):
    raise ConfigError(
      f"Progressive GAN makes images; {dataset.name} is a toy: pass --dataset=digits"
    )
  try:
    check_image_size(dataset.image_size)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  G, D = networks(config, dataset)
  regularizers = (gradient_penalty_regularizer(config),)
  if config.drift > 0:
    regularizers += (drift_regularizer(config),)
  spec = builders.gan_spec(
    config,
    dataset,
    loss_pair("wasserstein"),
    generator=G,
    discriminator=D,
    discriminator_regularizers=regularizers,
  )
  schedule = progressive.make_schedule(
    dataset.image_size, config.level_batch_sizes, config.fade_kimg, config.stable_kimg
  )
  return progressive.ProgressiveSpec(spec, schedule, config.reset_optimizers)


def main(config: Config):
  builders.run_experiment("progan", config, make_spec, progressive.make_trainer)


if __name__ == "__main__":
  cli.run(main, Config)
