"""WGAN-GP: the Wasserstein critic with a gradient penalty (Gulrajani et al. 2017).

  python experiments/wgan_gp.py                      # grid25, about 6 minutes on 2 CPU cores
  python experiments/wgan_gp.py --flagfile=experiments/configs/wgan_gp_ring8.flags
  python experiments/wgan_gp.py --flagfile=experiments/configs/wgan_gp_digits.flags  # images

Critic loss E[D(G(z))] − E[D(x)] + λ·E[(‖∇D(x̂)‖₂ − 1)²] on random interpolates
x̂ = αx + (1 − α)G(z); n_critic critic updates per generator update; Adam for
both players. The defaults start from the authors' toy recipe (gan_toy.py: λ = 0.1,
Adam 1e-4, β = (0.5, 0.9), n_critic 5, ReLU MLPs, z ∈ R²) with four changes
that make it converge on a CPU in minutes: batch 128 instead of 256, a
256-wide critic beside a 512-wide generator, PyTorch's initialization, and
the models scaled to the data (docs/guides/experiments.md, "Toy recipes"). G's weights are
averaged (EMA, decay 0.999) and the average is evaluated. Then three more, from the population
sweep of BENCHMARKS.md (six rounds): both rates 2e-4, constant for half the run and then
linear to 0; 5 critic updates per step until step 7,000, where the 25 modes of grid25 are
found, and 2 after (--n_critic_from=7000:2); 20,000 steps, which the cheaper steps fit into
the wall time of 15,000 steps with 5 critic updates each.
"""

import dataclasses

from jaxgan import builders, cli, penalties
from jaxgan.config import GANConfig, option
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(GANConfig):
  num_steps: int = 20_000
  n_critic: int = 5
  n_critic_from: str = "7000:2"
  g_lr: float = 2e-4
  d_lr: float = 2e-4
  lr_schedule: str = "constant_then_linear"
  beta2: float = 0.9
  gp_weight: float = option(0.1, "λ, the weight of the gradient penalty (10 for images).")
  one_sided: bool = option(False, "Penalize only gradient norms above 1.")


def make_spec(config: Config, dataset) -> gan.GANSpec:
  def gradient_penalty(inputs: gan.RegularizerInputs):
    return penalties.gradient_penalty(
      inputs.d_fn, inputs.real, inputs.fake, inputs.key, one_sided=config.one_sided
    )

  return builders.gan_spec(
    config,
    dataset,
    loss_pair("wasserstein"),
    discriminator_regularizers=(
      gan.Regularizer("gradient_penalty", config.gp_weight, gradient_penalty),
    ),
  )


def main(config: Config):
  builders.run_experiment("wgan_gp", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
