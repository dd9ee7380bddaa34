"""Semantic image synthesis with SPADE (Park et al. 2019, GauGAN): label maps to images.

  python experiments/spade.py                                   # digit scenes, SPADE
  python experiments/spade.py --generator=pix2pixhd --workdir=runs/spade_baseline
  python experiments/spade.py --flagfile=experiments/configs/spade_digit_scenes.flags
  python -m jaxgan.translate --workdir=runs/spade --input=my_map.png --output=painted.png

The offline demo, --dataset=digit_scenes: 48×48 canvases of 2–4 shipped digits whose label map
marks each digit's 16×16 box with its class (jaxgan.data.digit_scenes). G must paint a digit of
the right class in each box. Every --eval_every steps the held-out scenes are painted and
scored: the digits judge reads each painted digit as its box's class, and a segmenter trained
on real scenes labels the painted pixels (the papers' FCN score). --generator=pix2pixhd is the
paper's baseline: the same losses, but a generator that reads the map at its input only.
"""

import dataclasses

import optax

from jaxgan import cli, loop, perceptual, runtime
from jaxgan.config import RunConfig, at_least, option
from jaxgan.data import digit_scenes
from jaxgan.errors import ConfigError
from jaxgan.kinds import spade
from jaxgan.models import spade as spade_models

GENERATORS = ("spade", "pix2pixhd")


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
  dataset: str = option(
    "digit_scenes",
    "digit_scenes (48×48 scenes of the shipped digits) or folder (--data_dir: images and label "
    "maps in jaxgan's, ADE20K's or Cityscapes' layout; see jaxgan.data.label_maps).",
  )
  image_size: int = option(48, "The images' size (digit_scenes: 48; a folder's: e.g. 64 or 256).")
  num_classes: int = option(
    digit_scenes.NUM_CLASSES,
    "Classes of the label maps (digit_scenes: 11; ADE20K 151, Cityscapes 35 as SPADE counts).",
  )
  num_steps: int = 3000
  batch_size: int = option(
    8, "Scenes per step (the authors': 1 per GPU on 8 GPUs, BatchNorm synced)."
  )
  generator: str = option(
    "spade", "spade (SPADE residual blocks) or pix2pixhd (the map at the input only)."
  )
  width: int = option(
    8, "G's base width w: 16w channels at the smallest size (the paper: 64, for 256² images)."
  )
  spade_hidden: int = option(
    64, "Channels of SPADE's shared convolution (the paper: 128; 64 halves the CPU time here)."
  )
  norm: str = option("batch", "SPADE's parameter-free norm: batch (the authors') or instance.")
  latent_dim: int = option(256, "z's dimension (the paper's 256).")
  style_encoder: bool = option(
    False, "Encode each real image's style into z (q(z|x), KL-regularized) instead of noise."
  )
  d_width: int = option(32, "The discriminators' first width (the paper: 64).")
  d_layers: int = option(
    3,
    "Layers of each discriminator (the authors': 4, for 256² images): each logit sees 34×34 "
    "pixels with 3, 70×70 with 4.",
  )
  num_scales: int = option(2, "Discriminators at full, half, ... size (the paper's 2).")
  feature_matching_weight: float = option(10.0, "λ_FM (the paper's 10).")
  perceptual: str = option("none", perceptual.PERCEPTUAL_HELP)
  perceptual_weight: float = option(10.0, "λ of the perceptual term (the paper's VGG loss: 10).")
  kl_weight: float = option(0.05, "λ_KL of the style encoder (the paper's 0.05).")
  g_lr: float = option(1e-4, "G's Adam rate (TTUR: the paper's 1e-4).")
  d_lr: float = option(4e-4, "D's Adam rate (TTUR: the paper's 4e-4).")
  beta1: float = option(0.0, "Adam β1 (the paper's 0).")
  beta2: float = option(0.9, "Adam β2 (the paper's 0.9).")
  log_every: int = 50
  checkpoint_every: int = 1000
  plot_every: int = 500
  eval_every: int = 500
  num_eval_samples: int = option(500, "Held-out scenes painted and scored per evaluation.")

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "width", "spade_hidden", "latent_dim", "d_width", "d_layers", "num_scales")
    if self.dataset not in ("digit_scenes", "folder"):
      raise ConfigError(f"unknown --dataset {self.dataset!r}: digit_scenes or folder")
    if self.dataset == "digit_scenes" and (
      self.image_size != digit_scenes.CANVAS or self.num_classes != digit_scenes.NUM_CLASSES
    ):
      raise ConfigError(
        f"digit_scenes are {digit_scenes.CANVAS}×{digit_scenes.CANVAS} with "
        f"{digit_scenes.NUM_CLASSES} classes: --image_size must be 48 and --num_classes 11"
      )
    upsamplings(self.image_size)
    if self.generator not in GENERATORS:
      raise ConfigError(f"unknown --generator {self.generator!r}: choose spade or pix2pixhd")
    if self.norm not in spade_models.PARAM_FREE_NORMS:
      raise ConfigError(f"unknown --norm {self.norm!r}: choose batch or instance")
    perceptual.check_perceptual_flag(self.perceptual)


def upsamplings(image_size: int) -> int:
  """The generator's up-samplings: 5 (the authors' "normal", from 8×8 at 256) where the size
  allows, else as many as leave a start of 3 or more (48 = 3 · 2⁴)."""
  n = 5
  while n > 1 and (image_size % 2**n or image_size // 2**n < 3):
    n -= 1
  if image_size % 2**n or image_size // 2**n < 3:
    raise ConfigError(f"--image_size={image_size}: give 3·2^k or 8·2^k pixels (48, 64, 256)")
  return n


def make_spec(config: Config, channels: int = 1) -> spade.SpadeSpec:
  if config.generator == "spade":
    generator = spade_models.SPADEGenerator(
      config.image_size,
      channels,
      config.width,
      num_upsamplings=upsamplings(config.image_size),
      hidden=config.spade_hidden,
      norm=config.norm,
    )
  else:
    generator = spade_models.MapInputGenerator(channels, 4 * config.width)
  encoder = None
  if config.style_encoder:
    encoder = spade_models.StyleEncoder(config.latent_dim, 4 * config.width)
  return spade.SpadeSpec(
    generator=generator,
    discriminator=spade_models.MultiscaleDiscriminator(
      config.d_width, config.d_layers, config.num_scales
    ),
    g_optimizer=optax.adam(config.g_lr, config.beta1, config.beta2),
    d_optimizer=optax.adam(config.d_lr, config.beta1, config.beta2),
    num_classes=config.num_classes,
    latent_dim=config.latent_dim,
    encoder=encoder,
    feature_matching_weight=config.feature_matching_weight,
    perceptual=perceptual.perceptual_for(config.perceptual, config.dataset),
    perceptual_weight=config.perceptual_weight,
    kl_weight=config.kl_weight,
  )


def main(config: Config):
  config = runtime.with_default_workdir(config, "spade")
  runtime.use_compilation_cache(config.compilation_cache)
  train, test = spade.load_datasets(
    config.dataset, config.image_size, config.num_classes, config.data_dir
  )
  mesh = runtime.start_devices(config)
  run = spade.make_trainer(make_spec(config, train.channels), train, test, config, mesh=mesh)
  return loop.run_training(run, config, mesh=mesh, run_config=runtime.run_config("spade", config))


if __name__ == "__main__":
  cli.run(main, Config)
