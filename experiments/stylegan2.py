"""StyleGAN2 (Karras et al. 2020): style-based generator, lazy R1 and path-length regularization.

  python experiments/stylegan2.py                            # the digits at 16×16, CPU-sized
  python experiments/stylegan2.py --flagfile=experiments/configs/stylegan2_faces100.flags
  python experiments/stylegan2.py --flagfile=experiments/configs/stylegan2_celebahq256.flags

G: mapping network (pixel-normalized z, mapping_layers equalized layers, lr × 0.01) to w,
w̄ tracked (β = 0.995); synthesis from a learned 4×4 constant, two modulated and demodulated
3×3 convolutions per resolution with noise inputs, skip toRGB outputs (jaxgan.models.stylegan2).
D: residual, minibatch stddev. Training as the authors' code (stylegan2-ada-pytorch, loss.py):
non-saturating logistic loss; style mixing with probability 0.9; R1 on reals, γ/2·‖∇D(x)‖²,
applied lazily every 16 D steps; path-length regularization every 4 G steps (weight 2, on
half the batch, its running mean in the state); Adam (β = 0, 0.99) with the lazy rescaling
of the learning rate and betas (optim.lazy_adam); an EMA of G with a half-life in images.

The defaults are sized for the shipped digits on a CPU (16×16, 128-wide, batch 32); the paper's
settings are the recipes in experiments/configs (stylegan2_celebahq256.flags: config F at 256²).
Sample with truncation, style-mixing grids and interpolation in W:

  python -m jaxgan.sample --workdir=runs/stylegan2_digits --psi=0.7 --output=psi.png
  python -m jaxgan.sample --workdir=runs/stylegan2_digits --mode=style_mixing --output=mix.png
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxgan import builders, cli, optim, penalties
from jaxgan.config import ImageGANConfig, at_least, check_image_networks, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair
from jaxgan.models import stylegan2 as sg2
from jaxgan.step import model_rngs


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  num_steps: int = 3000
  batch_size: int = 32
  latent_dim: int = 128
  g_lr: float = 2.5e-3
  d_lr: float = 2.5e-3
  beta1: float = 0.0
  beta2: float = 0.99
  w_dim: int = option(128, "Dimension of the intermediate latent w.")
  mapping_layers: int = option(8, "Layers of the mapping network z → w.")
  channel_base: int = option(2048, "Channels at resolution r: min(channel_base / r, channel_max).")
  channel_max: int = option(128, "The most channels of any resolution.")
  style_mixing: float = option(0.9, "Probability of style mixing regularization (0: off).")
  r1_gamma: float = option(0.01, "γ of R1 on the reals, γ/2·E‖∇D(x)‖² (0: off).")
  r1_every: int = option(16, "Lazy R1: every this many D steps (1: every step).")
  pl_weight: float = option(2.0, "Weight of path-length regularization (0: off).")
  pl_every: int = option(4, "Lazy path-length regularization: every this many G steps.")
  pl_batch_shrink: int = option(2, "Path-length regularization on batch / this many fakes.")
  pl_decay: float = option(0.01, "Update rate of the path lengths' running mean.")
  ema_kimg: float = option(2.5, "Half-life of G's EMA in thousands of images (0: no EMA).")
  resample: str = option(
    "fir",
    "Resampling: the authors' [1,3,3,1] FIR filter, or bilinear/average pooling.",
    choices=sg2.RESAMPLING,
  )

  def __post_init__(self):
    check_image_networks(self, "StyleGAN2", sg2.check_image_size)
    super().__post_init__()
    names = ("w_dim", "mapping_layers", "channel_base", "channel_max", "r1_every", "pl_every")
    at_least(self, 1, *names, "pl_batch_shrink")
    if not 0.0 <= self.style_mixing <= 1.0:
      raise ConfigError(f"--style_mixing is a probability in [0, 1], got {self.style_mixing}")
    if self.batch_size % self.pl_batch_shrink:
      raise ConfigError(
        f"--batch_size={self.batch_size} does not divide by --pl_batch_shrink="
        f"{self.pl_batch_shrink}"
      )


def path_length_regularizer(G: sg2.StyleGAN2Generator, config: Config) -> gan.Regularizer:
  """StyleGAN2's path-length regularization of G as a lazy, stateful Regularizer: on the first
  B / pl_batch_shrink latents of the G update, with style mixing and fresh noise, the penalty
  E[(‖J_wᵀ y‖ − a)²]; a, the lengths' running mean, is the regularizer's state."""

  def penalty(inputs: gan.RegularizerInputs):
    z = inputs.latent.z[: inputs.latent.z.shape[0] // config.pl_batch_shrink]
    rngs = model_rngs(inputs.key)
    variables = {"params": inputs.params, **inputs.model_state}
    ws = G.apply(variables, z, method=G.mapping)
    if G.style_mixing_prob > 0:
      ws = G.apply(variables, z, ws, method=G.mixed_styles, rngs=rngs)

    def synthesis(ws):
      return G.apply(variables, ws, method=G.synthesis, rngs=rngs)

    lengths = penalties.path_lengths(synthesis, ws, jax.random.fold_in(inputs.key, 1))
    return penalties.path_length_penalty(lengths, inputs.state, config.pl_decay)

  return gan.Regularizer(
    "path_length", config.pl_weight, penalty, every=config.pl_every, init=lambda: jnp.zeros([])
  )


def r1_regularizer(config: Config) -> gan.Regularizer:
  """R1 on the reals, (γ/2)·E‖∇D(x)‖², lazily every r1_every D steps."""
  return gan.Regularizer(
    "r1",
    config.r1_gamma / 2,
    lambda inputs: penalties.r1_penalty(inputs.d_fn, inputs.real),
    every=config.r1_every,
  )


def networks(config: Config, dataset) -> tuple[sg2.StyleGAN2Generator, sg2.StyleGAN2Discriminator]:
  """G and D for the dataset's images (a ConfigError for sizes the networks cannot make)."""
  try:
    sg2.check_image_size(dataset.image_size)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  G = sg2.StyleGAN2Generator(
    image_size=dataset.image_size,
    channels=dataset.channels,
    z_dim=config.latent_dim,
    w_dim=config.w_dim,
    mapping_layers=config.mapping_layers,
    channel_base=config.channel_base,
    channel_max=config.channel_max,
    style_mixing_prob=config.style_mixing,
    resample=config.resample,
  )
  D = sg2.StyleGAN2Discriminator(
    image_size=dataset.image_size,
    channel_base=config.channel_base,
    channel_max=config.channel_max,
    resample=config.resample,
  )
  return G, D


def make_spec(config: Config, dataset) -> gan.GANSpec:
  if not hasattr(dataset, "image_size"):
    raise ConfigError(f"StyleGAN2 makes images; {dataset.name} is a toy: pass --dataset=digits")
  G, D = networks(config, dataset)
  d_regs = (r1_regularizer(config),) if config.r1_gamma > 0 else ()
  g_regs = (path_length_regularizer(G, config),) if config.pl_weight > 0 else ()
  d_every = config.r1_every if d_regs else 1
  g_every = config.pl_every if g_regs else 1
  ema = None
  if config.ema_kimg > 0:
    ema = optim.ema_decay_for_half_life(config.ema_kimg * 1000, config.batch_size)
  return builders.gan_spec(
    config,
    dataset,
    loss_pair("non_saturating"),
    generator=G,
    discriminator=D,
    generator_optimizer=optim.lazy_adam(config.g_lr, config.beta1, config.beta2, g_every),
    discriminator_optimizer=optim.lazy_adam(config.d_lr, config.beta1, config.beta2, d_every),
    discriminator_regularizers=d_regs,
    generator_regularizers=g_regs,
    ema_decay=ema,
    ema_warmup=True,
  )


def main(config: Config):
  builders.run_experiment("stylegan2", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
