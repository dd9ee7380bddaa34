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

from absl import flags

from jaxgan import cli, train

cli.define_training_flags(**cli.IMAGE_DEFAULTS)
flags.DEFINE_float("label_smoothing", 0.0, "One-sided: D's target for real images is 1 − this.")
flags.DEFINE_bool("feature_matching", False, "G matches the mean of D's last features.")
flags.DEFINE_integer("minibatch_discrimination", 0, "Kernels of minibatch discrimination (0: off).")
flags.DEFINE_bool("minibatch_stddev", False, "Append the batch's standard deviation to D.")
FLAGS = flags.FLAGS


def make_spec(dataset) -> train.GANSpec:
  loss = "feature_matching" if FLAGS.feature_matching else "non_saturating"
  return cli.gan_spec(
    dataset,
    discriminator=cli.discriminator(
      dataset,
      return_features=FLAGS.feature_matching,
      minibatch_discrimination=FLAGS.minibatch_discrimination,
      minibatch_stddev=FLAGS.minibatch_stddev,
    ),
    loss=train.loss_pair(loss, label_smoothing=FLAGS.label_smoothing),
  )


def main(argv):
  del argv
  cli.train_from_flags("dcgan", make_spec)


if __name__ == "__main__":
  cli.run(main)
