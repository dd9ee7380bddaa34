"""SNGAN (Miyato et al. 2018): hinge loss with a spectrally normalized discriminator.

  python experiments/sngan.py                        # digits, the "standard CNN" at 16×16
  python experiments/sngan.py --flagfile=experiments/configs/sngan_cifar10_resnet.flags

D's every weight is divided by its largest singular value (one power
iteration per update), so D is 1-Lipschitz per layer without a penalty.
Hinge loss E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))] for D and −E[D(G(z))]
for G (Lim & Ye 2017), n_dis = 5 critic updates per G update, Adam 2e-4 with
β = (0, 0.9), as in the paper's ResNet experiments (Appendix B). The default
D is the paper's "standard CNN" (DCGAN-like, no BatchNorm); --model=resnet
gives the CIFAR ResNets of Appendix B.
"""

import dataclasses

from jaxgan import builders, cli
from jaxgan.config import ImageGANConfig
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  num_steps: int = 1000
  n_critic: int = 5
  beta1: float = 0.0
  beta2: float = 0.9
  d_normalization: str = "none"
  spectral_norm: bool = True


def make_spec(config: Config, dataset) -> gan.GANSpec:
  return builders.gan_spec(config, dataset, loss_pair("hinge"))


def main(config: Config):
  builders.run_experiment("sngan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
