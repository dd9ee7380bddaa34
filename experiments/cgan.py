"""Conditional GAN (Mirza & Osindero 2014): the label goes into both G and D.

  python experiments/cgan.py                         # digits at 16×16, about 2 minutes on a CPU
  python experiments/cgan.py --conditioning=projection   # Miyato & Koyama 2018
  python -m jaxgan.sample --workdir=runs/cgan_digits --label=7 --num_samples=64 --output=7.png

--conditioning=concat feeds the one-hot label to G beside z and to D as
constant extra input channels; --conditioning=projection gives G
class-conditional BatchNorm and D the projection term yᵀVφ(x). Fakes are
generated for the labels of the real batch. Non-saturating loss (or
--loss=hinge, the projection paper's), Adam 2e-4 with β1 = 0.5. On digits
the run reports, every --eval_every steps, how often an independent
classifier (logistic regression on real digits) sees the class that was
asked for.
"""

from absl import flags

from jaxgan import cli, train

cli.define_training_flags(**cli.IMAGE_DEFAULTS)
flags.DEFINE_enum("conditioning", "concat", ["concat", "projection"], "How the label enters.")
flags.DEFINE_enum(
  "loss",
  "non_saturating",
  ["non_saturating", "hinge"],
  "Adversarial loss (hinge: Miyato & Koyama).",
)
FLAGS = flags.FLAGS


def make_spec(dataset) -> train.GANSpec:
  classes = cli.require_labels(dataset, "cgan")
  return cli.gan_spec(
    dataset,
    generator=cli.generator(dataset, num_classes=classes, conditioning=FLAGS.conditioning),
    discriminator=cli.discriminator(dataset, num_classes=classes, conditioning=FLAGS.conditioning),
    loss=train.loss_pair(FLAGS.loss),
    num_classes=classes,
    label_to_discriminator=True,
  )


def main(argv):
  del argv
  cli.train_from_flags("cgan", make_spec)


if __name__ == "__main__":
  cli.run(main)
