"""DRAGAN (Kodali et al. 2017): the minimax GAN with a gradient penalty around the data.

  python experiments/dragan.py                       # digits at 16×16
  python experiments/dragan.py --flagfile=experiments/configs/dragan_cifar10.flags

D minimizes the GAN loss plus λ·E[(‖∇D(x̂)‖₂ − 1)²] at x̂ = x + α·c·std(x)·u
(u ~ U[0, 1), α ~ U(0, 1)), points near the real data where mode collapse
begins (λ = 10, c = 0.5, the authors' code). G: the non-saturating loss.
D has no BatchNorm (the penalty is per example); Adam 1e-4, β = (0.5, 0.9).
"""

import dataclasses

from jaxgan import builders, cli, penalties
from jaxgan.config import ImageGANConfig, option
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  g_lr: float = 1e-4
  d_lr: float = 1e-4
  beta2: float = 0.9
  d_normalization: str = "none"
  dragan_weight: float = option(10.0, "λ, the weight of the DRAGAN penalty.")
  perturbation: float = option(0.5, "c: perturbations of c·std(x) around the data.")


def make_spec(config: Config, dataset) -> gan.GANSpec:
  def dragan_penalty(inputs: gan.RegularizerInputs):
    return penalties.dragan_penalty(
      inputs.d_fn, inputs.real, inputs.key, perturbation_scale=config.perturbation
    )

  return builders.gan_spec(
    config,
    dataset,
    loss_pair("non_saturating"),
    discriminator_regularizers=(
      gan.Regularizer("dragan_penalty", config.dragan_weight, dragan_penalty),
    ),
  )


def main(config: Config):
  builders.run_experiment("dragan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
