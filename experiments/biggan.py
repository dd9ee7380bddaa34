"""BigGAN (Brock et al. 2019): class-conditional generation at scale.

  python experiments/biggan.py                       # the digits at 16×16, class-conditional
  python experiments/biggan.py --flagfile=experiments/configs/biggan_cifar10.flags
  python experiments/biggan.py --flagfile=experiments/configs/biggan_imagenet128.flags
  python -m jaxgan.evaluate --workdir=runs/biggan_digits --truncation_sweep=0.25,0.5,1,2

SAGAN's recipe (self-attention, spectral norm in G and D, hinge loss, TTUR) plus what the
paper adds: G's class-conditional BatchNorm takes a shared class embedding (128) with a
chunk of a hierarchical z (jaxgan.models.biggan); D is the projection discriminator;
orthogonal initialization; orthogonal regularization β‖WᵀW ⊙ (1 − I)‖²_F on G (β = 1e-4,
the shared embedding left out: jaxgan.penalties.orthogonal_regularization); an EMA of G
that starts after --ema_start updates; standing statistics (G's BatchNorm statistics
recomputed over --standing_stats batches before it is sampled or evaluated); large batches
through --accumulate; truncation of z when sampling (`jaxgan.sample --truncation`, and the
FID/IS-against-truncation sweep of `jaxgan.evaluate --truncation_sweep`).

The defaults are sized for the shipped digits on a CPU (16×16, ch = 8, so 32 channels,
batch 64, attention at 16 in G and 8 in D, G 1e-4 / D 4e-4 with Adam (0, 0.999), one D
step per G step as BigGAN-PyTorch's ImageNet launch script); the paper's settings are the
recipes in experiments/configs.
"""

import dataclasses

from jaxgan import builders, cli, penalties
from jaxgan.config import ImageGANConfig, check_image_networks, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair
from jaxgan.models import biggan


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  num_steps: int = 3000
  latent_dim: int = 120
  width: int = 8
  g_lr: float = 1e-4
  d_lr: float = 4e-4
  beta1: float = 0.0
  beta2: float = 0.999
  ema_start: int = 1000
  standing_stats: int = 16
  g_attention: int = option(16, "Self-attention in G after the block of this resolution (0: none).")
  d_attention: int = option(8, "Self-attention in D after the first block of this resolution.")
  shared_dim: int = option(
    128, "G's shared class embedding (0: each conditional BN embeds the class, as SAGAN)."
  )
  hierarchical: bool = option(True, "Split z over G's first layer and its blocks.")
  weight_init: str = option("ortho", "Initialization of every layer.", choices=tuple(biggan.INITS))
  ortho_weight: float = option(
    1e-4, "β of the orthogonal regularization of G (0: off; the authors' code ≈ β/2 here)."
  )
  unconditional: bool = option(False, "Ignore the labels (G and D without classes).")

  def __post_init__(self):
    check_image_networks(self, "BigGAN", biggan.check_image_size)
    super().__post_init__()


def networks(config: Config, dataset, num_classes: int):
  """BigGAN's G and D for the data (their ValueErrors as one-line ConfigErrors)."""
  try:
    return biggan.networks(
      dataset.image_size,
      dataset.channels,
      num_classes,
      width=config.width,
      latent_dim=config.latent_dim,
      shared_dim=config.shared_dim,
      hierarchical=config.hierarchical,
      g_attention=config.g_attention,
      d_attention=config.d_attention,
      weight_init=config.weight_init,
      batchnorm_groups=builders.batchnorm_groups(config),
    )
  except ValueError as e:
    raise ConfigError(f"{e} (--image_size, --latent_dim, --g_attention, --d_attention)") from None


def orthogonal_regularizer(weight: float) -> gan.Regularizer:
  """BigGAN's orthogonal regularization of G's weights, the shared embedding left out."""

  def ortho(inputs: gan.RegularizerInputs):
    return penalties.orthogonal_regularization(inputs.params, exclude=("shared",))

  return gan.Regularizer("ortho", weight, ortho)


def make_spec(config: Config, dataset) -> gan.GANSpec:
  classes = 0 if config.unconditional else builders.require_labels(dataset, "biggan")
  G, D = networks(config, dataset, classes)
  regularizers = (orthogonal_regularizer(config.ortho_weight),) if config.ortho_weight else ()
  return builders.gan_spec(
    config,
    dataset,
    loss_pair("hinge"),
    generator=G,
    discriminator=D,
    generator_regularizers=regularizers,
    num_classes=classes,
    label_to_discriminator=bool(classes),
  )


def main(config: Config):
  builders.run_experiment("biggan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
