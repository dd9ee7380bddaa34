"""SNGAN (Miyato et al. 2018): hinge loss with a spectrally normalized discriminator.

  python experiments/sngan.py                        # digits, the "standard CNN" at 16×16
  python experiments/sngan.py --flagfile=experiments/configs/sngan_cifar10_resnet.flags

D's every weight is divided by its largest singular value (one power
iteration per update), so D is 1-Lipschitz per layer without a penalty.
Hinge loss E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))] for D and −E[D(G(z))]
for G (Lim & Ye 2017), n_dis = 5 critic updates per G update, Adam 2e-4 with
β = (0, 0.9), as in the paper's ResNet experiments (Appendix B). The default
D is the paper's "standard CNN" (DCGAN-like, no BatchNorm); --model=resnet
gives the CIFAR ResNets of Appendix B.
"""

from absl import flags

from jaxgan import cli, train

cli.define_training_flags(
  dataset="digits",
  image_size=16,
  num_steps=1000,
  batch_size=64,
  n_critic=5,
  g_lr=2e-4,
  d_lr=2e-4,
  beta1=0.0,
  beta2=0.9,
  latent_dim=64,
  model="dcgan",
  width=32,
  g_normalization="batch",
  d_normalization="none",
  spectral_norm=True,
  log_every=100,
  checkpoint_every=1000,
  plot_every=500,
  eval_every=500,
)
FLAGS = flags.FLAGS


def make_spec(dataset) -> train.GANSpec:
  return train.GANSpec(
    generator=cli.generator(dataset),
    discriminator=cli.discriminator(dataset),
    latent_dim=FLAGS.latent_dim,
    loss=train.loss_pair("hinge"),
    generator_optimizer=cli.adam("generator"),
    discriminator_optimizer=cli.adam("discriminator"),
    n_critic=FLAGS.n_critic,
    ema_decay=cli.ema_decay_flag(),
  )


def main(argv):
  del argv
  cli.train_from_flags("sngan", make_spec)


if __name__ == "__main__":
  cli.run(main)
