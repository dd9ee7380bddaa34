"""BEGAN (Berthelot et al. 2017): an autoencoder discriminator held at equilibrium.

  python experiments/began.py                        # digits at 16×16
  python experiments/began.py --flagfile=experiments/configs/began_celeba.flags

D is an autoencoder and its "score" the reconstruction loss L(v) = mean|v − D(v)|.
D minimizes L(x) − k_t·L(G(z)), G minimizes L(G(z)), and after every D update
k_{t+1} = clip(k_t + λ_k(γ·L(x) − L(G(z))), 0, 1) keeps E[L(G(z))] = γ·E[L(x)].
The log shows k and the convergence measure M = L(x) + |γL(x) − L(G(z))|,
which falls as the samples improve. Embedding and z of size 64 (the paper's h).

The defaults are the digits recipe: γ = 1, λ_k = 0.01, Adam 2e-4 (β1 = 0.5).
The paper's γ = 0.5, λ_k = 0.001 and 1e-4 (began_celeba.flags) collapse on the
digits: G finds that a "1" is what D's autoencoder reconstructs best, L(G(z))
stays under γ·L(x), k_t stays near 0 and D never pushes the fakes apart (every
sample a "1" by 3,000 steps). γ = 1 asks for fakes as hard to reconstruct as
real digits, which keeps k_t up (0.3-0.6) and the classes apart, and the
larger λ_k lets k_t follow within a short run.
"""

from absl import flags

from jaxgan import cli, models, train
from jaxgan.data import ToyDataset
from jaxgan.errors import ConfigError

cli.define_training_flags(
  **{
    **cli.IMAGE_DEFAULTS,
    "batch_size": 32,  # the paper used 16
    "model": "dcgan",  # unused: BEGAN has its own networks
    "width": 16,
  }
)
flags.DEFINE_float(
  "gamma", 1.0, "γ, the diversity ratio E[L(G(z))]/E[L(x)] held by k_t (the paper: 0.5)."
)
flags.DEFINE_float(
  "lambda_k", 0.01, "λ_k, the proportional gain of the k_t update (the paper: 0.001)."
)
FLAGS = flags.FLAGS


def make_spec(dataset) -> train.GANSpec:
  if isinstance(dataset, ToyDataset):
    raise ConfigError("BEGAN's autoencoder is for images: use --dataset=digits, mnist, ...")
  size = dataset.image_size
  return cli.gan_spec(
    dataset,
    generator=models.BEGANGenerator(size, dataset.channels, FLAGS.width),
    discriminator=models.BEGANDiscriminator(size, FLAGS.width, FLAGS.latent_dim),
    loss=train.began_loss_pair(FLAGS.gamma, FLAGS.lambda_k),
  )


def main(argv):
  del argv
  cli.train_from_flags("began", make_spec)


if __name__ == "__main__":
  cli.run(main)
