"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN.

  python experiments/pix2pix.py                     # digits: edge drawing → digit, about 3 minutes
  python experiments/pix2pix.py --flagfile=experiments/configs/pix2pix_facades.flags

G is a U-Net whose only noise is dropout (kept on when sampling); D a PatchGAN
that judges (input, output) pairs patch by patch (--d_layers=3: the 70×70
PatchGAN); G's loss adds λ·‖b − G(a)‖₁ with λ = --l1_weight = 100. Adam 2e-4,
β1 = 0.5, batch normalization. Every --eval_every steps the run reports the
held-out L1 error beside the input-as-output baseline, and on the digits how
often an independent classifier reads each output as the input's digit;
plots/translations_STEP.png shows input | output | target.
"""

from absl import flags

from jaxgan import cli, models, train, translation
from jaxgan.errors import ConfigError

cli.define_translation_flags(
  dataset="digits_edges",
  num_steps=3000,
  batch_size=32,
  image_size=16,
  g_width=32,
  d_width=32,
  d_layers=1,
  normalization="batch",
)
flags.DEFINE_float("l1_weight", 100.0, "λ, the weight of the L1 term in G's loss.")
flags.DEFINE_float("dropout", 0.5, "Dropout rate in the U-Net's decoder (G's noise).")
flags.DEFINE_enum("direction", "AtoB", ["AtoB", "BtoA"], "Translate A to B, or B to A.")
flags.DEFINE_enum(
  "loss",
  "non_saturating",
  ["non_saturating", "least_squares"],
  "The conditional GAN loss (the paper's; least squares is the code's lsgan option).",
)
FLAGS = flags.FLAGS


def make_spec(dataset) -> translation.Pix2PixSpec:
  try:
    models.translation.unet_depth(FLAGS.image_size)
  except ValueError as e:
    raise ConfigError(f"--image_size={FLAGS.image_size}: {e}") from None
  return translation.Pix2PixSpec(
    generator=models.UNetGenerator(
      channels=dataset.channels[1],
      width=FLAGS.g_width,
      normalization=FLAGS.normalization,
      dropout_rate=FLAGS.dropout,
    ),
    discriminator=models.PatchGANDiscriminator(
      width=FLAGS.d_width, num_layers=FLAGS.d_layers, normalization=FLAGS.normalization
    ),
    loss=train.loss_pair(FLAGS.loss),
    generator_optimizer=cli.adam("generator"),
    discriminator_optimizer=cli.adam("discriminator"),
    l1_weight=FLAGS.l1_weight,
  )


def main(argv):
  del argv
  cli.translation_from_flags("pix2pix", make_spec, paired=True, swap=FLAGS.direction == "BtoA")


if __name__ == "__main__":
  cli.run(main)
