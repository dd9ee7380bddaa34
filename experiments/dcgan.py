"""DCGAN (Radford et al. 2016), with the stabilizing tricks of Salimans et al. 2016.

  python experiments/dcgan.py                        # digits at 16×16, about 1 minute on a CPU
  python experiments/dcgan.py --flagfile=experiments/configs/dcgan_celeba.flags
  python experiments/dcgan.py --label_smoothing=0.1 --minibatch_discrimination=50
  python experiments/dcgan.py --feature_matching     # G matches D's mean features instead

G: a dense layer to 4×4, then stride-2 transposed convolutions with BatchNorm
and ReLU, tanh output. D: stride-2 convolutions with BatchNorm (not on the
first) and LeakyReLU 0.2. Non-saturating loss, Adam 2e-4 with β1 = 0.5 for
both players, batch 64 — the paper's recipe (§3–4). The tricks, each a flag:
one-sided label smoothing, feature matching, minibatch discrimination and
minibatch standard deviation; --ema_decay averages G's weights.
"""

import dataclasses

from jaxgan import builders, cli
from jaxgan.config import ImageGANConfig, option
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair


@dataclasses.dataclass(frozen=True)
class Config(ImageGANConfig):
  label_smoothing: float = option(0.0, "One-sided: D's target for real images is 1 − this.")
  feature_matching: bool = option(False, "G matches the mean of D's last features.")
  minibatch_discrimination: int = option(0, "Kernels of minibatch discrimination (0: off).")
  minibatch_stddev: bool = option(False, "Append the batch's standard deviation to D.")


def make_spec(config: Config, dataset) -> gan.GANSpec:
  loss = "feature_matching" if config.feature_matching else "non_saturating"
  return builders.gan_spec(
    config,
    dataset,
    discriminator=builders.discriminator(
      config,
      dataset,
      return_features=config.feature_matching,
      minibatch_discrimination=config.minibatch_discrimination,
      minibatch_stddev=config.minibatch_stddev,
    ),
    loss=loss_pair(loss, label_smoothing=config.label_smoothing),
  )


def main(config: Config):
  builders.run_experiment("dcgan", config, make_spec)


if __name__ == "__main__":
  cli.run(main, Config)
