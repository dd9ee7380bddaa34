"""Run configurations: frozen, typed dataclasses that hold every setting of a run, once.

    config = ImageGANConfig(num_steps=500, batch_size=32)   # in a notebook or a test
    spec = experiments.dcgan.make_spec(config, dataset)     # no flag parsing anywhere

Every field is a setting with one default and one validation (in the class's
`__post_init__`, raising a one-line ConfigError that names the flag). The
command line is made from the same classes: jaxgan.cli defines one absl flag
per field (its type, default, help and choices from the field) and builds the
config from the parsed flags, so flags are read once, in `main`.

An experiment subclasses the config of its kind: re-declaring a field changes
its default for that experiment (wgan_gp trains 20,000 steps with n_critic 5),
and new fields are the experiment's own settings:

    @dataclasses.dataclass(frozen=True)
    class Config(GANConfig):
      num_steps: int = 20_000
      n_critic: int = 5
      gp_weight: float = option(0.1, "λ, the weight of the gradient penalty.")

The classes: LoopConfig (the loop), RunConfig (+ data, Adam, devices: every
experiment), GANConfig (+ the GAN's networks) and ImageGANConfig (its digits
defaults), TranslationConfig (+ pix2pix's and CycleGAN's networks and jitter).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from jaxgan import optim
from jaxgan.augment import parse_policy
from jaxgan.data.toy import TOY_DATASETS
from jaxgan.errors import ConfigError
from jaxgan.features import FEATURES_HELP, check_features_flag
from jaxgan.kinds.gan_spec import check_critic_phases
from jaxgan.models.layers import INITS, NORMALIZATIONS
from jaxgan.precision import COMPUTE_DTYPES


def option(default: Any, help: str, *, choices: Sequence[str] | None = None) -> Any:
  """A config field: one setting with its default and its help.

  Args:
    default: the default (the flag's, too).
    help: the flag's help text.
    choices: for strings, the allowed values (an enum flag).

  Returns:
    A dataclasses.field.
  """
  metadata = {"help": help, "choices": tuple(choices) if choices else None}
  return dataclasses.field(default=default, metadata=metadata)


def field_metadata(cls: type, name: str) -> dict[str, Any]:
  """The help and choices of field `name`, from the first class in cls's MRO that declares
  them (a subclass re-declares a field to change only its default)."""
  for klass in cls.__mro__:
    declared = getattr(klass, "__dataclass_fields__", {}).get(name)
    if declared is not None and declared.metadata.get("help"):
      return dict(declared.metadata)
  return {"help": name, "choices": None}


def field_types(cls: type) -> dict[str, type]:
  """{field name: its type without None}, e.g. int for `int | None`, tuple for tuple[int, ...]."""
  kinds = {}
  for name, hint in typing.get_type_hints(cls).items():
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
      hint = args[0]
    kinds[name] = typing.get_origin(hint) or hint
  return kinds


def element_type(cls: type, name: str) -> type:
  """The element type of a tuple field (int for tuple[int, ...])."""
  hint = typing.get_type_hints(cls)[name]
  return typing.get_args(hint)[0]


def as_dict(config) -> dict[str, Any]:
  """The config as JSON-able values (tuples become lists when dumped)."""
  return dataclasses.asdict(config)


def check_image_networks(config, network: str, check_image_size: Callable[[int], None]) -> None:
  """For an experiment whose networks are not the DCGAN's: --image_size checked by the
  networks' own rule, and a one-line error for a toy dataset. Call it before the base
  class's checks, which know only the DCGAN's sizes.

  Args:
    config: the experiment's config (image_size, dataset).
    network: the networks' name, for the message ("StyleGAN2").
    check_image_size: raises a ValueError for a size the networks cannot make.
  """
  try:
    check_image_size(config.image_size)
  except ValueError as e:
    raise ConfigError(f"--image_size={config.image_size}: {e}") from None
  if config.dataset in TOY_DATASETS:
    raise ConfigError(f"{network} makes images; {config.dataset} is a toy: pass --dataset=digits")


def at_least(config, minimum: int, *names: str) -> None:
  """A one-line ConfigError for the first of the named settings below minimum."""
  for name in names:
    value = getattr(config, name)
    if value < minimum:
      raise ConfigError(f"--{name} must be at least {minimum}, got {value}")


@dataclasses.dataclass(frozen=True)
class Config:
  """The base of every config: list-valued settings (comma-separated on the command line)
  become tuples of their element type, with a one-line error for an element that is not."""

  def __post_init__(self):
    kinds = field_types(type(self))
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if kinds.get(field.name) is tuple and isinstance(value, list | tuple):
        kind = element_type(type(self), field.name)
        try:
          converted = tuple(kind(v) for v in value)
        except ValueError:
          noun = {int: "integers", float: "numbers"}.get(kind, "values")
          raise ConfigError(f"--{field.name} must be comma-separated {noun}, got {value}") from None
        object.__setattr__(self, field.name, converted)


@dataclasses.dataclass(frozen=True)
class LoopConfig(Config):
  """The training loop: where, how long, how often it logs, checkpoints, evaluates, draws."""

  workdir: str | None = option(None, "Where the run writes; default runs/EXPERIMENT_DATASET.")
  num_steps: int = option(10_000, "Generator updates to train for.")
  batch_size: int = option(128, "Examples per update (real and fake each).")
  seed: int = option(0, "Seed of initialization, noise and data.")
  log_every: int = option(500, "Steps between log lines and metrics records.")
  checkpoint_every: int = option(5000, "Steps between checkpoints.")
  plot_every: int = option(5000, "Steps between sample plots.")
  eval_every: int = option(1000, "Steps between evaluations, logged to metrics.jsonl.")
  max_checkpoints: int = option(3, "Newest checkpoints kept.")
  num_eval_samples: int = option(2500, "Images per evaluation (at most the test set's).")
  dry_run: bool = option(
    False,
    "Build the run (data, devices, networks, evaluators), trace its initialization and step "
    "without compiling or training, print the state's size and exit: checks a flagfile in "
    "seconds before a long run. Nothing is written.",
  )

  steps_per_call: int = option(
    1,
    "Training steps per call of the compiled program (a lax.scan over their batches): one "
    "dispatch for k steps; the results are those of k = 1. Must divide --log_every, "
    "--checkpoint_every, --eval_every and --plot_every. 0: chosen from the step's measured "
    "time (calls of 50 ms or more).",
  )

  data_on_device: bool = option(
    False,
    "Hold the whole dataset in device memory, sharded over the devices, and gather each "
    "step's batch inside the compiled step (no input pipeline, no transfers). For the toy "
    "mixtures and image datasets up to 4 GiB; images are shuffled in another order than "
    "the host pipeline's (a key per epoch), so results differ from a run without it by "
    "seed noise.",
  )

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "num_steps", "batch_size", "log_every", "checkpoint_every", "plot_every")
    at_least(self, 1, "eval_every", "max_checkpoints", "num_eval_samples")
    at_least(self, 0, "steps_per_call")
    for name in ("log_every", "checkpoint_every", "eval_every", "plot_every"):
      if self.steps_per_call and getattr(self, name) % self.steps_per_call:
        raise ConfigError(
          f"--steps_per_call={self.steps_per_call} does not divide --{name}={getattr(self, name)}:"
          f" logs, checkpoints, evaluations and plots fall between calls; pick a divisor"
        )


DISTRIBUTED_MODES = ("auto", "on", "off")  # jaxgan.parallel.initialize_distributed
BATCHNORM_STATS = ("global", "per_device")


@dataclasses.dataclass(frozen=True)
class RunConfig(LoopConfig):
  """What every experiment sets: the loop, the data, Adam for both players, the devices."""

  dataset: str = option("grid25", "The training data (see the experiment's --helpshort).")
  data_dir: str | None = option(None, "Where TFDS datasets are prepared (default: TFDS's).")
  image_size: int = option(32, "Images are served at this size (square).")
  g_lr: float = option(1e-4, "Generator learning rate.")
  d_lr: float = option(1e-4, "Discriminator learning rate.")
  beta1: float = option(0.5, "Adam β1 of both players.")
  beta2: float = option(0.999, "Adam β2 of both players.")
  lr_schedule: str = option(
    "constant",
    "constant, linear decay to 0, or constant for --lr_decay_start of the steps then linear to 0.",
    choices=optim.SCHEDULES,
  )
  lr_decay_start: float = option(
    0.5,
    "With --lr_schedule=constant_then_linear: the fraction of the steps after which the rate "
    "decays linearly to 0 (CycleGAN's 0.5).",
  )
  compilation_cache: str = option(
    os.path.join("~", ".cache", "jaxgan", "xla"),
    "Keep compiled XLA programs here, so that rerunning a configuration starts at once "
    "(JAX's persistent cache, at most 4 GiB: the least recently used go first; empty: off). "
    "JAX_COMPILATION_CACHE_DIR, when set, wins.",
  )
  num_devices: int = option(0, "Devices to train on (data parallel); 0: all of them.")
  batchnorm_stats: str = option(
    "global",
    "BatchNorm statistics over the global batch (cross-replica), or per device.",
    choices=BATCHNORM_STATS,
  )
  distributed: str = option(
    "auto",
    "Join a multi-process run: auto (when --coordinator_address is given or SLURM, Open MPI "
    "or a Cloud TPU pod is detected), on, off.",
    choices=DISTRIBUTED_MODES,
  )
  coordinator_address: str | None = option(None, "HOST:PORT of process 0 (multi-process runs).")
  num_processes: int | None = option(None, "Processes in a multi-process run.")
  process_id: int | None = option(None, "This process's index, 0 to --num_processes − 1.")
  coordinator_timeout: int = option(300, "Seconds to wait for all processes to join.")

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "image_size", "coordinator_timeout")
    for name in ("g_lr", "d_lr"):
      if not getattr(self, name) > 0:
        raise ConfigError(f"--{name} must be positive, got {getattr(self, name)}")
    for name in ("beta1", "beta2", "lr_decay_start"):
      if not 0.0 <= getattr(self, name) < 1.0:
        raise ConfigError(f"--{name} must be in [0, 1), got {getattr(self, name)}")


MODELS = ("mlp", "dcgan", "resnet")


@dataclasses.dataclass(frozen=True)
class GANConfig(RunConfig):
  """A GAN experiment: the run's settings and G's and D's (jaxgan.builders makes them)."""

  dataset: str = option(
    "grid25",
    "A toy mixture (ring8, grid25, swissroll), digits (ships with scikit-learn), or a TFDS "
    "image dataset by name (mnist, fashion_mnist, cifar10, svhn_cropped, celeb_a, ...).",
  )
  n_critic: int = option(1, "Discriminator updates per generator update.")
  n_critic_from: str = option(
    "",
    "Later numbers of discriminator updates per generator update, STEP:N,... (e.g. 7000:2: "
    "--n_critic until step 7,000, then 2; a run that ends sooner never switches); D's "
    "learning-rate schedule counts steps.",
  )
  accumulate: int = option(
    1,
    "Gradient accumulation: every update's gradient from this many micro-batches of "
    "batch_size/accumulate in turn (the same update at a fraction of the memory).",
  )
  latent_dim: int = option(2, "Dimension of the noise z ~ N(0, I).")
  model: str = option("mlp", "Architecture of G and D.", choices=MODELS)
  width: int = option(64, "Convolutional models: channels of the widest-res layer.")
  g_hidden: tuple[int, ...] = option((512, 512, 512), "Generator MLP hidden widths.")
  d_hidden: tuple[int, ...] = option((256, 256, 256), "Discriminator MLP hidden widths.")
  weight_init: str = option("pytorch", "Initialization of the MLPs.", choices=INITS)
  g_normalization: str = option("none", "Normalization in G.", choices=NORMALIZATIONS)
  d_normalization: str = option("none", "Normalization in D.", choices=NORMALIZATIONS)
  spectral_norm: bool = option(False, "Spectral normalization of D's layers.")
  scale_to_data: bool = option(
    True, "Toys: scale G's output and D's input by the data's size (grid25: 4)."
  )
  ema_decay: float = option(0.999, "Decay of the EMA of G's weights; 0 disables it.")
  ema_start: int = option(0, "G updates before the EMA starts averaging (a copy of G until then).")
  standing_stats: int = option(
    0,
    "Standing statistics (BigGAN): before G samples, recompute its BatchNorm statistics "
    "over this many batches of noise (the authors: 16); 0: the running averages.",
  )
  fid_features: str = option("auto", FEATURES_HELP)
  augment: str = option(
    "",
    "Augmentation of every input of D, in both players' updates: DiffAugment (Zhao et al. "
    "2020) as comma-separated policies from color, translation, cutout (the paper's: all "
    "three); or ada, adaptive augmentation (Karras et al. 2020a, jaxgan.ada); empty: none.",
  )
  ada_target: float = option(0.6, "ADA: the target of r_t = E[sign(D(real))].")
  ada_interval: int = option(4, "ADA: steps between adjustments of p.")
  ada_kimg: float = option(
    100.0, "ADA: thousands of images for p to go from 0 to 1 (the authors: 500, for long runs)."
  )
  compute_dtype: str = option(
    "float32",
    "The dtype G and D compute in: float32, or bfloat16 (jaxgan.precision: parameters, "
    "optimizer state, losses, penalties and normalization statistics stay float32; matrix "
    "products, convolutions and activations run in bfloat16, several times faster on TPUs "
    "and recent GPUs, slower on most CPUs).",
    choices=tuple(COMPUTE_DTYPES),
  )
  population: int = option(
    1,
    "Train this many GANs side by side in one compiled program (jax.vmap; jaxgan.population): "
    "seeds --seed, --seed + 1, ... unless --population_grid sets them. Each member is also a "
    "run of its own in WORKDIR/memberI.",
  )
  population_grid: str = option(
    "",
    "The members' flags as a grid, KEY:V1,V2;KEY2:V1,V2 (its product, --population points): "
    "numbers (learning rates, penalty weights, EMA decays) and seed; e.g. "
    "g_lr:1e-4,2e-4;gp_weight:0.1,1.",
  )

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "n_critic", "latent_dim", "width", "accumulate")
    at_least(self, 0, "ema_start", "standing_stats")
    at_least(self, 1, "population")
    _ = self.critic_phases  # a one-line error for a malformed --n_critic_from
    if self.batch_size % self.accumulate:
      raise ConfigError(
        f"--accumulate={self.accumulate} does not divide --batch_size={self.batch_size}: "
        "choose a batch size that is a multiple of it"
      )
    if not 0.0 <= self.ema_decay < 1.0:
      raise ConfigError(f"--ema_decay must be in [0, 1), got {self.ema_decay}")
    for name in ("g_hidden", "d_hidden"):
      widths = getattr(self, name)
      if not widths or min(widths) < 1:
        raise ConfigError(f"--{name} needs at least one positive width, got {list(widths)}")
    check_features_flag(self.fid_features)
    parse_policy(self.augment)
    at_least(self, 1, "ada_interval")
    if self.ada_kimg <= 0:
      raise ConfigError(f"--ada_kimg must be positive, got {self.ada_kimg}")

  @property
  def ema(self) -> float | None:
    """The EMA decay of G's weights, or None for no EMA (--ema_decay=0)."""
    if isinstance(self.ema_decay, float | int) and not self.ema_decay:
      return None
    return self.ema_decay  # a number, or a traced one (a population's grid, jaxgan.population)

  @property
  def critic_phases(self) -> tuple[tuple[int, int], ...]:
    """--n_critic_from as (first step, n_critic) pairs (jaxgan.kinds.gan_spec.GANSpec)."""
    phases = []
    for part in filter(None, (p.strip() for p in self.n_critic_from.split(","))):
      try:
        start, count = (int(v) for v in part.split(":"))
      except ValueError:
        raise ConfigError(
          f"--n_critic_from: {part!r} is not STEP:N (e.g. --n_critic_from=7000:2)"
        ) from None
      phases.append((start, count))
    check_critic_phases(phases, "--n_critic_from")
    return tuple(phases)


@dataclasses.dataclass(frozen=True)
class ImageGANConfig(GANConfig):
  """The defaults every image GAN experiment shares: DCGAN networks on the shipped digits at
  16×16, Adam 2e-4 with β1 = 0.5 (Radford et al. 2016), a grid every 500 steps."""

  dataset: str = "digits"
  image_size: int = 16
  num_steps: int = 2000
  batch_size: int = 64
  g_lr: float = 2e-4
  d_lr: float = 2e-4
  latent_dim: int = 64
  model: str = "dcgan"
  width: int = 32
  g_normalization: str = "batch"
  d_normalization: str = "batch"
  log_every: int = 100
  checkpoint_every: int = 1000
  plot_every: int = 500
  eval_every: int = 500


TRANSLATION_NORMALIZATIONS = ("batch", "instance", "none")


@dataclasses.dataclass(frozen=True)
class TranslationConfig(RunConfig):
  """An image-to-image experiment (pix2pix, CycleGAN): Adam 2e-4 with β1 = 0.5 (both papers),
  jitter, and the widths of G and of the PatchGAN."""

  dataset: str = option(
    "digits_edges",
    "digits_edges (paired, offline), digits_edges_unpaired (offline), edges:NAME (edge "
    "drawings of a TFDS image dataset → its images, paired), cycle_gan/NAME (TFDS, e.g. "
    "cycle_gan/horse2zebra), or folder with --data_dir=PATH (pix2pix's PATH/train/ of A|B "
    "images, or CycleGAN's PATH/trainA/ and PATH/trainB/).",
  )
  image_size: int = 16
  num_steps: int = 3000
  batch_size: int = 32
  g_lr: float = 2e-4
  d_lr: float = 2e-4
  log_every: int = 100
  checkpoint_every: int = 1000
  plot_every: int = 500
  eval_every: int = 500
  load_size: int = option(
    0,
    "Training images are loaded at this size and randomly cropped to --image_size (the "
    "papers' jitter: 286 for 256); 0: --image_size, no crop.",
  )
  flip: bool = option(False, "Random left-right mirroring (both sides of a pair together).")
  g_width: int = option(32, "Channels of the generator's first layer.")
  d_width: int = option(32, "Channels of the PatchGAN's first layer.")
  d_layers: int = option(1, "PatchGAN stride-2 layers: 3 sees 70×70 patches, 2: 34, 1: 16.")
  normalization: str = option(
    "batch", "Normalization in G and D.", choices=TRANSLATION_NORMALIZATIONS
  )

  def __post_init__(self):
    super().__post_init__()
    at_least(self, 1, "g_width", "d_width", "d_layers")
    if self.load_size and self.load_size < self.image_size:
      raise ConfigError(
        f"--load_size={self.load_size} is smaller than --image_size={self.image_size}: images "
        "are loaded at --load_size and cropped to --image_size"
      )
