"""The flags every experiment shares, and running an experiment's main.

An experiment script defines its own flags beside these, builds a GANSpec
from them and hands it to `train_from_flags`:

    cli.define_training_flags(dataset="grid25", num_steps=15_000, n_critic=5, ...)
    flags.DEFINE_float("gp_weight", 0.1, "...")

    def main(argv):
      cli.train_from_flags("wgan_gp", make_spec)

    if __name__ == "__main__":
      cli.run(main)

`run` turns bad input into one line on stderr and exit status 2: unknown or
malformed flags, a missing flagfile, a ConfigError raised anywhere below. A
diverged run (NonFiniteError) exits with status 3, also with one line; a run stopped
by SIGTERM or Ctrl-C writes a checkpoint and exits with 128 + the signal number.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
from collections.abc import Callable

import jax
import optax
from absl import app, flags

from jaxgan import data, models, optim, parallel, train
from jaxgan.errors import ConfigError, NonFiniteError
from jaxgan.features import FEATURES_HELP, check_features_flag
from jaxgan.preemption import Preempted

FLAGS = flags.FLAGS

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3


def define_loop_flags(
  *,
  dataset: str,
  dataset_help: str,
  num_steps: int,
  batch_size: int,
  image_size: int,
  g_lr: float,
  d_lr: float,
  beta1: float,
  beta2: float = 0.999,
  lr_schedule: str = "constant",
  log_every: int = 500,
  checkpoint_every: int = 5000,
  plot_every: int = 5000,
  eval_every: int = 1000,
  num_eval_samples: int = 2500,
) -> None:
  """The flags of every trainer (GANs and translation): data, steps, Adam, intervals, devices."""
  flags.DEFINE_string("workdir", None, "Where the run writes; default runs/EXPERIMENT_DATASET.")
  flags.DEFINE_string("dataset", dataset, dataset_help)
  flags.DEFINE_string("data_dir", None, "Where TFDS datasets are prepared (default: TFDS's).")
  flags.DEFINE_integer("image_size", image_size, "Images are served at this size (square).")
  flags.DEFINE_integer("num_steps", num_steps, "Generator updates to train for.")
  flags.DEFINE_integer("batch_size", batch_size, "Examples per update (real and fake each).")
  flags.DEFINE_integer("seed", 0, "Seed of initialization, noise and data.")
  flags.DEFINE_float("g_lr", g_lr, "Generator learning rate.")
  flags.DEFINE_float("d_lr", d_lr, "Discriminator learning rate.")
  flags.DEFINE_float("beta1", beta1, "Adam β1 of both players.")
  flags.DEFINE_float("beta2", beta2, "Adam β2 of both players.")
  flags.DEFINE_enum(
    "lr_schedule",
    lr_schedule,
    list(optim.SCHEDULES),
    "constant, linear decay to 0, or constant for half the steps then linear to 0.",
  )
  flags.DEFINE_integer("log_every", log_every, "Steps between log lines and metrics records.")
  flags.DEFINE_integer("checkpoint_every", checkpoint_every, "Steps between checkpoints.")
  flags.DEFINE_integer("plot_every", plot_every, "Steps between sample plots.")
  flags.DEFINE_integer(
    "eval_every", eval_every, "Steps between evaluations, logged to metrics.jsonl."
  )
  flags.DEFINE_integer("max_checkpoints", 3, "Newest checkpoints kept.")
  flags.DEFINE_integer(
    "num_eval_samples", num_eval_samples, "Images per evaluation (at most the test set's)."
  )
  flags.DEFINE_string(
    "compilation_cache",
    os.path.join("~", ".cache", "jaxgan", "xla"),
    "Keep compiled XLA programs here, so that rerunning a configuration starts at once "
    "(JAX's persistent cache, at most 4 GiB: the least recently used go first; empty: off). "
    "JAX_COMPILATION_CACHE_DIR, when set, wins.",
  )
  define_parallel_flags()


def define_training_flags(
  *,
  dataset: str = "grid25",
  num_steps: int = 10_000,
  batch_size: int = 128,
  n_critic: int = 1,
  g_lr: float = 1e-4,
  d_lr: float = 1e-4,
  beta1: float = 0.5,
  beta2: float = 0.999,
  latent_dim: int = 2,
  model: str = "mlp",
  image_size: int = 32,
  width: int = 64,
  g_hidden: tuple[int, ...] = (512, 512, 512),
  d_hidden: tuple[int, ...] = (256, 256, 256),
  g_normalization: str = "none",
  d_normalization: str = "none",
  spectral_norm: bool = False,
  ema_decay: float = 0.999,
  log_every: int = 500,
  checkpoint_every: int = 5000,
  plot_every: int = 5000,
  eval_every: int = 1000,
) -> None:
  """Defines the flags shared by the GAN experiments, with this experiment's defaults."""
  define_loop_flags(
    dataset=dataset,
    dataset_help=f"A toy mixture ({', '.join(data.TOY_DATASETS)}), digits (ships with "
    "scikit-learn), or a TFDS image dataset by name (mnist, fashion_mnist, cifar10, "
    "svhn_cropped, celeb_a, ...).",
    num_steps=num_steps,
    batch_size=batch_size,
    image_size=image_size,
    g_lr=g_lr,
    d_lr=d_lr,
    beta1=beta1,
    beta2=beta2,
    log_every=log_every,
    checkpoint_every=checkpoint_every,
    plot_every=plot_every,
    eval_every=eval_every,
  )
  flags.DEFINE_integer("n_critic", n_critic, "Discriminator updates per generator update.")
  flags.DEFINE_integer("latent_dim", latent_dim, "Dimension of the noise z ~ N(0, I).")
  flags.DEFINE_enum("model", model, list(MODELS), "Architecture of G and D.")
  flags.DEFINE_integer("width", width, "Convolutional models: channels of the widest-res layer.")
  flags.DEFINE_list("g_hidden", [str(h) for h in g_hidden], "Generator MLP hidden widths.")
  flags.DEFINE_list("d_hidden", [str(h) for h in d_hidden], "Discriminator MLP hidden widths.")
  flags.DEFINE_enum("weight_init", "pytorch", list(models.INITS), "Initialization of the MLPs.")
  flags.DEFINE_enum(
    "g_normalization", g_normalization, list(models.NORMALIZATIONS), "Normalization in G."
  )
  flags.DEFINE_enum(
    "d_normalization", d_normalization, list(models.NORMALIZATIONS), "Normalization in D."
  )
  flags.DEFINE_bool("spectral_norm", spectral_norm, "Spectral normalization of D's layers.")
  flags.DEFINE_bool(
    "scale_to_data", True, "Toys: scale G's output and D's input by the data's size (grid25: 4)."
  )
  flags.DEFINE_float("ema_decay", ema_decay, "Decay of the EMA of G's weights; 0 disables it.")
  flags.DEFINE_string("fid_features", "auto", FEATURES_HELP)


MODELS = ("mlp", "dcgan", "resnet")


def define_parallel_flags() -> None:
  """Devices, BatchNorm statistics under data parallelism, and multi-process runs."""
  flags.DEFINE_integer("num_devices", 0, "Devices to train on (data parallel); 0: all of them.")
  flags.DEFINE_enum(
    "batchnorm_stats",
    "global",
    list(BATCHNORM_STATS),
    "BatchNorm statistics over the global batch (cross-replica), or per device.",
  )
  flags.DEFINE_enum(
    "distributed",
    "auto",
    list(parallel.DISTRIBUTED_MODES),
    "Join a multi-process run: auto (when --coordinator_address is given or SLURM, Open MPI "
    "or a Cloud TPU pod is detected), on, off.",
  )
  flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0 (multi-process runs).")
  flags.DEFINE_integer("num_processes", None, "Processes in a multi-process run.")
  flags.DEFINE_integer("process_id", None, "This process's index, 0 to --num_processes − 1.")
  flags.DEFINE_integer(
    "coordinator_timeout", 300, "Seconds to wait for all processes to join.", lower_bound=1
  )


BATCHNORM_STATS = ("global", "per_device")


def _positive(name: str) -> int:
  value = getattr(FLAGS, name)
  if value < 1:
    raise ConfigError(f"--{name} must be at least 1, got {value}")
  return value


def _widths(name: str) -> tuple[int, ...]:
  try:
    widths = tuple(int(w) for w in getattr(FLAGS, name))
  except ValueError:
    raise ConfigError(
      f"--{name} must be comma-separated integers, got {getattr(FLAGS, name)}"
    ) from None
  if not widths or min(widths) < 1:
    raise ConfigError(f"--{name} needs at least one positive width, got {getattr(FLAGS, name)}")
  return widths


def validate_loop_flags() -> None:
  """One-line errors for values of define_loop_flags's flags that cannot work."""
  for name in ("num_steps", "batch_size", "log_every", "checkpoint_every", "plot_every"):
    _positive(name)
  for name in ("eval_every", "max_checkpoints", "image_size", "num_eval_samples"):
    _positive(name)
  for name in ("g_lr", "d_lr"):
    if not getattr(FLAGS, name) > 0:
      raise ConfigError(f"--{name} must be positive, got {getattr(FLAGS, name)}")
  for name in ("beta1", "beta2"):
    if not 0.0 <= getattr(FLAGS, name) < 1.0:
      raise ConfigError(f"--{name} must be in [0, 1), got {getattr(FLAGS, name)}")


def validate_common_flags() -> None:
  """One-line errors for shared flag values that cannot work, before any compilation."""
  validate_loop_flags()
  for name in ("n_critic", "latent_dim", "width"):
    _positive(name)
  if not 0.0 <= FLAGS.ema_decay < 1.0:
    raise ConfigError(f"--ema_decay must be in [0, 1), got {FLAGS.ema_decay}")
  _widths("g_hidden")
  _widths("d_hidden")
  check_features_flag(FLAGS.fid_features)


def load_dataset():
  """The dataset of --dataset (a toy mixture or images at --image_size), checked against --model."""
  dataset = data.get_dataset(FLAGS.dataset, image_size=FLAGS.image_size, data_dir=FLAGS.data_dir)
  if isinstance(dataset, data.ToyDataset) and FLAGS.model != "mlp":
    raise ConfigError(f"--model={FLAGS.model} is for images; the toy {dataset.name} needs mlp")
  if FLAGS.model == "dcgan":
    try:
      models.dcgan.num_upsamplings(FLAGS.image_size)
    except ValueError as e:
      raise ConfigError(f"--image_size={FLAGS.image_size} for --model=dcgan: {e}") from None
  if FLAGS.model == "resnet" and FLAGS.image_size != 32:
    raise ConfigError(
      f"--model=resnet is the CIFAR ResNet, for 32×32 images: pass --image_size=32, not "
      f"{FLAGS.image_size}, or use --model=dcgan"
    )
  return dataset


def _is_toy(dataset) -> bool:
  return isinstance(dataset, data.ToyDataset)


def generator(dataset, *, num_classes: int = 0, conditioning: str = "concat"):
  """G of the flags for the dataset: 2-D points for toys, images in [−1, 1] else.

  num_classes > 0: class-conditional ("concat": one-hot label beside z;
  "projection": class-conditional BatchNorm; MLPs always concatenate).
  """
  if _is_toy(dataset):
    scale = dataset.scale if FLAGS.scale_to_data else 1.0
    return models.MLPGenerator(
      hidden_dims=_widths("g_hidden"),
      output_shape=(2,),
      normalization=FLAGS.g_normalization,
      weight_init=FLAGS.weight_init,
      output_scale=scale,
      batchnorm_groups=batchnorm_groups(),
      num_classes=num_classes,
    )
  shape = (dataset.image_size, dataset.image_size, dataset.channels)
  if FLAGS.model == "mlp":
    return models.MLPGenerator(
      hidden_dims=_widths("g_hidden"),
      output_shape=shape,
      normalization=FLAGS.g_normalization,
      output_activation="tanh",
      weight_init=FLAGS.weight_init,
      batchnorm_groups=batchnorm_groups(),
      num_classes=num_classes,
    )
  if FLAGS.model == "resnet":  # class-conditional BatchNorm when conditional
    return models.ResNetGenerator(
      image_size=dataset.image_size,
      channels=dataset.channels,
      width=FLAGS.width,
      num_classes=num_classes,
      batchnorm_groups=batchnorm_groups(),
    )
  return models.DCGANGenerator(
    image_size=dataset.image_size,
    channels=dataset.channels,
    width=FLAGS.width,
    normalization=FLAGS.g_normalization,
    num_classes=num_classes,
    conditioning=conditioning,
    batchnorm_groups=batchnorm_groups(),
  )


def discriminator(dataset, *, num_classes: int = 0, conditioning: str = "concat", **heads):
  """D of the flags for the dataset. heads: DCGANDiscriminator's extra outputs
  (aux_classes, info_categorical, info_continuous, return_features,
  minibatch_discrimination, minibatch_stddev); MLPs take num_classes and return_features."""
  if _is_toy(dataset) or FLAGS.model == "mlp":
    scale = dataset.scale if _is_toy(dataset) and FLAGS.scale_to_data else 1.0
    heads = _features_only(heads, "mlp")
    return models.MLPDiscriminator(
      hidden_dims=_widths("d_hidden"),
      normalization=FLAGS.d_normalization,
      weight_init=FLAGS.weight_init,
      input_scale=scale,
      batchnorm_groups=batchnorm_groups(),
      num_classes=num_classes,
      **heads,
    )
  if FLAGS.model == "resnet":  # the projection discriminator when conditional
    heads = _features_only(heads, "resnet")
    return models.ResNetDiscriminator(
      image_size=dataset.image_size,
      width=FLAGS.width,
      spectral_norm=FLAGS.spectral_norm,
      num_classes=num_classes,
      **heads,
    )
  return models.DCGANDiscriminator(
    image_size=dataset.image_size,
    width=FLAGS.width,
    normalization=FLAGS.d_normalization,
    spectral_norm=FLAGS.spectral_norm,
    num_classes=num_classes,
    conditioning=conditioning,
    batchnorm_groups=batchnorm_groups(),
    **heads,
  )


def _features_only(heads: dict, model: str) -> dict:
  """The heads an MLP or ResNet D has (features only), or a one-line error naming the others."""
  unsupported = sorted(k for k, v in heads.items() if v and k != "return_features")
  if unsupported:
    raise ConfigError(f"--model={model} has no {', '.join(unsupported)}: use --model=dcgan")
  return {k: v for k, v in heads.items() if k == "return_features"}


def require_labels(dataset, experiment: str) -> int:
  """The dataset's class count, or a one-line error for a conditional experiment without labels."""
  classes = 0 if _is_toy(dataset) else dataset.num_classes
  if classes < 2:
    raise ConfigError(
      f"{experiment} needs a labeled dataset, and {dataset.name} has no classes: use digits, "
      "mnist, cifar10, ..."
    )
  return classes


def adam(player: str, eps_root: float = 0.0) -> optax.GradientTransformation:
  """Adam(--g_lr or --d_lr under --lr_schedule, --beta1, --beta2) for player "generator" or
  "discriminator". eps_root > 0 puts ε inside the square root, which makes the update
  differentiable where a gradient component is 0 (needed to differentiate through it)."""
  return optax.adam(learning_rate(player), FLAGS.beta1, FLAGS.beta2, eps_root=eps_root)


def batchnorm_groups() -> int:
  """1 for statistics over the global batch; the device count for per-device statistics."""
  if FLAGS.batchnorm_stats == "global":
    return 1
  return FLAGS.num_devices or len(jax.devices())


def ema_decay_flag() -> float | None:
  """--ema_decay, or None when it is 0 (no EMA)."""
  return FLAGS.ema_decay or None


def gan_spec(dataset, loss: train.LossPair, **fields) -> train.GANSpec:
  """The GANSpec of the shared flags, with `fields` given or overriding.

  Unless `fields` names them: G and D of --model for the dataset, Adam of
  --g_lr/--d_lr/--beta1/--beta2 for both players, --latent_dim, --n_critic
  and --ema_decay. An experiment passes what makes it that GAN: its loss, its
  regularizers, its models or optimizers when they differ.
  """
  shared = {
    "latent_dim": FLAGS.latent_dim,
    "n_critic": FLAGS.n_critic,
    "ema_decay": ema_decay_flag(),
  }
  if "generator" not in fields:
    shared["generator"] = generator(dataset)
  if "discriminator" not in fields:
    shared["discriminator"] = discriminator(dataset)
  if "generator_optimizer" not in fields:
    shared["generator_optimizer"] = adam("generator")
  if "discriminator_optimizer" not in fields:
    shared["discriminator_optimizer"] = adam("discriminator")
  return train.GANSpec(loss=loss, **shared, **fields)


# The defaults every image experiment shares: DCGAN networks on the shipped
# digits at 16×16, Adam 2e-4 with β1 = 0.5 (Radford et al. 2016), and the
# intervals that draw a grid every 500 steps. Scripts override what differs.
IMAGE_DEFAULTS = dict(
  dataset="digits",
  image_size=16,
  num_steps=2000,
  batch_size=64,
  g_lr=2e-4,
  d_lr=2e-4,
  beta1=0.5,
  latent_dim=64,
  model="dcgan",
  width=32,
  g_normalization="batch",
  d_normalization="batch",
  log_every=100,
  checkpoint_every=1000,
  plot_every=500,
  eval_every=500,
)


def learning_rate(player: str):
  """--g_lr or --d_lr ("generator" / "discriminator") under --lr_schedule.

  The critic's schedule counts its own updates: num_steps · n_critic of them.
  """
  if player == "generator":
    return optim.learning_rate_schedule(FLAGS.g_lr, FLAGS.lr_schedule, FLAGS.num_steps)
  updates = FLAGS.num_steps * getattr(FLAGS, "n_critic", 1)  # translation: one update each
  return optim.learning_rate_schedule(FLAGS.d_lr, FLAGS.lr_schedule, updates)


def train_from_flags(experiment: str, make_spec: Callable[[object], object]) -> dict:
  """Validates the shared flags, loads the dataset, builds the spec with make_spec(dataset)
  and runs the training loop on it. Returns the final results (see jaxgan.loop.train_loop).
  """
  from jaxgan import loop  # deferred: importing JAX's compiled pieces is slow

  validate_common_flags()
  use_compilation_cache(FLAGS.compilation_cache)
  dataset = load_dataset()
  mesh = start_devices()
  spec = make_spec(dataset)
  config = loop_config(experiment, fid_features=FLAGS.fid_features)
  return loop.train_loop(spec, dataset, config, mesh=mesh, run_config=run_config(experiment))


def start_devices():
  """Joins a multi-process run when the flags ask for one; the mesh of --num_devices, with the
  batch size checked against it."""
  parallel.initialize_distributed(
    FLAGS.distributed,
    FLAGS.coordinator_address,
    FLAGS.num_processes,
    FLAGS.process_id,
    FLAGS.coordinator_timeout,
  )
  mesh = parallel.make_mesh(FLAGS.num_devices)
  parallel.check_batch_size(FLAGS.batch_size, mesh)
  return mesh


def loop_config(experiment: str, **fields):
  """The LoopConfig of define_loop_flags's flags; workdir default runs/EXPERIMENT_DATASET."""
  from jaxgan import loop

  dataset_name = FLAGS.dataset.replace("/", "_")
  return loop.LoopConfig(
    workdir=FLAGS.workdir or f"runs/{experiment}_{dataset_name}",
    num_steps=FLAGS.num_steps,
    batch_size=FLAGS.batch_size,
    seed=FLAGS.seed,
    log_every=FLAGS.log_every,
    checkpoint_every=FLAGS.checkpoint_every,
    plot_every=FLAGS.plot_every,
    eval_every=FLAGS.eval_every,
    max_checkpoints=FLAGS.max_checkpoints,
    num_eval_samples=FLAGS.num_eval_samples,
    **fields,
  )


def run_config(experiment: str) -> dict:
  return {"experiment": experiment, "flags": FLAGS.flag_values_dict()}


COMPILATION_CACHE_MAX_BYTES = 4 * 2**30


def use_compilation_cache(directory: str) -> None:
  """JAX's persistent compilation cache in directory (programs that took ≥ 1 s to compile),
  kept under COMPILATION_CACHE_MAX_BYTES by evicting the least recently used programs (JAX
  does that with a file lock from the filelock package; without it the cache is unbounded)."""
  if os.environ.get("JAX_COMPILATION_CACHE_DIR") or not directory:
    return
  path = os.path.expanduser(directory)
  try:
    os.makedirs(path, exist_ok=True)
  except OSError:
    return  # a read-only home: run without the cache
  jax.config.update("jax_compilation_cache_dir", path)
  if importlib.util.find_spec("filelock") is not None:
    _date_unused_entries(path)
    jax.config.update("jax_compilation_cache_max_size", COMPILATION_CACHE_MAX_BYTES)


def _date_unused_entries(path: str) -> None:
  """Gives every "KEY-cache" entry without a "KEY-atime" file one (its modification time).

  JAX's evicting cache reads an access time for every entry it holds; entries written
  without eviction (an earlier jaxgan, JAX_COMPILATION_CACHE_DIR runs) or by a process
  killed between the two writes have none, and then every later write fails.
  """
  try:
    names = set(os.listdir(path))
    for name in names:
      key = name.removesuffix("-cache")
      if key != name and f"{key}-atime" not in names:
        modified = os.stat(os.path.join(path, name)).st_mtime_ns
        with open(os.path.join(path, f"{key}-atime"), "wb") as f:
          f.write(modified.to_bytes(8, "little"))
  except OSError:
    pass  # an unreadable entry: JAX warns when it meets it; the run goes on


def _parse_flags_or_exit(argv: list[str]) -> list[str]:
  try:
    return FLAGS(argv)
  except flags.Error as e:
    print(f"error: {e} (see --helpshort)", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def _quiet_library_logs() -> None:
  # JAX logs at INFO that it looked for a TPU; a CPU or GPU user need not read that.
  logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
  logging.getLogger("jax._src.distributed").setLevel(logging.WARNING)
  logging.getLogger("absl").setLevel(logging.WARNING)


def _exit_now(code: int) -> None:
  """Exits with `code` once stdout and stderr are flushed, skipping the interpreter's teardown:
  after bad input there is nothing to save, and library threads torn down mid-way (orbax's
  event loops after a damaged checkpoint) would print tracebacks under the one-line error."""
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)


def run(main: Callable[[list[str]], None]) -> None:
  """absl's app.run, with bad input reported as one line and exit status 2."""

  def guarded_main(argv):
    _quiet_library_logs()
    try:
      main(argv)
    except ConfigError as e:
      print(f"error: {e}", file=sys.stderr)
      _exit_now(EXIT_BAD_INPUT)
    except NonFiniteError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(EXIT_DIVERGED)
    except Preempted as e:
      print(str(e), file=sys.stderr)
      sys.exit(e.exit_code)

  app.run(guarded_main, flags_parser=_parse_flags_or_exit)


# ---------------------------------------------------------------------------
# Image-to-image translation (experiments/pix2pix.py, experiments/cyclegan.py).
# ---------------------------------------------------------------------------

TRANSLATION_NORMALIZATIONS = ("batch", "instance", "none")


def define_translation_flags(
  *,
  dataset: str,
  num_steps: int,
  batch_size: int,
  image_size: int,
  g_width: int,
  d_width: int,
  d_layers: int,
  normalization: str,
  lr_schedule: str = "constant",
  log_every: int = 100,
  checkpoint_every: int = 1000,
  plot_every: int = 500,
  eval_every: int = 500,
) -> None:
  """The flags of the translation experiments: the loop's, Adam 2e-4 with β1 = 0.5 (both
  papers), jitter, and the widths of G and of the PatchGAN."""
  define_loop_flags(
    dataset=dataset,
    dataset_help="digits_edges (paired, offline), digits_edges_unpaired (offline), "
    "edges:NAME (edge drawings of a TFDS image dataset → its images, paired), "
    "cycle_gan/NAME (TFDS, e.g. cycle_gan/horse2zebra), or folder with --data_dir=PATH "
    "(pix2pix's PATH/train/ of A|B images, or CycleGAN's PATH/trainA/ and PATH/trainB/).",
    num_steps=num_steps,
    batch_size=batch_size,
    image_size=image_size,
    g_lr=2e-4,
    d_lr=2e-4,
    beta1=0.5,
    lr_schedule=lr_schedule,
    log_every=log_every,
    checkpoint_every=checkpoint_every,
    plot_every=plot_every,
    eval_every=eval_every,
  )
  flags.DEFINE_integer(
    "load_size",
    0,
    "Training images are loaded at this size and randomly cropped to --image_size (the "
    "papers' jitter: 286 for 256); 0: --image_size, no crop.",
  )
  flags.DEFINE_bool("flip", False, "Random left-right mirroring (both sides of a pair together).")
  flags.DEFINE_integer("g_width", g_width, "Channels of the generator's first layer.")
  flags.DEFINE_integer("d_width", d_width, "Channels of the PatchGAN's first layer.")
  flags.DEFINE_integer(
    "d_layers", d_layers, "PatchGAN stride-2 layers: 3 sees 70×70 patches, 2: 34, 1: 16."
  )
  flags.DEFINE_enum(
    "normalization", normalization, list(TRANSLATION_NORMALIZATIONS), "Normalization in G and D."
  )


def translation_from_flags(
  experiment: str, make_spec: Callable[[object], object], *, paired: bool, swap: bool = False
) -> dict:
  """Validates the flags, loads the train and test splits (A and B swapped with swap), builds
  the spec with make_spec(dataset) and trains it (jaxgan.loop.train_translation_loop).
  paired: the experiment needs paired data (pix2pix)."""
  from jaxgan import loop
  from jaxgan.data import pairs

  validate_loop_flags()
  for name in ("g_width", "d_width"):
    _positive(name)
  _positive("d_layers")
  load_size = FLAGS.load_size or FLAGS.image_size
  if load_size < FLAGS.image_size:
    raise ConfigError(
      f"--load_size={load_size} is smaller than --image_size={FLAGS.image_size}: images are "
      "loaded at --load_size and cropped to --image_size"
    )
  use_compilation_cache(FLAGS.compilation_cache)
  load = functools.partial(
    pairs.load_translation_dataset, FLAGS.dataset, load_size, data_dir=FLAGS.data_dir
  )
  dataset = load(split="train")
  if FLAGS.dataset == "folder" and not pairs.has_test_split(FLAGS.data_dir):
    loop.log("note: no test/, val/ or testA/ and testB/ folders: evaluating on training images")
    test = dataset
  else:
    test = load(split="test")
  if swap:
    dataset, test = dataset.swapped(), test.swapped()
  if paired and not dataset.paired:
    raise ConfigError(
      f"{experiment} learns from pairs and {dataset.name} is unpaired: use a paired dataset "
      "(digits_edges, a pix2pix folder), or experiments/cyclegan.py"
    )
  mesh = start_devices()
  spec = make_spec(dataset)
  return loop.train_translation_loop(
    spec,
    dataset,
    test,
    loop_config(experiment),
    crop_size=FLAGS.image_size,
    flip=FLAGS.flip,
    mesh=mesh,
    run_config=run_config(experiment),
  )
