"""LSGAN (Mao et al. 2017): least-squares losses with the 0-1 coding.

  python experiments/lsgan.py                        # digits at 16×16
  python experiments/lsgan.py --flagfile=experiments/configs/lsgan_celeba.flags

D minimizes ½E[(D(x) − 1)²] + ½E[D(G(z))²], G minimizes ½E[(D(G(z)) − 1)²]
(eq. 2 with a = 0, b = c = 1); the DCGAN networks with a linear output, Adam
2e-4 with β1 = 0.5 (the paper used 1e-3 on LSUN with its own deeper nets).
"""

from jaxgan import builders, cli
from jaxgan.config import ImageGANConfig
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair

Config = ImageGANConfig


def make_spec(config: Config, dataset) -> gan.GANSpec:
  return builders.gan_spec(config, dataset, loss_pair("least_squares"))


def main(config: Config):
  builders.run_experiment("lsgan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
