"""DRAGAN (Kodali et al. 2017): the minimax GAN with a gradient penalty around the data.

  python experiments/dragan.py                       # digits at 16×16
  python experiments/dragan.py --flagfile=experiments/configs/dragan_cifar10.flags

D minimizes the GAN loss plus λ·E[(‖∇D(x̂)‖₂ − 1)²] at x̂ = x + α·c·std(x)·u
(u ~ U[0, 1), α ~ U(0, 1)), points near the real data where mode collapse
begins (λ = 10, c = 0.5, the authors' code). G: the non-saturating loss.
D has no BatchNorm (the penalty is per example); Adam 1e-4, β = (0.5, 0.9).
"""

from absl import flags

from jaxgan import cli, penalties, train

cli.define_training_flags(
  **{
    **cli.IMAGE_DEFAULTS,
    "g_lr": 1e-4,
    "d_lr": 1e-4,
    "beta2": 0.9,
    "d_normalization": "none",
  }
)
flags.DEFINE_float("dragan_weight", 10.0, "λ, the weight of the DRAGAN penalty.")
flags.DEFINE_float("perturbation", 0.5, "c: perturbations of c·std(x) around the data.")
FLAGS = flags.FLAGS


def dragan_penalty(inputs: train.RegularizerInputs):
  return penalties.dragan_penalty(
    inputs.d_fn, inputs.real, inputs.key, perturbation_scale=FLAGS.perturbation
  )


def make_spec(dataset) -> train.GANSpec:
  return cli.gan_spec(
    dataset,
    train.loss_pair("non_saturating"),
    discriminator_regularizers=(
      train.Regularizer("dragan_penalty", FLAGS.dragan_weight, dragan_penalty),
    ),
  )


def main(argv):
  del argv
  cli.train_from_flags("dragan", make_spec)


if __name__ == "__main__":
  cli.run(main)
