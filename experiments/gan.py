"""The original GAN (Goodfellow et al. 2014): the minimax game and its non-saturating variant.

  python experiments/gan.py                          # grid25, non-saturating G loss
  python experiments/gan.py --loss=minimax           # the saturating E[log(1 − D(G(z)))]
  python experiments/gan.py --flagfile=experiments/configs/gan_ring8.flags
  python experiments/gan.py --flagfile=experiments/configs/gan_mnist_mlp.flags  # the paper's MLP

D minimizes −E[log D(x)] − E[log(1 − D(G(z)))] (optionally with one-sided
label smoothing, --label_smoothing=0.1); G minimizes −E[log D(G(z))]
("non_saturating", the paper's practical choice, §3) or E[log(1 − D(G(z)))]
("minimax"). One D update per G update (k = 1 in the paper's Algorithm 1),
Adam 2e-4 with β1 = 0.5 for both players (Radford et al. 2016).
--unroll_steps=K makes it the Unrolled GAN (Metz et al. 2017): G's loss is taken
against D after K look-ahead updates, differentiated through them
(jaxgan.kinds.gan_updates.unrolled_discriminator_params).
"""

import dataclasses

from jaxgan import builders, cli
from jaxgan.config import GANConfig, option
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(GANConfig):
  num_steps: int = 30_000
  g_lr: float = 2e-4
  d_lr: float = 2e-4
  loss: str = option("non_saturating", "Generator loss.", choices=("non_saturating", "minimax"))
  label_smoothing: float = option(0.0, "One-sided: D's real target is 1 − this.")
  unroll_steps: int = option(
    0,
    "Unrolled GAN (Metz et al. 2017): G's loss against D after this many look-ahead updates "
    "(the paper: 5 or 10); 0 is the plain GAN.",
  )


def make_spec(config: Config, dataset) -> gan.GANSpec:
  return builders.gan_spec(
    config,
    dataset,
    loss_pair(config.loss, label_smoothing=config.label_smoothing),
    unroll_steps=config.unroll_steps,
    # G differentiates through D's Adam steps: ε inside √v keeps that finite where v = 0.
    discriminator_optimizer=builders.adam(
      config, "discriminator", eps_root=1e-8 if config.unroll_steps else 0
    ),
  )


def main(config: Config):
  builders.run_experiment("gan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
