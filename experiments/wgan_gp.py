"""WGAN-GP: the Wasserstein critic with a gradient penalty (Gulrajani et al. 2017).

  python experiments/wgan_gp.py                      # grid25, about 6 minutes on 2 CPU cores
  python experiments/wgan_gp.py --flagfile=experiments/configs/wgan_gp_ring8.flags
  python experiments/wgan_gp.py --flagfile=experiments/configs/wgan_gp_digits.flags  # images

Critic loss E[D(G(z))] − E[D(x)] + λ·E[(‖∇D(x̂)‖₂ − 1)²] on random interpolates
x̂ = αx + (1 − α)G(z); n_critic critic updates per generator update; Adam for
both players. The defaults are the authors' toy recipe (gan_toy.py: λ = 0.1,
Adam 1e-4, β = (0.5, 0.9), n_critic 5, ReLU MLPs, z ∈ R²) with four changes
that make it converge on a CPU in minutes: batch 128 instead of 256 (the same
modes and quality per step at half the cost), a 256-wide critic (it runs 5
times per step) beside a 512-wide generator, PyTorch's initialization, and
the models scaled to the data (see README, "Toy recipes").
G's weights are averaged (EMA, decay 0.999) and the average is evaluated.
"""

from absl import flags

from jaxgan import cli, penalties, train

cli.define_training_flags(
  dataset="grid25", num_steps=15_000, batch_size=128, n_critic=5, g_lr=1e-4, d_lr=1e-4, beta2=0.9
)
flags.DEFINE_float("gp_weight", 0.1, "λ, the weight of the gradient penalty (10 for images).")
flags.DEFINE_bool("one_sided", False, "Penalize only gradient norms above 1.")
FLAGS = flags.FLAGS


def gradient_penalty(inputs: train.RegularizerInputs):
  return penalties.gradient_penalty(
    inputs.d_fn, inputs.real, inputs.fake, inputs.key, one_sided=FLAGS.one_sided
  )


def make_spec(dataset) -> train.GANSpec:
  return cli.gan_spec(
    dataset,
    train.loss_pair("wasserstein"),
    discriminator_regularizers=(
      train.Regularizer("gradient_penalty", FLAGS.gp_weight, gradient_penalty),
    ),
  )


def main(argv):
  del argv
  cli.train_from_flags("wgan_gp", make_spec)


if __name__ == "__main__":
  cli.run(main)
