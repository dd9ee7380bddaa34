"""WGAN: the Wasserstein critic kept Lipschitz by weight clipping (Arjovsky et al. 2017).

  python experiments/wgan.py                         # grid25
  python experiments/wgan.py --flagfile=experiments/configs/wgan_ring8.flags
  python experiments/wgan.py --flagfile=experiments/configs/wgan_digits.flags   # DCGAN on images

Critic loss E[D(G(z))] − E[D(x)]; after every critic update its weights are
clipped to [−c, c]; n_critic = 5 critic updates per generator update; RMSProp
with learning rate 5e-5 for both players (the paper's Algorithm 1: c = 0.01).
Clipping limits the critic's capacity, so WGAN finds modes but places fewer
samples on them than WGAN-GP: compare the two in the toy table (docs/guides/experiments.md).
"""

import dataclasses

import optax

from jaxgan import builders, cli, optim
from jaxgan.config import GANConfig, option
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(GANConfig):
  num_steps: int = 15_000
  n_critic: int = 5
  g_lr: float = 5e-5
  d_lr: float = 5e-5
  clip_value: float = option(0.01, "c: the critic's weights are kept in [−c, c].")


def make_spec(config: Config, dataset) -> gan.GANSpec:
  return builders.gan_spec(
    config,
    dataset,
    loss_pair("wasserstein"),
    generator_optimizer=optax.rmsprop(
      builders.learning_rate(config, "generator"), decay=0.99, eps=1e-8, eps_in_sqrt=False
    ),
    discriminator_optimizer=optim.wgan_rmsprop(
      builders.learning_rate(config, "discriminator"), config.clip_value
    ),
  )


def main(config: Config):
  builders.run_experiment("wgan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
