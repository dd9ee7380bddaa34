"""WGAN: the Wasserstein critic kept Lipschitz by weight clipping (Arjovsky et al. 2017).

  python experiments/wgan.py                         # grid25
  python experiments/wgan.py --flagfile=experiments/configs/wgan_ring8.flags
  python experiments/wgan.py --flagfile=experiments/configs/wgan_digits.flags   # DCGAN on images

Critic loss E[D(G(z))] − E[D(x)]; after every critic update its weights are
clipped to [−c, c]; n_critic = 5 critic updates per generator update; RMSProp
with learning rate 5e-5 for both players (the paper's Algorithm 1: c = 0.01).
Clipping limits the critic's capacity, so WGAN finds modes but places fewer
samples on them than WGAN-GP: compare the two in README's table.
"""

import optax
from absl import flags

from jaxgan import cli, optim, train

cli.define_training_flags(
  dataset="grid25", num_steps=15_000, batch_size=128, n_critic=5, g_lr=5e-5, d_lr=5e-5
)
flags.DEFINE_float("clip_value", 0.01, "c: the critic's weights are kept in [−c, c].")
FLAGS = flags.FLAGS


def make_spec(dataset) -> train.GANSpec:
  return cli.gan_spec(
    dataset,
    train.loss_pair("wasserstein"),
    generator_optimizer=optax.rmsprop(
      cli.learning_rate("generator"), decay=0.99, eps=1e-8, eps_in_sqrt=False
    ),
    discriminator_optimizer=optim.wgan_rmsprop(
      cli.learning_rate("discriminator"), FLAGS.clip_value
    ),
  )


def main(argv):
  del argv
  cli.train_from_flags("wgan", make_spec)


if __name__ == "__main__":
  cli.run(main)
