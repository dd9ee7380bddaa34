"""Adversarial autoencoders (Makhzani et al. 2015): an autoencoder whose code a GAN matches to a
chosen prior; the supervised variant (style apart from the label) and the semi-supervised one
(a classifier from a few labels).

  python experiments/aae.py                            # the digits' 2-D codes, a Gaussian prior
  python experiments/aae.py --prior=mixture10          # the mixture of 10 2-D Gaussians (Fig. 2b)
  python experiments/aae.py --flagfile=experiments/configs/aae_digits_semi_supervised.flags
  python -m jaxgan.sample --workdir=runs/aae_digits --output=samples.png    # from the prior

The networks are the paper's MLPs (two hidden layers of 1000 ReLU units for the encoder, the
decoder and each adversary); the phases, priors and variants are jaxgan.kinds.aae's. Measured
on the held-out images: the codes against the prior (MMD² and its permutation p-value), the
semi-supervised classification error, reconstructions (L1, PSNR, SSIM, FID) and decoded prior
draws as a GAN's samples (FID, the digits judge). Drawn: the codes coloured by class, the
decoder's manifold of a 2-D code, the style × class grid of the labeled variants.
"""

import dataclasses

import optax

from jaxgan import builders, cli, models, priors
from jaxgan.config import FEATURES_HELP, RunConfig, at_least, check_features_flag, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import aae, autoencoding
from jaxgan.models import vae


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
  dataset: str = option(
    "digits",
    "digits (held out: its 20%), faces100, or a TFDS image dataset (held out: its test split).",
  )
  image_size: int = 16
  num_steps: int = 5000
  batch_size: int = option(100, "Examples per step (the paper's 100), and labeled ones beside.")
  g_lr: float = option(2e-4, "Adam's learning rate of the encoder and the decoder (all phases).")
  d_lr: float = option(2e-4, "Adam's learning rate of the adversaries.")
  beta1: float = option(
    0.1,
    "Adam β1 of every network (musyoku/adversarial-autoencoder's 0.1; at GANs' usual 0.5 the "
    "2-D Gaussian code collapsed for its first 2,000 steps: BENCHMARKS.md).",
  )
  variant: str = option(
    "unsupervised",
    "unsupervised, supervised (the decoder also gets the label: style apart from content) or "
    "semi_supervised (q(y|x) and z, two adversaries, --num_labels labels).",
  )
  prior: str = option(
    "gaussian",
    f"The code's prior: {', '.join(priors.PRIORS)} (the last two are 2-D; jaxgan.priors).",
  )
  latent_dim: int = option(2, "Dimension of the code z (the style, in the labeled variants).")
  prior_labels: bool = option(
    False,
    "The labels guide the regularization (the paper's Fig. 4): D sees one_hot(y) and the prior "
    "draws sit on each label's component (unsupervised variant, mixture10 or swissroll).",
  )
  num_labels: int = option(
    100, "Labeled training examples of the semi-supervised variant (equal per class)."
  )
  adversarial: bool = option(
    True,
    "--noadversarial: the same networks without the regularization phases (the plain "
    "autoencoder, and the classifier from the labels alone), the baseline.",
  )
  hidden_width: int = option(1000, "Units of each hidden layer of every network (the paper's).")
  hidden_layers: int = option(2, "Hidden layers of every network (the paper's 2).")
  log_every: int = 100
  checkpoint_every: int = 1000
  plot_every: int = 1000
  eval_every: int = 1000
  num_eval_samples: int = 1000
  fid_features: str = option("auto", FEATURES_HELP)

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "latent_dim", "hidden_width", "hidden_layers", "num_labels")
    check_features_flag(self.fid_features)
    if self.variant not in aae.VARIANTS:
      raise ConfigError(
        f"unknown --variant {self.variant!r}: choose one of {', '.join(aae.VARIANTS)}"
      )
    priors.get(self.prior, self.latent_dim)  # an unknown prior, or a 2-D one of another size


def make_spec(config: Config, dataset) -> aae.AAESpec:
  size, channels = dataset.image_size, dataset.channels
  hidden = (config.hidden_width,) * config.hidden_layers
  semi = config.variant == "semi_supervised"
  num_classes = max(dataset.num_classes, 1)

  def adversary(classes: int = 0):
    return models.MLPDiscriminator(hidden_dims=hidden, num_classes=classes)

  def adam(player):
    return optax.adam(builders.learning_rate(config, player), config.beta1, config.beta2)

  return aae.AAESpec(
    encoder=vae.MLPEncoder(hidden, config.latent_dim, num_classes if semi else 0),
    decoder=models.MLPGenerator(
      hidden_dims=hidden, output_shape=(size, size, channels), output_activation="tanh"
    ),
    discriminator=adversary(num_classes if config.prior_labels else 0),
    prior=priors.get(config.prior, config.latent_dim),
    autoencoder_optimizer=adam("generator"),
    discriminator_optimizer=adam("discriminator"),
    variant=config.variant,
    num_classes=num_classes,
    category_discriminator=adversary() if semi else None,
    prior_labels=config.prior_labels,
    adversarial=config.adversarial,
  )


def main(config: Config):
  def make_trainer(spec, dataset, test, config, **kwargs):
    return aae.make_trainer(spec, dataset, test, config, num_labels=config.num_labels, **kwargs)

  autoencoding.run_experiment("aae", config, make_spec, make_trainer)


if __name__ == "__main__":
  cli.run(main, Config)
