"""Text-to-image synthesis with GAN-CLS and GAN-INT (Reed et al. 2016): captions to images.

  python experiments/text2image.py                                  # digit captions, GAN-CLS
  python experiments/text2image.py --wrong_text_weight=0 --workdir=runs/text2image_no_cls
  python experiments/text2image.py --flagfile=experiments/configs/text2image_digits.flags
  python -m jaxgan.sample --workdir=runs/text2image --caption="a bold three" --output=3.png

The offline demo, --dataset=digit_captions: each shipped digit (at 16×16) with captions written
from its class and its measured thickness, slant and width, in several templates and with
synonyms (jaxgan.data.digit_captions); the networks read the captions' words with encoders
trained with them. Every --eval_every steps an image is generated for each held-out caption
(held-out digits, templates unseen in training) and scored: the digits judge's accuracy for the
class the caption names, and the correlation between the thickness, slant and width asked for
and those measured on the image. --wrong_text_weight=0 drops GAN-CLS's mismatched-text term (a
plain text-conditional GAN); --interpolation_weight=0 drops GAN-INT. --dataset=folder trains
on real images with the authors' pre-computed caption embeddings (CUB birds, Oxford-102 flowers:
experiments/configs/text2image_cub.flags, text2image_flowers.flags).
"""

import dataclasses

import optax

from jaxgan import cli, loop, runtime
from jaxgan.config import RunConfig, at_least, option
from jaxgan.data import digit_captions
from jaxgan.errors import ConfigError
from jaxgan.kinds import text2image
from jaxgan.models import text2image as text2image_models


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
  dataset: str = option(
    "digit_captions",
    "digit_captions (the shipped digits, captioned) or folder (--data_dir: images with "
    "pre-computed caption embeddings, e.g. CUB or Oxford-102; see jaxgan.data.caption_embeddings).",
  )
  image_size: int = option(
    16, "The images' size (digit_captions: 16; a folder's: 64, the authors')."
  )
  num_steps: int = 4000
  batch_size: int = option(64, "Captioned images per step (the authors' 64).")
  latent_dim: int = option(100, "z's dimension (the authors' 100).")
  g_width: int = option(64, "G's width at its last hidden layer, 2× at 4×4 (the authors' ngf 128).")
  d_width: int = option(64, "D's first width (the authors' ndf: 64).")
  text_features: int = option(128, "nt: the caption's projection in G and D (the authors' 128).")
  wrong_text_weight: float = option(
    0.5, "c: D's (real image, wrong text) term, (1 − c) on (fake, right text); 0: no GAN-CLS."
  )
  interpolation_weight: float = option(
    1.0, "λ_INT: G's loss on interpolated captions (the authors' 1; 0: no GAN-INT)."
  )
  g_lr: float = option(2e-4, "G's Adam rate (the authors' 2e-4).")
  d_lr: float = option(2e-4, "D's Adam rate (the authors' 2e-4).")
  beta1: float = option(0.5, "Adam β1 (the authors' 0.5).")
  lr_halve_every: int = option(
    0, "Halve both rates every this many steps (the authors: every 100 epochs); 0: constant."
  )
  log_every: int = 100
  checkpoint_every: int = 1000
  plot_every: int = 500
  eval_every: int = 500
  num_eval_samples: int = option(720, "Held-out captions generated and scored per evaluation.")

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "latent_dim", "g_width", "d_width", "text_features")
    at_least(self, 0, "lr_halve_every")
    if self.dataset not in ("digit_captions", "folder"):
      raise ConfigError(f"unknown --dataset {self.dataset!r}: digit_captions or folder")
    if self.dataset == "digit_captions" and self.image_size != digit_captions.IMAGE_SIZE:
      raise ConfigError(f"digit_captions are {digit_captions.IMAGE_SIZE}×16: --image_size=16")
    if self.image_size not in (8, 16, 32, 64, 128, 256):
      raise ConfigError(f"--image_size must be 4·2^n (16, 32, 64, ...), got {self.image_size}")
    if self.batch_size % 2:
      raise ConfigError(
        f"--batch_size must be even (GAN-INT mixes its halves), got {self.batch_size}"
      )


def halving(rate: float, every: int):
  """rate·0.5^⌊step / every⌋ (the authors' lr_decay 0.5 every decay_every epochs), or rate."""
  if not every:
    return rate
  return optax.exponential_decay(rate, every, 0.5, staircase=True)


def make_spec(config: Config, vocab_size: int, channels: int) -> text2image.TextToImageSpec:
  """The run's spec; vocab_size 0: the networks read pre-computed embeddings."""
  return text2image.TextToImageSpec(
    generator=text2image_models.CaptionGenerator(
      config.image_size, channels, config.g_width, vocab_size, config.text_features
    ),
    discriminator=text2image_models.MatchingDiscriminator(
      config.image_size, config.d_width, vocab_size, config.text_features
    ),
    g_optimizer=optax.adam(halving(config.g_lr, config.lr_halve_every), config.beta1, config.beta2),
    d_optimizer=optax.adam(halving(config.d_lr, config.lr_halve_every), config.beta1, config.beta2),
    latent_dim=config.latent_dim,
    wrong_text_weight=config.wrong_text_weight,
    interpolation_weight=config.interpolation_weight,
  )


def main(config: Config):
  config = runtime.with_default_workdir(config, "text2image")
  runtime.use_compilation_cache(config.compilation_cache)
  train, test = text2image.load_datasets(config.dataset, config.image_size, config.data_dir)
  mesh = runtime.start_devices(config)
  vocabulary = getattr(train, "vocabulary", None)
  spec = make_spec(config, vocabulary.size if vocabulary else 0, train.channels)
  run = text2image.make_trainer(spec, train, test, config, mesh=mesh)
  return loop.run_training(
    run, config, mesh=mesh, run_config=runtime.run_config("text2image", config)
  )


if __name__ == "__main__":
  cli.run(main, Config)
