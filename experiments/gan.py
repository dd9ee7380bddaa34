"""The original GAN (Goodfellow et al. 2014): the minimax game and its non-saturating variant.

  python experiments/gan.py                          # grid25, non-saturating G loss
  python experiments/gan.py --loss=minimax           # the saturating E[log(1 − D(G(z)))]
  python experiments/gan.py --flagfile=experiments/configs/gan_ring8.flags
  python experiments/gan.py --flagfile=experiments/configs/gan_mnist_mlp.flags  # the paper's MLP

D minimizes −E[log D(x)] − E[log(1 − D(G(z)))] (optionally with one-sided
label smoothing, --label_smoothing=0.1); G minimizes −E[log D(G(z))]
("non_saturating", the paper's practical choice, §3) or E[log(1 − D(G(z)))]
("minimax"). One D update per G update (k = 1 in the paper's Algorithm 1),
Adam 2e-4 with β1 = 0.5 for both players (Radford et al. 2016).
--unroll_steps=K makes it the Unrolled GAN (Metz et al. 2017): G's loss is taken
against D after K look-ahead updates, differentiated through them
(jaxgan.train.unrolled_discriminator_params).
"""

from absl import flags

from jaxgan import cli, train

cli.define_training_flags(
  dataset="grid25", num_steps=30_000, batch_size=128, n_critic=1, g_lr=2e-4, d_lr=2e-4
)
flags.DEFINE_enum("loss", "non_saturating", ["non_saturating", "minimax"], "Generator loss.")
flags.DEFINE_float("label_smoothing", 0.0, "One-sided: D's real target is 1 − this.")
flags.DEFINE_integer(
  "unroll_steps",
  0,
  "Unrolled GAN (Metz et al. 2017): G's loss against D after this many look-ahead updates "
  "(the paper: 5 or 10); 0 is the plain GAN.",
)
FLAGS = flags.FLAGS


def make_spec(dataset) -> train.GANSpec:
  return cli.gan_spec(
    dataset,
    train.loss_pair(FLAGS.loss, label_smoothing=FLAGS.label_smoothing),
    unroll_steps=FLAGS.unroll_steps,
    # G differentiates through D's Adam steps: ε inside √v keeps that finite where v = 0.
    discriminator_optimizer=cli.adam("discriminator", eps_root=1e-8 if FLAGS.unroll_steps else 0),
  )


def main(argv):
  del argv
  cli.train_from_flags("gan", make_spec)


if __name__ == "__main__":
  cli.run(main)
