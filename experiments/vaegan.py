"""VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity metric"):
a VAE whose reconstructions are compared in a discriminator's features, its decoder also a
GAN's generator; and, with --noadversarial, the plain VAE with pixel L2 the paper compares it to.

  python experiments/vaegan.py                         # the digits, a few minutes
  python experiments/vaegan.py --noadversarial --workdir=runs/vae_digits    # the baseline
  python -m jaxgan.sample --workdir=runs/vaegan_digits --output=samples.png    # from the prior

The networks are DCGAN's (jaxgan.models.vae.ConvEncoder mirrors its discriminator), the
loss routing, γ, the equilibrium rule and RMSProp follow the authors' code
(jaxgan.kinds.vaegan). Measured: held-out reconstructions (L1, PSNR, SSIM, reconstruction
FID) and prior samples as a GAN's (FID, the digits judge's class coverage).
"""

import dataclasses

import optax

from jaxgan import builders, cli, models
from jaxgan.config import FEATURES_HELP, RunConfig, at_least, check_features_flag, option
from jaxgan.kinds import autoencoding, vaegan
from jaxgan.models import vae


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
  dataset: str = option(
    "digits",
    "digits (held out: its 20%), faces100, or a TFDS image dataset (held out: its test split).",
  )
  image_size: int = 16
  num_steps: int = 4000
  batch_size: int = 64
  g_lr: float = option(
    3e-4, "RMSProp's learning rate, of all three networks (the authors' ~0.025/B)."
  )
  latent_dim: int = option(32, "Dimension of z (the authors: 128 for CelebA).")
  width: int = option(32, "Channels of the first layer of the encoder and D, the last of G.")
  gamma: float = option(
    0.5,
    "γ: the decoder's weight of L_llike against (1 − γ) of its GAN loss (the authors' CelebA "
    "run: 1e-6, which falls apart on the digits: BENCHMARKS.md).",
  )
  equilibrium_margin: float = option(
    0.35, "Skip D's update when it wins by this margin from 0.68, G's when it loses; 0: never."
  )
  discriminate_reconstructions: bool = option(
    False, "D also sees the reconstructions (the paper's equation), not only prior samples."
  )
  adversarial: bool = option(
    True, "--noadversarial: the plain VAE (pixel L2, no D), the paper's baseline."
  )
  log_every: int = 100
  checkpoint_every: int = 1000
  plot_every: int = 1000
  eval_every: int = 1000
  num_eval_samples: int = 1000
  fid_features: str = option("auto", FEATURES_HELP)

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "latent_dim", "width")
    check_features_flag(self.fid_features)


def make_spec(config: Config, dataset) -> vaegan.VAEGANSpec:
  lr = builders.learning_rate(config, "generator")
  size, channels = dataset.image_size, dataset.channels
  return vaegan.VAEGANSpec(
    encoder=vae.ConvEncoder(size, config.width, config.latent_dim),
    decoder=models.DCGANGenerator(image_size=size, channels=channels, width=config.width),
    discriminator=models.DCGANDiscriminator(
      image_size=size, width=config.width, normalization="batch", return_features=True
    ),
    optimizer=optax.rmsprop(lr, decay=0.9),
    latent_dim=config.latent_dim,
    gamma=config.gamma,
    equilibrium_margin=config.equilibrium_margin,
    discriminate_reconstructions=config.discriminate_reconstructions,
    adversarial=config.adversarial,
  )


def main(config: Config):
  autoencoding.run_experiment("vaegan", config, make_spec, vaegan.make_trainer)


if __name__ == "__main__":
  cli.run(main, Config)
