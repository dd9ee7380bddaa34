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
  **{
    **cli.IMAGE_DEFAULTS,
    "num_steps": 1000,
    "n_critic": 5,
    "beta1": 0.0,
    "beta2": 0.9,
    "d_normalization": "none",
    "spectral_norm": True,
  }
)
FLAGS = flags.FLAGS


def make_spec(dataset) -> train.GANSpec:
  return cli.gan_spec(
    dataset,
    train.loss_pair("hinge"),
  )


def main(argv):
  del argv
  cli.train_from_flags("sngan", make_spec)


if __name__ == "__main__":
  cli.run(main)
