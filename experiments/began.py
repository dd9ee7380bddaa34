"""BEGAN (Berthelot et al. 2017): an autoencoder discriminator held at equilibrium.

  python experiments/began.py                        # digits at 16×16
  python experiments/began.py --flagfile=experiments/configs/began_celeba.flags

D is an autoencoder and its "score" the reconstruction loss L(v) = mean|v − D(v)|.
D minimizes L(x) − k_t·L(G(z)), G minimizes L(G(z)), and after every D update
k_{t+1} = clip(k_t + λ_k(γ·L(x) − L(G(z))), 0, 1) keeps E[L(G(z))] = γ·E[L(x)].
The log shows k and the convergence measure M = L(x) + |γL(x) − L(G(z))|,
which falls as the samples improve. Embedding and z of size 64 (the paper's h).

The defaults are the digits recipe: γ = 1, λ_k = 0.01, Adam 2e-4 (β1 = 0.5),
n = 16 filters, batch 32; the paper's γ = 0.5, λ_k = 0.001 and Adam 1e-4 are
began_celeba.flags. Why the digits need other values (the paper's collapse to
"1"s there) is in BENCHMARKS.md, "Image experiments on the shipped digits".
"""

import dataclasses

from jaxgan import builders, cli, models
from jaxgan.config import ImageGANConfig, option
from jaxgan.data import ToyDataset
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan
from jaxgan.loss_pairs import began_loss_pair


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  batch_size: int = 32  # the paper used 16
  width: int = 16
  gamma: float = option(
    1.0, "γ, the diversity ratio E[L(G(z))]/E[L(x)] held by k_t (the paper: 0.5)."
  )
  lambda_k: float = option(0.01, "λ_k, the proportional gain of the k_t update (the paper: 0.001).")


def make_spec(config: Config, dataset) -> gan.GANSpec:
  if isinstance(dataset, ToyDataset):
    raise ConfigError("BEGAN's autoencoder is for images: use --dataset=digits, mnist, ...")
  size = dataset.image_size
  return builders.gan_spec(
    config,
    dataset,
    generator=models.BEGANGenerator(size, dataset.channels, config.width),
    discriminator=models.BEGANDiscriminator(size, config.width, config.latent_dim),
    loss=began_loss_pair(config.gamma, config.lambda_k),
  )


def main(config: Config):
  builders.run_experiment("began", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
