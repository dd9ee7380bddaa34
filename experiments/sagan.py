"""SAGAN (Zhang et al. 2019, "Self-Attention Generative Adversarial Networks").

  python experiments/sagan.py                        # class-conditional digits, about 10 minutes
  python experiments/sagan.py --g_attention=8 --d_attention=4
  python experiments/sagan.py --flagfile=experiments/configs/sagan_imagenet128.flags

Self-attention blocks (jaxgan.models.attention) let G and D relate distant parts of an
image: y = x + γ·o, o = softmax(θ φᵀ) g, γ learned from 0. Spectral norm in G as well as D,
hinge loss, the two time-scale update rule (G 1e-4, D 4e-4, one D step per G step), Adam
(0, 0.9); class-conditional BN in G and the projection D for class-conditional data (the
paper's ImageNet runs). The networks are BigGAN's ResNets (jaxgan.models.biggan) without
its additions: no shared embedding (each conditional BN embeds the class), no hierarchical
z, Xavier initialization, no orthogonal regularization, as BigGAN-PyTorch's SAGAN
reproduction (launch_SAGAN_bs128x2_ema.sh). Keys and values are max-pooled 2×2 as in that
code; the paper's unpooled form is SelfAttention(pool=False, value_divisor=8) in the
functional API.
"""

import dataclasses

from jaxgan import builders, cli
from jaxgan.config import ImageGANConfig, check_image_networks, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair
from jaxgan.models import biggan


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  num_steps: int = 6000
  latent_dim: int = 128
  width: int = 8
  g_lr: float = 1e-4
  d_lr: float = 4e-4
  beta1: float = 0.0
  beta2: float = 0.9
  g_attention: int = option(16, "Self-attention in G after the block of this resolution (0: none).")
  d_attention: int = option(8, "Self-attention in D after the first block of this resolution.")
  unconditional: bool = option(False, "Ignore the labels (G and D without classes).")

  def __post_init__(self):
    check_image_networks(self, "SAGAN", biggan.check_image_size)
    super().__post_init__()


def make_spec(config: Config, dataset) -> gan.GANSpec:
  classes = 0 if config.unconditional else builders.require_labels(dataset, "sagan")
  try:  # BigGAN's networks without its additions
    G, D = biggan.networks(
      dataset.image_size,
      dataset.channels,
      classes,
      width=config.width,
      latent_dim=config.latent_dim,
      shared_dim=0,
      hierarchical=False,
      g_attention=config.g_attention,
      d_attention=config.d_attention,
      weight_init="xavier",
      batchnorm_groups=builders.batchnorm_groups(config),
    )
  except ValueError as e:
    raise ConfigError(f"{e} (--image_size, --g_attention, --d_attention)") from None
  return builders.gan_spec(
    config,
    dataset,
    loss_pair("hinge"),
    generator=G,
    discriminator=D,
    num_classes=classes,
    label_to_discriminator=bool(classes),
  )


def main(config: Config):
  builders.run_experiment("sagan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
