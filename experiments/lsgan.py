"""LSGAN (Mao et al. 2017): least-squares losses with the 0-1 coding.

  python experiments/lsgan.py                        # digits at 16×16
  python experiments/lsgan.py --flagfile=experiments/configs/lsgan_celeba.flags

D minimizes ½E[(D(x) − 1)²] + ½E[D(G(z))²], G minimizes ½E[(D(G(z)) − 1)²]
(eq. 2 with a = 0, b = c = 1); the DCGAN networks with a linear output, Adam
2e-4 with β1 = 0.5 (the paper used 1e-3 on LSUN with its own deeper nets).
"""

from absl import flags

from jaxgan import cli, train

cli.define_training_flags(**cli.IMAGE_DEFAULTS)
FLAGS = flags.FLAGS


def make_spec(dataset) -> train.GANSpec:
  return cli.gan_spec(
    dataset,
    train.loss_pair("least_squares"),
  )


def main(argv):
  del argv
  cli.train_from_flags("lsgan", make_spec)


if __name__ == "__main__":
  cli.run(main)
