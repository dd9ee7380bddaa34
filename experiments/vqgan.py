"""VQGAN, first stage (Esser, Rombach & Ommer 2021, "Taming Transformers for High-Resolution
Image Synthesis"): an image tokenizer, a convolutional autoencoder whose bottleneck is a
codebook, trained by L1 + a perceptual loss + a patch discriminator with the adaptive weight.

  python experiments/vqgan.py                       # the digits' 4×4 code grids, a few minutes
  python experiments/vqgan.py --flagfile=experiments/configs/vqgan_imagenet256.flags \\
      --perceptual=lpips:~/.cache/jaxgan/lpips_vgg16.npz

The networks are taming-transformers' Encoder/Decoder (jaxgan.models.vqgan: ResNet blocks
with GroupNorm and swish, down/up-sampling by the channel multipliers, attention at the
listed resolutions and in the middle) and a PatchGAN (jaxgan.models.PatchGANDiscriminator,
the authors' NLayerDiscriminator). The loss and the step: jaxgan.kinds.vqgan. Reconstructions
are measured on held-out images (the digits' 20%): L1, PSNR, SSIM, FID of the
reconstructions, codebook usage and perplexity. `python -m jaxgan.tokenize` writes a folder's
code grids; `python -m jaxgan.translate --input=FOLDER` reconstructs it.
"""

import dataclasses

from jaxgan import builders, cli, models, perceptual
from jaxgan.config import FEATURES_HELP, RunConfig, at_least, check_features_flag, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import autoencoding, vqgan
from jaxgan.models import vqgan as vqgan_models


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
  dataset: str = option(
    "digits",
    "digits (ships with scikit-learn; held out: its 20%), faces100, or a TFDS image dataset "
    "(held out: its test split).",
  )
  image_size: int = 16
  num_steps: int = 4000
  batch_size: int = 64
  g_lr: float = option(2e-4, "The autoencoder's learning rate (Adam).")
  d_lr: float = option(2e-4, "The discriminator's learning rate (Adam).")
  beta1: float = 0.5
  beta2: float = 0.9
  log_every: int = 100
  checkpoint_every: int = 1000
  plot_every: int = 1000
  eval_every: int = 1000
  num_eval_samples: int = 1000
  width: int = option(32, "Channels of the first level (taming's ch).")
  channel_multipliers: tuple[int, ...] = option(
    (1, 2, 2),
    "Channels of each level as multiples of --width; the code grid is the image "
    "downsampled once per level after the first.",
  )
  num_res_blocks: int = option(1, "ResNet blocks per level.")
  attention_resolutions: tuple[int, ...] = option(
    (4,), "Resolutions with self-attention after their blocks (and always in the middle)."
  )
  z_channels: int = option(64, "Channels of the encoder's output.")
  num_codes: int = option(128, "K, the codebook's size.")
  code_dim: int = option(32, "d, the codes' dimension.")
  beta: float = option(0.25, "β of the commitment loss.")
  codebook_ema: float = option(
    0.0,
    "Update the codebook by an EMA of its assigned outputs with this decay (0.99); 0: learn it.",
  )
  restart_threshold: float = option(
    1.0,
    "Restart a code when its average use per batch falls below this (at the batch's worst-"
    "served encoder outputs); 0: never.",
  )
  codebook_weight: float = option(1.0, "w_q of the codebook and commitment losses.")
  perceptual: str = option("auto", perceptual.PERCEPTUAL_HELP)
  perceptual_weight: float = option(1.0, "w_p of the perceptual loss.")
  adversarial_weight: float = option(0.8, "w_d, the scale of the adaptive weight λ.")
  discriminator_start: int = option(
    1000, "Steps before the discriminator and its loss are switched on."
  )
  d_width: int = option(32, "Channels of the PatchGAN's first layer.")
  d_layers: int = option(2, "Stride-2 layers of the PatchGAN (taming: 3).")
  fid_features: str = option("auto", FEATURES_HELP)

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "width", "num_res_blocks", "z_channels", "code_dim", "d_width", "d_layers")
    if self.num_codes < 2:
      raise ConfigError(
        f"--num_codes must be at least 2 (a codebook needs two codes), got {self.num_codes}"
      )
    if not self.channel_multipliers or min(self.channel_multipliers) < 1:
      raise ConfigError("--channel_multipliers needs positive multipliers, e.g. 1,2,2")
    levels = len(self.channel_multipliers)
    if self.image_size % 2 ** (levels - 1):
      raise ConfigError(
        f"--image_size={self.image_size} does not halve {levels - 1} times "
        f"(--channel_multipliers has {levels} levels)"
      )
    if not 0.0 <= self.codebook_ema < 1.0:
      raise ConfigError(f"--codebook_ema must be in [0, 1), got {self.codebook_ema}")
    perceptual.check_perceptual_flag(self.perceptual)
    check_features_flag(self.fid_features)


def make_spec(config: Config, dataset) -> vqgan.VQGANSpec:
  autoencoder = vqgan_models.VQAutoencoder(
    channels=dataset.channels,
    width=config.width,
    channel_multipliers=config.channel_multipliers,
    num_res_blocks=config.num_res_blocks,
    attn_resolutions=config.attention_resolutions,
    z_channels=config.z_channels,
    num_codes=config.num_codes,
    code_dim=config.code_dim,
    beta=config.beta,
    ema_decay=config.codebook_ema or None,
    dead_threshold=config.restart_threshold,
  )
  discriminator = models.PatchGANDiscriminator(width=config.d_width, num_layers=config.d_layers)
  return vqgan.VQGANSpec(
    autoencoder,
    discriminator,
    builders.adam(config, "generator"),
    builders.adam(config, "discriminator"),
    perceptual=perceptual.perceptual_for(config.perceptual, dataset.name),
    perceptual_weight=config.perceptual_weight,
    codebook_weight=config.codebook_weight,
    adversarial_weight=config.adversarial_weight,
    discriminator_start=config.discriminator_start,
  )


def main(config: Config):
  autoencoding.run_experiment("vqgan", config, make_spec, vqgan.make_trainer)


if __name__ == "__main__":
  cli.run(main, Config)
