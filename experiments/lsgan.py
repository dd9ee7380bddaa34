"""LSGAN (Mao et al. 2017): least-squares losses with the 0-1 coding.

  python experiments/lsgan.py                        # digits at 16×16
  python experiments/lsgan.py --flagfile=experiments/configs/lsgan_celeba.flags

D minimizes ½E[(D(x) − 1)²] + ½E[D(G(z))²], G minimizes ½E[(D(G(z)) − 1)²]
(eq. 2 with a = 0, b = c = 1); the DCGAN networks with a linear output, Adam
2e-4 with β1 = 0.5 (the paper used 1e-3 on LSUN with its own deeper nets).
"""

from absl import flags

from jaxgan import cli, train

cli.define_training_flags(
  dataset="digits",
  image_size=16,
  num_steps=2000,
  batch_size=64,
  g_lr=2e-4,
  d_lr=2e-4,
  beta1=0.5,
  latent_dim=64,
  model="dcgan",
  width=32,
  g_normalization="batch",
  d_normalization="batch",
  log_every=100,
  checkpoint_every=1000,
  plot_every=500,
  eval_every=500,
)
FLAGS = flags.FLAGS


def make_spec(dataset) -> train.GANSpec:
  return train.GANSpec(
    generator=cli.generator(dataset),
    discriminator=cli.discriminator(dataset),
    latent_dim=FLAGS.latent_dim,
    loss=train.loss_pair("least_squares"),
    generator_optimizer=cli.adam("generator"),
    discriminator_optimizer=cli.adam("discriminator"),
    n_critic=FLAGS.n_critic,
    ema_decay=cli.ema_decay_flag(),
  )


def main(argv):
  del argv
  cli.train_from_flags("lsgan", make_spec)


if __name__ == "__main__":
  cli.run(main)
