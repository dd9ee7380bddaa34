"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation with cycle consistency.

  python experiments/cyclegan.py                    # digits: edge drawings ↔ digits, unpaired
  python experiments/cyclegan.py --flagfile=experiments/configs/cyclegan_horse2zebra.flags

Two ResNet generators (G: A → B, F: B → A; --num_blocks residual blocks,
instance norm), two PatchGANs, the least-squares adversarial loss in the
paper's form E[(D(G(a)) − 1)²], cycle consistency λ·(‖F(G(a)) − a‖₁ +
‖G(F(b)) − b‖₁) with λ = --cycle_weight = 10, the identity loss
λ_id·λ·(‖G(b) − b‖₁ + ‖F(a) − a‖₁), and discriminators trained on a pool of
the 50 latest fakes. Adam 2e-4, β1 = 0.5, constant for half the steps then
linearly to 0. Every --eval_every steps the run reports the cycle errors, how
many translations an independent domain classifier puts in the other domain,
and on the digits how often the translated digit keeps its class;
plots/translations_STEP.png shows A → B → A and B → A → B.

The defaults are the digits demo's and differ from the paper's 256×256 recipe
(cyclegan_horse2zebra.flags) in two places, both measured on the demo at 1,000
steps: one down-sampling instead of two (on 16×16 images two leave a 4×4
grid, and the translations kept the digit's class 6% of the time instead of
60%), and no identity loss (λ_id = 0.5 asks G(digit) to stay the digit, which
the edge drawings' white paper contradicts: 23% instead of 60%).
"""

from absl import flags

from jaxgan import cli, models, train, translation
from jaxgan.errors import ConfigError

cli.define_translation_flags(
  dataset="digits_edges_unpaired",
  num_steps=3000,
  batch_size=16,
  image_size=16,
  g_width=16,
  d_width=32,
  d_layers=1,
  normalization="instance",
  lr_schedule="constant_then_linear",
)
flags.DEFINE_integer("num_blocks", 6, "Residual blocks in each generator (9 for 256×256).")
flags.DEFINE_integer(
  "num_downsamplings", 1, "Stride-2 convolutions before the blocks (the paper's 2 for 256×256)."
)
flags.DEFINE_float("cycle_weight", 10.0, "λ, the weight of the cycle-consistency loss.")
flags.DEFINE_float(
  "identity_weight", 0.0, "λ_id, the identity loss's weight relative to λ (the paper's 0.5)."
)
flags.DEFINE_integer("pool_size", 50, "Earlier fakes kept for the discriminators; 0: none.")
flags.DEFINE_enum(
  "loss", "least_squares", ["least_squares", "non_saturating"], "The adversarial loss."
)
FLAGS = flags.FLAGS


def make_spec(dataset) -> translation.CycleGANSpec:
  factor = 2**FLAGS.num_downsamplings
  if FLAGS.num_downsamplings < 0 or FLAGS.image_size % factor or FLAGS.image_size < 4 * factor:
    raise ConfigError(
      f"--image_size={FLAGS.image_size} with --num_downsamplings={FLAGS.num_downsamplings}: "
      f"the ResNet generator needs a multiple of {factor}, at least {4 * factor}"
    )
  channels_a, channels_b = dataset.channels

  def generator(channels):
    return models.ResNetTranslator(
      channels=channels,
      width=FLAGS.g_width,
      num_blocks=FLAGS.num_blocks,
      num_downsamplings=FLAGS.num_downsamplings,
      normalization=FLAGS.normalization,
    )

  def discriminator():
    return models.PatchGANDiscriminator(
      width=FLAGS.d_width, num_layers=FLAGS.d_layers, normalization=FLAGS.normalization
    )

  return translation.CycleGANSpec(
    generator_ab=generator(channels_b),
    generator_ba=generator(channels_a),
    discriminator_a=discriminator(),
    discriminator_b=discriminator(),
    loss=train.loss_pair(FLAGS.loss),
    generator_optimizer=cli.adam("generator"),
    discriminator_optimizer=cli.adam("discriminator"),
    cycle_weight=FLAGS.cycle_weight,
    identity_weight=FLAGS.identity_weight,
    # ½E[(D − 1)²] is our least-squares G loss; the paper's has no ½.
    adversarial_weight=2.0 if FLAGS.loss == "least_squares" else 1.0,
    pool_size=FLAGS.pool_size,
  )


def main(argv):
  del argv
  cli.translation_from_flags("cyclegan", make_spec, paired=False)


if __name__ == "__main__":
  cli.run(main)
