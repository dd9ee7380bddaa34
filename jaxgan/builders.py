"""What a GAN experiment builds from its config (data, G and D, Adam, the GANSpec), and its main.

    config = ImageGANConfig()
    dataset = builders.load_dataset(config)
    spec = builders.gan_spec(config, dataset, loss_pairs.loss_pair("hinge"),
                             generator=builders.generator(config, dataset, num_classes=10))

Every function takes the config (jaxgan.config.GANConfig) as an argument: the
same calls serve the command line (jaxgan.cli builds the config from flags),
a notebook and a test.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import optax

from jaxgan import ada, augment, data, loop, models, optim, population, runtime
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan
from jaxgan.kinds.gan_spec import GANSpec, step_of_critic_update
from jaxgan.loss_pairs import LossPair


def load_dataset(config):
  """The dataset of config.dataset (a toy mixture, or images at config.image_size), checked
  against config.model."""
  dataset = data.get_dataset(config.dataset, image_size=config.image_size, data_dir=config.data_dir)
  if isinstance(dataset, data.ToyDataset) and config.model != "mlp":
    raise ConfigError(f"--model={config.model} is for images; the toy {dataset.name} needs mlp")
  if config.model == "dcgan":
    try:
      models.dcgan.num_upsamplings(config.image_size)
    except ValueError as e:
      raise ConfigError(f"--image_size={config.image_size} for --model=dcgan: {e}") from None
  if config.model == "resnet" and config.image_size != 32:
    raise ConfigError(
      f"--model=resnet is the CIFAR ResNet, for 32×32 images: pass --image_size=32, not "
      f"{config.image_size}, or use --model=dcgan"
    )
  return dataset


def batchnorm_groups(config) -> int:
  """1 for BatchNorm statistics over the global batch; the device count for per-device ones."""
  if config.batchnorm_stats == "global":
    return 1
  return config.num_devices or len(jax.devices())


def _is_toy(dataset) -> bool:
  return isinstance(dataset, data.ToyDataset)


def generator(config, dataset, *, num_classes: int = 0, conditioning: str = "concat"):
  """G of config.model for the dataset: 2-D points for toys, images in [−1, 1] else.

  Args:
    config: a GANConfig.
    dataset: the training data (its shape is G's output shape).
    num_classes: > 0 for a class-conditional G ("concat": one-hot label beside z;
      "projection": class-conditional BatchNorm; MLPs always concatenate).
    conditioning: "concat" or "projection".

  Returns:
    The Flax module.
  """
  groups = batchnorm_groups(config)
  if _is_toy(dataset):
    return models.MLPGenerator(
      hidden_dims=config.g_hidden,
      output_shape=(2,),
      normalization=config.g_normalization,
      weight_init=config.weight_init,
      output_scale=dataset.scale if config.scale_to_data else 1.0,
      batchnorm_groups=groups,
      num_classes=num_classes,
    )
  if config.model == "mlp":
    return models.MLPGenerator(
      hidden_dims=config.g_hidden,
      output_shape=(dataset.image_size, dataset.image_size, dataset.channels),
      normalization=config.g_normalization,
      output_activation="tanh",
      weight_init=config.weight_init,
      batchnorm_groups=groups,
      num_classes=num_classes,
    )
  if config.model == "resnet":  # class-conditional BatchNorm when conditional
    return models.ResNetGenerator(
      image_size=dataset.image_size,
      channels=dataset.channels,
      width=config.width,
      num_classes=num_classes,
      batchnorm_groups=groups,
    )
  return models.DCGANGenerator(
    image_size=dataset.image_size,
    channels=dataset.channels,
    width=config.width,
    normalization=config.g_normalization,
    num_classes=num_classes,
    conditioning=conditioning,
    batchnorm_groups=groups,
  )


def discriminator(config, dataset, *, num_classes: int = 0, conditioning: str = "concat", **heads):
  """D of config.model for the dataset.

  Args:
    config: a GANConfig.
    dataset: the training data.
    num_classes: > 0 gives D the labels (concatenated, or the projection term).
    conditioning: "concat" or "projection".
    **heads: DCGANDiscriminator's extra outputs (aux_classes, info_categorical,
      info_continuous, return_features, minibatch_discrimination, minibatch_stddev);
      MLPs and ResNets take return_features only.

  Returns:
    The Flax module.
  """
  if _is_toy(dataset) or config.model == "mlp":
    scale = dataset.scale if _is_toy(dataset) and config.scale_to_data else 1.0
    return models.MLPDiscriminator(
      hidden_dims=config.d_hidden,
      normalization=config.d_normalization,
      weight_init=config.weight_init,
      input_scale=scale,
      batchnorm_groups=batchnorm_groups(config),
      num_classes=num_classes,
      **_features_only(heads, "mlp"),
    )
  if config.model == "resnet":  # the projection discriminator when conditional
    return models.ResNetDiscriminator(
      image_size=dataset.image_size,
      width=config.width,
      spectral_norm=config.spectral_norm,
      num_classes=num_classes,
      **_features_only(heads, "resnet"),
    )
  return models.DCGANDiscriminator(
    image_size=dataset.image_size,
    width=config.width,
    normalization=config.d_normalization,
    spectral_norm=config.spectral_norm,
    num_classes=num_classes,
    conditioning=conditioning,
    batchnorm_groups=batchnorm_groups(config),
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
      "mnist, cifar10, ... (or --unconditional, where the experiment has it)"
    )
  return classes


def learning_rate(config, player: str):
  """config.g_lr or config.d_lr ("generator" / "discriminator") under config.lr_schedule
  (decaying from config.lr_decay_start).

  The critic's schedule counts its own updates: num_steps · n_critic of them. With
  --n_critic_from it reads the step each update is made at instead
  (gan_spec.step_of_critic_update), so both players' rates follow the steps.
  """

  def schedule(rate, updates):
    return optim.learning_rate_schedule(rate, config.lr_schedule, updates, config.lr_decay_start)

  if player == "generator":
    return schedule(config.g_lr, config.num_steps)
  phases = getattr(config, "critic_phases", ())  # translation: no phases, one update a step
  if not phases:
    return schedule(config.d_lr, config.num_steps * getattr(config, "n_critic", 1))
  by_step = schedule(config.d_lr, config.num_steps)
  if not callable(by_step):  # constant
    return by_step
  return lambda count: by_step(step_of_critic_update(config.n_critic, phases, count))


def adam(config, player: str, eps_root: float = 0.0) -> optax.GradientTransformation:
  """Adam for one player.

  Args:
    config: a GANConfig or TranslationConfig: the learning rate under its schedule
      (learning_rate), beta1 and beta2.
    player: "generator" or "discriminator".
    eps_root: > 0 puts ε inside the square root, which makes the update differentiable where
      a gradient component is 0 (needed to differentiate through it: the Unrolled GAN).

  Returns:
    The optax chain.
  """
  return optax.adam(learning_rate(config, player), config.beta1, config.beta2, eps_root=eps_root)


def gan_spec(config, dataset, loss: LossPair, **fields) -> GANSpec:
  """The GANSpec of the config's shared settings, with `fields` given or overriding.

  Unless `fields` names them: G and D of config.model for the dataset, Adam for
  both players, config.latent_dim, n_critic, accumulate, ema_decay, ema_start and
  standing_stats, and the augmentation of config.augment (DiffAugment, or ADA). An
  experiment passes what makes it that GAN: its loss, its regularizers, its
  models or optimizers when they differ.

  Args:
    config: a GANConfig.
    dataset: the training data.
    loss: the adversarial LossPair (jaxgan.loss_pairs.loss_pair).
    **fields: GANSpec fields that differ from the defaults above.

  Returns:
    The GANSpec.
  """
  shared = {
    "latent_dim": config.latent_dim,
    "n_critic": config.n_critic,
    "n_critic_from": config.critic_phases,
    "ema_decay": config.ema,
    "accumulate": config.accumulate,
    "ema_start": config.ema_start,
  }
  if config.standing_stats:
    shared["standing_statistics"] = (config.standing_stats, config.batch_size)
  shared = {name: value for name, value in shared.items() if name not in fields}
  if config.augment:
    if _is_toy(dataset):
      raise ConfigError(f"--augment={config.augment} is for images, not the toy {dataset.name}")
    if augment.parse_policy(config.augment) == (augment.ADAPTIVE,):
      shared["augment"] = ada.adaptive_augmentation(
        config.ada_target, config.ada_interval, config.ada_kimg
      )
    else:
      shared["augment"] = augment.diff_augment(config.augment)
  if "generator" not in fields:
    shared["generator"] = generator(config, dataset)
  if "discriminator" not in fields:
    shared["discriminator"] = discriminator(config, dataset)
  if "generator_optimizer" not in fields:
    shared["generator_optimizer"] = adam(config, "generator")
  if "discriminator_optimizer" not in fields:
    shared["discriminator_optimizer"] = adam(config, "discriminator")
  return GANSpec(loss=loss, **shared, **fields).computing_in(config.compute_dtype)


def gan_parts(make_spec: Callable, dataset) -> Callable:
  """config → (init, pure step, (the pure steps of its --n_critic_from phases)) of the GAN
  make_spec(config, dataset) makes: what a population builds inside its program for each grid
  point (jaxgan.population)."""

  def parts(config):
    spec = make_spec(config, dataset)
    phase_steps = tuple(
      gan.make_train_step(dataclasses.replace(spec, n_critic=n)).pure for _, n in spec.n_critic_from
    )
    return functools.partial(gan.init_state, spec), gan.make_train_step(spec).pure, phase_steps

  return parts


def run_experiment(
  experiment: str, config, make_spec: Callable, make_trainer: Callable = gan.make_trainer
) -> dict[str, Any]:
  """A GAN experiment's main: its data, devices, spec, trainer and the loop.

  Args:
    experiment: the experiment's name (config.json, the default workdir runs/NAME_DATASET).
    config: a jaxgan.config.GANConfig (the experiment's Config).
    make_spec: make_spec(config, dataset) -> the spec make_trainer takes (a GANSpec).
    make_trainer: make_trainer(spec, dataset, config, mesh=..., fid_features=...) -> Trainer:
      the kind's (default: the GAN's; jaxgan.kinds.progressive's for a growing GAN).

  Returns:
    The final evaluation (also in WORKDIR/results.json).
  """
  config = runtime.with_default_workdir(config, experiment)
  runtime.use_compilation_cache(config.compilation_cache)
  dataset = load_dataset(config)
  mesh = runtime.start_devices(config)
  if config.population > 1 or config.population_grid:
    return population.run_population(
      config,
      lambda c: make_trainer(make_spec(c, dataset), dataset, c, fid_features=c.fid_features),
      lambda c: runtime.run_config(experiment, c),
      gan_parts(make_spec, dataset) if make_trainer is gan.make_trainer else None,
    )
  spec = make_spec(config, dataset)
  run = make_trainer(spec, dataset, config, mesh=mesh, fid_features=config.fid_features)
  return loop.run_training(
    run, config, mesh=mesh, run_config=runtime.run_config(experiment, config)
  )
