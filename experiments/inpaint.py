"""Image completion with global and local discriminators (Iizuka et al. 2017): a dilated
completion network fills a hole; a discriminator judges the whole image and a patch around
the hole; the paper's three phases (completion alone, D alone, both).

  python experiments/inpaint.py                                 # digits 32×32, rectangles
  python experiments/inpaint.py --flagfile=experiments/configs/inpaint_photos.flags
  python -m jaxgan.translate --workdir=runs/inpaint_digits --output=filled.png

Measured on held-out images with fixed holes: hole L1 and PSNR of the mean fill, of the network
at the end of the completion-only phase and of the final one; on the digits, whether the digits
judge still reads each completed digit as its own class.
"""

import dataclasses

import optax

from jaxgan import cli, loop, masks, runtime
from jaxgan.config import RunConfig, at_least, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import inpaint
from jaxgan.models import inpainting


def dilations_flag(text: str) -> tuple[int, ...]:
  try:
    rates = tuple(int(r) for r in text.split(",") if r)
  except ValueError:
    rates = ()
  if not rates or min(rates) < 1:
    raise ConfigError(f"--dilations={text!r}: give positive rates, e.g. 2,4,8,16")
  return rates


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
  dataset: str = option(
    "digits",
    "digits (held out: its 20%), photos (crops of the shipped colour photos), faces100, folder "
    "(--data_dir with train/ and test/ images), or a TFDS image dataset (its test split held out).",
  )
  image_size: int = option(32, "Images are served at this size (a power of two, 16 or more).")
  num_steps: int = 3000
  batch_size: int = 32
  mask: str = option("rectangle", "The holes: rectangle (the paper's) or free_form (strokes).")
  completion_steps: int = option(
    1500, "Phase 1: the completion network alone on the hole MSE (the paper: 90,000)."
  )
  discriminator_steps: int = option(
    300, "Phase 2: the discriminator alone (the paper: 10,000); then both."
  )
  alpha: float = option(4e-4, "α, the weight of the completion network's GAN loss (the paper's).")
  width: int = option(32, "Channels of the first layers (the paper: 64).")
  dilations: str = option("2,4,8,16", "The dilated convolutions' rates (the paper's 2,4,8,16).")
  g_lr: float = option(2e-4, "Adam's learning rate of the completion network.")
  d_lr: float = option(2e-4, "Adam's learning rate of the discriminator.")
  log_every: int = 100
  checkpoint_every: int = 1000
  plot_every: int = 500
  eval_every: int = 500
  num_eval_samples: int = 360

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "width")
    if self.mask not in masks.MASK_KINDS:
      raise ConfigError(f"unknown --mask {self.mask!r}: choose {', '.join(masks.MASK_KINDS)}")
    if self.image_size < 16 or self.image_size & (self.image_size - 1):
      raise ConfigError(f"--image_size must be a power of two, 16 or more; got {self.image_size}")
    dilations_flag(self.dilations)


def make_spec(config: Config, dataset) -> inpaint.InpaintSpec:
  size = config.image_size
  return inpaint.InpaintSpec(
    completion=inpainting.CompletionNetwork(
      size, dataset.channels, config.width, dilations_flag(config.dilations)
    ),
    discriminator=inpainting.GlobalLocalDiscriminator(size, config.width),
    g_optimizer=optax.adam(config.g_lr, config.beta1, config.beta2),
    d_optimizer=optax.adam(config.d_lr, config.beta1, config.beta2),
    image_size=size,
    fill=inpaint.mean_pixel(dataset),
    mask_kind=config.mask,
    alpha=config.alpha,
    completion_steps=config.completion_steps,
    discriminator_steps=config.discriminator_steps,
  )


def main(config: Config):
  config = runtime.with_default_workdir(config, "inpaint")
  runtime.use_compilation_cache(config.compilation_cache)
  dataset, test = inpaint.load_splits(config.dataset, config.image_size, config.data_dir)
  mesh = runtime.start_devices(config)
  spec = make_spec(config, dataset)
  run = inpaint.make_trainer(spec, dataset, test, config, mesh=mesh)
  return loop.run_training(run, config, mesh=mesh, run_config=runtime.run_config("inpaint", config))


if __name__ == "__main__":
  cli.run(main, Config)
