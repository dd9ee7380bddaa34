"""Single-image super-resolution: SRResNet and SRGAN (Ledig et al. 2017), ESRGAN (Wang et al.
2018). Two phases: a PSNR-oriented generator, then the GAN started from it.

  python experiments/srgan.py                                  # SRResNet ×4 on the shipped photos
  python experiments/srgan.py --adversarial=gan --pretrained_workdir=runs/srgan_photos \
      --workdir=runs/srgan_photos_gan                          # SRGAN-MSE from it
  python experiments/srgan.py --flagfile=experiments/configs/esrgan_folder.flags --data_dir=DIR \
      --pretrained_workdir=runs/rrdb_psnr_folder --perceptual=vgg54_pre:VGG19.npz

Trained on random HR crops of the colour photos scikit-image and scikit-learn ship (LR made by
bicubic down-sampling in the step), measured on whole held-out photos: Y-channel PSNR and SSIM
against bicubic up-sampling and against the first phase's generator, with comparison crops.
"""

import dataclasses

import optax

from jaxgan import cli, loop, perceptual, runs, runtime
from jaxgan.config import RunConfig, at_least, option
from jaxgan.data import super_resolution as sr_data
from jaxgan.errors import ConfigError
from jaxgan.kinds import srgan
from jaxgan.models import srgan as sr_models

GENERATORS = ("srresnet", "rrdb")


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
  dataset: str = option(
    "photos",
    "photos (the shipped colour photos), sr:folder (--data_dir with train/ and test/ images) "
    "or sr:TFDS_NAME (its train split cropped, its test split held out).",
  )
  scale: int = option(4, "The up-sampling factor: 2 or 4.")
  crop: int = option(
    48,
    "HR crop size of the training batches (LR: crop/scale). The papers' 96 runs at about 1 "
    "step/s on 2 CPU cores, 48 at 6.",
  )
  num_steps: int = 3000
  batch_size: int = option(16, "HR crops per step (the papers' 16).")
  generator: str = option("srresnet", "srresnet (SRGAN's, BatchNorm) or rrdb (ESRGAN's).")
  num_blocks: int = option(16, "Residual blocks (SRResNet: 16) or RRDBs (ESRGAN: 23).")
  width: int = option(64, "Channels of the generator's trunk (both papers: 64).")
  pixel_loss: str = option("mse", "mse (SRResNet, SRGAN) or l1 (ESRGAN).")
  pixel_weight: float = option(1.0, "Weight of the pixel loss (ESRGAN's GAN phase: 1e-2).")
  perceptual: str = option("none", perceptual.PERCEPTUAL_HELP)
  perceptual_weight: float = option(1.0, "Weight of the perceptual term.")
  adversarial: str = option(
    "none", "none (the PSNR phase), gan (SRGAN, −log D) or ragan (ESRGAN's relativistic)."
  )
  adversarial_weight: float = option(
    1e-3, "Weight of the adversarial loss (SRGAN 1e-3, ESRGAN 5e-3)."
  )
  pretrained_workdir: str | None = option(
    None, "A PSNR-phase run whose generator the GAN phase starts from (and is compared to)."
  )
  g_lr: float = option(1e-4, "Adam's learning rate of the generator (both papers: 1e-4).")
  d_lr: float = option(1e-4, "Adam's learning rate of the discriminator.")
  beta1: float = option(0.9, "Adam β1 (both papers: 0.9).")
  log_every: int = 50
  checkpoint_every: int = 1000
  plot_every: int = 1000
  eval_every: int = 1000

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "num_blocks", "width", "crop")
    if self.scale not in sr_data.SCALES:
      raise ConfigError(f"--scale must be 2 or 4 (the papers'), got {self.scale}")
    if self.generator not in GENERATORS:
      raise ConfigError(f"unknown --generator {self.generator!r}: choose srresnet or rrdb")
    perceptual.check_perceptual_flag(self.perceptual)


def make_spec(config: Config, channels: int = 3) -> srgan.SRSpec:
  if config.generator == "srresnet":
    generator = sr_models.SRResNet(config.scale, config.num_blocks, config.width, channels)
  else:
    generator = sr_models.RRDBNet(config.scale, config.num_blocks, config.width, channels=channels)
  adversarial = config.adversarial != "none"
  return srgan.SRSpec(
    generator=generator,
    discriminator=sr_models.SRDiscriminator() if adversarial else None,
    scale=config.scale,
    g_optimizer=optax.adam(config.g_lr, config.beta1, config.beta2),
    d_optimizer=optax.adam(config.d_lr, config.beta1, config.beta2) if adversarial else None,
    pixel_loss=config.pixel_loss,
    pixel_weight=config.pixel_weight,
    perceptual=perceptual.perceptual_for(config.perceptual, config.dataset),
    perceptual_weight=config.perceptual_weight,
    adversarial=config.adversarial,
    adversarial_weight=config.adversarial_weight,
  )


def pretrained_generator(workdir: str, spec: srgan.SRSpec):
  """The generator variables of a first-phase run, checked to be this run's network."""
  run = runs.restore(workdir)
  if run.config.get("kind") != "srgan" or run.config.get("generator") != srgan.models.describe(
    spec.generator
  ):
    raise ConfigError(
      f"--pretrained_workdir={workdir} is not a super-resolution run of this generator "
      "(--generator, --scale, --num_blocks and --width must match)"
    )
  g = run.state["generator"]
  return {"params": g["params"], "model_state": g["model_state"]}


def main(config: Config):
  config = runtime.with_default_workdir(config, "srgan")
  runtime.use_compilation_cache(config.compilation_cache)
  train, test = sr_data.load_sr_datasets(config.dataset, config.data_dir)
  mesh = runtime.start_devices(config)
  spec = make_spec(config, train.channels)
  pretrained = None
  if config.pretrained_workdir:
    pretrained = pretrained_generator(config.pretrained_workdir, spec)
  run = srgan.make_trainer(spec, train, test, config, mesh=mesh, pretrained=pretrained)
  return loop.run_training(run, config, mesh=mesh, run_config=runtime.run_config("srgan", config))


if __name__ == "__main__":
  cli.run(main, Config)
