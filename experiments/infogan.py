"""InfoGAN (Chen et al. 2016): latent codes that D's Q head must recover from the image.

  python experiments/infogan.py                      # digits 16×16: a 10-way code, 2 continuous
  python experiments/infogan.py --flagfile=experiments/configs/infogan_mnist.flags

G's input is (z, c): noise and codes, a categorical one (10 values) and
continuous ones (U(−1, 1)). Q shares D's body and predicts the codes; G and Q
both minimize −λ·L_I, L_I the variational lower bound on the mutual
information I(c; G(z, c)) (eq. 5): cross-entropy for the categorical code,
Gaussian negative log-likelihood (σ = 1) for the continuous ones, with
λ = 1 and 0.1 (§6); Adam with G's rate 1e-3 and D's 2e-4 (App. C.1; why G's
own rate matters is in BENCHMARKS.md). No labels are used: on digits the run
reports how well the categorical code matches the digit under the best
assignment (the paper: 5% error on MNIST), and draws code traversals.
"""

import dataclasses

from jaxgan import builders, cli, losses
from jaxgan.config import ImageGANConfig, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  num_steps: int = 3000
  g_lr: float = 1e-3  # the paper's MNIST rates (Chen et al. 2016, App. C.1): G 1e-3, D 2e-4
  latent_dim: int = 62
  categorical_codes: tuple[int, ...] = option((10,), "Values of each categorical code.")
  continuous_codes: int = option(2, "Number of continuous codes.")
  info_weight: float = option(1.0, "λ for the categorical codes.")
  continuous_weight: float = option(0.1, "λ for the continuous codes.")

  def __post_init__(self):
    super().__post_init__()
    if any(k < 2 for k in self.categorical_codes) or self.continuous_codes < 0:
      raise ConfigError("each categorical code needs 2+ values; --continuous_codes ≥ 0")


def mutual_information_loss(config: Config):
  """−L_I (up to constants) of the codes the fakes were generated from, as a regularizer."""

  def loss(inputs: gan.RegularizerInputs):
    latent, out = inputs.latent, inputs.fake_out
    total = 0.0
    for i, logits in enumerate(out.get("code_logits", ())):
      total = total + config.info_weight * losses.infogan_categorical_loss(
        logits, latent.categorical[:, i]
      )
    if "code_mean" in out:
      total = total + config.continuous_weight * losses.infogan_continuous_loss(
        out["code_mean"], latent.continuous
      )
    return total

  return loss


def make_spec(config: Config, dataset) -> gan.GANSpec:
  info = mutual_information_loss(config)
  return builders.gan_spec(
    config,
    dataset,
    discriminator=builders.discriminator(
      config,
      dataset,
      info_categorical=config.categorical_codes,
      info_continuous=config.continuous_codes,
    ),
    loss=loss_pair("non_saturating"),
    discriminator_regularizers=(gan.Regularizer("d_mutual_info", 1.0, info),),
    generator_regularizers=(gan.Regularizer("g_mutual_info", 1.0, info),),
    categorical_codes=config.categorical_codes,
    continuous_codes=config.continuous_codes,
  )


def main(config: Config):
  builders.run_experiment("infogan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
