"""VQGAN's second stage (Esser et al. 2021, §3.2): an autoregressive transformer over a trained
VQGAN's code grids, class-conditioned by its start token; samples are its codes, decoded.

  python experiments/vqgan.py --workdir=runs/vqgan_digits              # first, the tokenizer
  python experiments/vqgan_transformer.py --vqgan_workdir=runs/vqgan_digits
  python -m jaxgan.sample --workdir=runs/vqgan_transformer_digits --label=7 --output=sevens.png

The prior is taming-transformers' GPT (jaxgan.models.transformer: pre-norm blocks, causal
attention, learned positions) trained on the codes of the VQGAN's training images in raster
order with AdamW (β = (0.9, 0.95), weight decay 0.01 on the dense kernels, as minGPT).
Its samples are measured as a GAN's: FID on the digits features against the training
images, the digits judge's class accuracy when conditioned, a grid with one row per class;
and its held-out likelihood against its training one, since a prior can simply memorize the
training codes (the digits defaults, 2 blocks of width 64 with dropout 0.3, are chosen so it
does not: BENCHMARKS.md).
"""

import dataclasses

import jax
import optax

from jaxgan import cli, loop, runtime
from jaxgan.config import FEATURES_HELP, RunConfig, at_least, check_features_flag, option
from jaxgan.errors import ConfigError
from jaxgan.kinds import vqgan_transformer
from jaxgan.models.transformer import CodeTransformer


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
  vqgan_workdir: str | None = option(None, "The trained VQGAN run whose codes the prior learns.")
  vqgan_step: int | None = option(None, "Its checkpoint (default: the newest).")
  dataset: str = option("digits", "Ignored: the data is the VQGAN run's.")
  num_steps: int = 3000
  batch_size: int = 64
  g_lr: float = option(3e-4, "The transformer's learning rate (AdamW).")
  beta1: float = 0.9
  beta2: float = 0.95
  weight_decay: float = option(0.01, "AdamW's decay of the dense kernels (minGPT's 0.01).")
  log_every: int = 100
  checkpoint_every: int = 1000
  plot_every: int = 1000
  eval_every: int = 1000
  num_eval_samples: int = 1000
  num_layers: int = option(2, "Transformer blocks (4 wide ones memorize the digits' codes).")
  num_heads: int = option(4, "Attention heads.")
  embed_dim: int = option(64, "Width of the token embeddings.")
  dropout: float = option(0.3, "Dropout on embeddings, attention and residuals.")
  context: int = option(0, "The longest sequence it reads; 0: the code grid's length h·w.")
  conditional: bool = option(True, "Condition on the class by the start token (labeled data).")
  temperature: float = option(1.0, "Sampling: divides the logits.")
  top_k: int = option(0, "Sampling: draw among the k most likely codes (0: all).")
  fid_features: str = option("auto", FEATURES_HELP)

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "num_layers", "num_heads", "embed_dim")
    at_least(self, 0, "context", "top_k")
    if self.embed_dim % self.num_heads:
      raise ConfigError(f"--embed_dim={self.embed_dim} does not split into {self.num_heads} heads")
    if not self.temperature > 0:
      raise ConfigError(f"--temperature must be positive, got {self.temperature}")
    check_features_flag(self.fid_features)


def decay_mask(params):
  """minGPT's weight decay: the dense kernels only (not biases, norms, embeddings)."""
  return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].key == "kernel", params)


def make_spec(config: Config, vq: vqgan_transformer.VQGANCodes) -> vqgan_transformer.PriorSpec:
  length = vq.grid[0] * vq.grid[1]
  context = config.context or length
  if context < length:
    raise ConfigError(
      f"--context={context} is shorter than the code grid ({vq.grid[0]}×{vq.grid[1]} = "
      f"{length} codes): pass at least {length}, or 0"
    )
  classes = vq.dataset.num_classes if config.conditional else 0
  prior = CodeTransformer(
    vocab_size=vq.autoencoder.num_codes,
    num_start_tokens=max(classes, 1),
    context=context,
    num_layers=config.num_layers,
    num_heads=config.num_heads,
    embed_dim=config.embed_dim,
    dropout=config.dropout,
  )
  optimizer = optax.adamw(
    config.g_lr, config.beta1, config.beta2, weight_decay=config.weight_decay, mask=decay_mask
  )
  return vqgan_transformer.PriorSpec(
    prior, vq.autoencoder, optimizer, vq.grid, classes, config.temperature, config.top_k
  )


def main(config: Config):
  if not config.vqgan_workdir:
    raise ConfigError("--vqgan_workdir is required: a trained VQGAN run (experiments/vqgan.py)")
  config = runtime.with_default_workdir(config, "vqgan_transformer")
  runtime.use_compilation_cache(config.compilation_cache)
  vq = vqgan_transformer.codes_of_run(config.vqgan_workdir, config.vqgan_step)
  mesh = runtime.start_devices(config)
  spec = make_spec(config, vq)
  run = vqgan_transformer.make_trainer(
    spec,
    vq.dataset,
    vq.codes,
    vq.variables,
    config,
    vqgan_workdir=config.vqgan_workdir,
    held_out=vq.held_out,
    mesh=mesh,
    fid_features=config.fid_features,
  )
  run_config = runtime.run_config("vqgan_transformer", config)
  loop.run_training(run, config, mesh=mesh, run_config=run_config)


if __name__ == "__main__":
  cli.run(main, Config)
