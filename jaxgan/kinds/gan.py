"""The GAN: a frozen spec of two networks and their losses, and the one compiled step that
trains it (the n_critic D updates and the G update in one XLA program).

    spec = GANSpec(generator=..., discriminator=..., latent_dim=...,
                   loss=loss_pairs.loss_pair("wasserstein"),
                   discriminator_regularizers=(Regularizer("gradient_penalty", 0.1, fn),),
                   generator_optimizer=..., discriminator_optimizer=..., n_critic=5)
    state = init_state(spec, key, example_batch)
    step = make_train_step(spec)
    state, metrics = step(state, batch, key)

    trainer = make_trainer(spec, dataset, loop_config)     # for jaxgan.loop.run_training

`step` is pure and compiled once: the n_critic discriminator updates run in a
`lax.scan` and the generator update after them, all inside one XLA program,
with the state's buffers donated. A batch holds the real data of every critic
update: {"x": [n_critic, B, ...]} and, for class-conditional GANs, their
labels {"label": [n_critic, B]}. The key is the run's base key; the step
folds its own step counter into it, so that the same (seed, step) gives the
same noise on every call and after a resume.

The models: G is called as G(z, train=...) or, when spec.num_classes > 0,
G(z, labels, train=...); D as D(x, train=...) or, when
spec.label_to_discriminator, D(x, labels, train=...). D returns a score per
example [B] or a dict of outputs with the score under "adv" (and heads such
as "class_logits", "code_logits", "features"). Fakes are generated for the
labels of the real batch they are compared with, so real and fake examples
are paired class by class (and gradient penalties see one label per pair).

The spec, its state and its regularizers are jaxgan.kinds.gan_spec (all
importable from here too); the players' updates the step orders are
jaxgan.kinds.gan_updates. This module registers the kind "gan": a run's
generator is rebuilt from its config.json for `python -m jaxgan.sample` and
`jaxgan.evaluate`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxgan import data, evaluators, models, optim, parallel, trainer
from jaxgan.augment import Augmentation
from jaxgan.data import ImageDataset
from jaxgan.kinds import gan_updates as updates
from jaxgan.kinds.gan_spec import (
  GANSpec,
  GANState,
  check_batch,
  check_generator_output,
)
from jaxgan.kinds.gan_spec import Regularizer as Regularizer  # experiments write gan.Regularizer
from jaxgan.kinds.gan_spec import (
  RegularizerInputs as RegularizerInputs,  # and gan.RegularizerInputs
)
from jaxgan.latent import Latent, LatentSpace
from jaxgan.models import standing_stats
from jaxgan.step import (
  PlayerState,
  all_finite,
  apply_model,
  as_outputs,
  compile_spec_step,
  merge_leading_axes,
  model_inputs,
  model_rngs,
  shard_examples,
  split_variables,
)

Array = jax.Array


def init_state(spec: GANSpec, key: Array, example_batch: dict[str, Array]) -> GANState:
  """Fresh parameters and optimizer states, as one compiled program on the default device.

  Args:
    spec: the GAN.
    key: the key of the initialization.
    example_batch: a batch as the step receives it; only its shapes are read.

  Returns:
    The GANState at step 0 (with the EMA of G and the loss's state when the spec has them).
  """
  check_batch(spec, example_batch)
  x_shape = jax.ShapeDtypeStruct(example_batch["x"].shape[1:], example_batch["x"].dtype)

  def init(key):
    g_key, d_key = jax.random.split(key)
    x = jnp.zeros(x_shape.shape, x_shape.dtype)
    batch = x.shape[0]
    labels = jnp.zeros((batch,), jnp.int32) if spec.num_classes else None
    z = spec.latent_space.sample(jax.random.key(0), (batch,), labels).z
    fake, g_variables = spec.generator.init_with_output(
      {"params": g_key}, *model_inputs(z, labels), train=False
    )
    check_generator_output(fake.shape[1:], x.shape[1:])
    d_labels = labels if spec.label_to_discriminator else None
    d_variables = spec.discriminator.init(
      {"params": d_key}, *model_inputs(x, d_labels), train=False
    )
    g_params, g_model_state = split_variables(g_variables)
    d_params, d_model_state = split_variables(d_variables)
    generator = PlayerState(g_params, g_model_state, spec.generator_optimizer.init(g_params))
    discriminator = PlayerState(
      d_params, d_model_state, spec.discriminator_optimizer.init(d_params)
    )
    ema = None
    if spec.ema_decay is not None:
      ema = generator_ema(spec).init(g_params)
    regs = (*spec.discriminator_regularizers, *spec.generator_regularizers)
    regularizer_state = {r.name: r.init() for r in regs if r.init is not None}
    # a lazy term's last value, logged on the steps it skips
    lazy = [r for r in regs if r.every > 1]
    regularizer_state.update({updates.last_value_key(r): jnp.zeros([]) for r in lazy})
    return GANState(
      jnp.zeros([], jnp.int32),
      generator,
      discriminator,
      ema,
      spec.loss.init_state(),
      regularizer_state,
      spec.augment.init() if isinstance(spec.augment, Augmentation) else {},
    )

  return jax.jit(init)(key)


def generator_ema(spec: GANSpec) -> optim.ParameterEma:
  """The EMA of G's weights the spec asks for (its decay, warm-up and start step)."""
  return optim.parameter_ema(spec.ema_decay, warmup=spec.ema_warmup, start=spec.ema_start)


def generator_params(state: GANState) -> Any:
  """The parameters to sample with: the EMA average when there is one."""
  return state.generator.params if state.generator_ema is None else state.generator_ema.average


def _generate_for_critic(spec: GANSpec, g: PlayerState, latent: Latent, key: Array) -> Array:
  """G(z) for all n_critic updates at once: G does not change during them.

  latent.z: [n_critic, B, ...]. Without batch statistics the n_critic batches
  go through G as one, ordered example-major ([B, n_critic]) so that under a
  mesh every device keeps its own examples; with them, each batch keeps its
  own statistics (vmap). key: G's random streams (jaxgan.step.model_rngs).
  """
  zs, labels = latent.z, latent.labels
  n, b = zs.shape[:2]
  rngs = model_rngs(key)

  def generate(z, labels):
    return apply_model(spec.generator, g.params, g.model_state, z, True, labels, rngs)[0]

  if "batch_stats" in g.model_state:
    fakes = jax.vmap(generate)(zs, labels)
  else:
    flat_labels = None if labels is None else jnp.swapaxes(labels, 0, 1).reshape(n * b)
    flat = generate(merge_leading_axes(jnp.swapaxes(zs, 0, 1)), flat_labels)
    fakes = jnp.swapaxes(flat.reshape(b, n, *flat.shape[1:]), 0, 1)
  return jax.lax.stop_gradient(fakes)


def train_step(
  spec: GANSpec, state: GANState, batch: dict[str, Array], key: Array, mesh: Mesh | None = None
):
  """n_critic D updates (lax.scan), then one G update, then the EMA of G's weights.

  Args:
    spec: the GAN.
    state: the training state.
    batch: {"x": [n_critic, B, ...]} and, for conditional GANs, {"label": [n_critic, B]}.
    key: the run's base key; the step folds state.step into it.
    mesh: with a mesh, the noise is split over its 'data' axis like the real batch, so
      that every device generates and discriminates its own examples.

  Returns:
    (the new state, metrics: means over the critic updates, G's, and "finite").
  """
  check_batch(spec, batch)
  adaptive = spec.augment if isinstance(spec.augment, Augmentation) else None
  if adaptive is not None:  # this step's augmentation, at the state's p
    spec = dataclasses.replace(spec, augment=functools.partial(adaptive.apply, state.augment_state))
  real = batch["x"]
  labels = batch.get("label") if spec.num_classes else None
  batch_size = real.shape[1]
  key = jax.random.fold_in(key, state.step)
  zd_key, d_key, zg_key, g_key = jax.random.split(key, 4)

  critic_latent = shard_examples(
    spec.latent_space.sample(zd_key, (spec.n_critic, batch_size), labels), mesh, 1
  )
  fakes = _generate_for_critic(spec, state.generator, critic_latent, jax.random.fold_in(zd_key, 1))
  check_generator_output(fakes.shape[2:], real.shape[2:])

  def critic(carry, xs):
    d, loss_state, reg_state = carry
    real_i, fake_i, key_i, latent_i = xs
    d, loss_state, metrics, reg_state = updates.discriminator_update(
      spec, d, real_i, fake_i, key_i, latent_i.labels, latent_i, loss_state, reg_state
    )
    return (d, loss_state, reg_state), metrics

  (d_state, loss_state, reg_state), d_metrics = jax.lax.scan(
    critic,
    (state.discriminator, state.loss_state, state.regularizer_state),
    (real, fakes, jax.random.split(d_key, spec.n_critic), critic_latent),
  )
  real_scores = d_metrics.pop("d_real_scores", None)
  metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), d_metrics)
  augment_state = state.augment_state
  if adaptive is not None:
    augment_state, augment_metrics = adaptive.update(augment_state, real_scores[-1], state.step)
    metrics.update(augment_metrics)
  d_state, reg_state, lazy_metrics = updates.lazy_discriminator_update(
    spec, d_state, real[-1], fakes[-1], critic_latent, labels, state.step, d_key, reg_state
  )
  metrics.update(lazy_metrics)

  g_labels = None if labels is None else labels[-1]
  g_latent = shard_examples(spec.latent_space.sample(zg_key, (batch_size,), g_labels), mesh, 0)
  g_state, g_metrics, reg_state = updates.generator_update(
    spec, state.generator, d_state, real[-1], g_latent, g_key, g_labels, loss_state, reg_state
  )
  metrics.update(g_metrics)
  g_state, reg_state, lazy_metrics = updates.lazy_generator_update(
    spec, g_state, d_state, real[-1], g_latent, g_labels, state.step, g_key, reg_state
  )
  metrics.update(lazy_metrics)

  ema = state.generator_ema
  if ema is not None:
    ema = generator_ema(spec).update(g_state.params, ema)
  metrics["finite"] = all_finite(metrics)
  new_state = GANState(state.step + 1, g_state, d_state, ema, loss_state, reg_state, augment_state)
  return new_state, metrics


def make_train_step(
  spec: GANSpec, *, mesh: Mesh | None = None, donate: bool = True, max_traces: int | None = 1
):
  """`train_step` of `spec`, jit-compiled (jaxgan.step.compile_step).

  Args:
    spec: the GAN.
    mesh: run data-parallel over its devices (jaxgan.parallel): the state and key
      replicated, batches split along their example axis, the metrics replicated.
      Without one, the step runs on the default device.
    donate: hand the old state's buffers to the new state (do not reuse the state passed in).
    max_traces: tracing the step more often (a batch of another shape or dtype) raises
      RecompilationError; None allows any number. The count is this step's own, so several
      GANs can train in one process.

  Returns:
    step(state, batch, key) -> (state, metrics).
  """
  return compile_spec_step(train_step, spec, mesh=mesh, donate=donate, max_traces=max_traces)


# ---------------------------------------------------------------------------
# The trainer, and the kind: a run's generator from its config.json.
# ---------------------------------------------------------------------------


def sampling_variables(state: trainer.StateDict) -> tuple[Any, Any]:
  """(params, model_state) to sample with, from a state dict: the EMA average when the run
  kept one, else G's own parameters."""
  ema = state.get("generator_ema")
  params = ema["average"] if ema else state["generator"]["params"]
  return params, state["generator"]["model_state"]


def generator_view(
  G: nn.Module,
  D: nn.Module | None,
  space: LatentSpace,
  mesh: Mesh | None = None,
  standing: tuple[int, int] = (),
) -> trainer.Generator:
  """The trainer.Generator of a GAN: G in eval mode on a state dict's sampling variables.

  Args:
    G: the generator.
    D: the discriminator, for its scores of single examples (the toy plots' contours);
      None for no critic.
    space: G's latent space.
    mesh: the devices G runs on; the outputs come back replicated, readable by every process.
    standing: (batches, batch_size): G's BatchNorm statistics recomputed over that many
      batches of noise before it samples a state (BigGAN's standing statistics,
      jaxgan.models.standing_stats); () keeps the running averages of training.

  Returns:
    The Generator.
  """
  out_shardings = None if mesh is None else parallel.replicated(mesh)
  restand = standing_stats.standing_sampler(G, space, *standing) if standing else None

  @functools.partial(jax.jit, out_shardings=out_shardings)
  def generate_with(params, model_state, z, labels):
    return apply_model(G, params, model_state, z, False, labels)[0]

  def generate(state, latent: Latent) -> np.ndarray:
    params, model_state = sampling_variables(state)
    if restand is not None:
      model_state = restand(params, model_state)
    return np.asarray(generate_with(params, model_state, latent.z, latent.labels))

  critic = None
  if D is not None:

    @functools.partial(jax.jit, out_shardings=out_shardings)
    def critic_with(params, model_state, points):
      return as_outputs(apply_model(D, params, model_state, points, False)[0])["adv"]

    def critic(state, points) -> np.ndarray:
      d = state["discriminator"]
      return np.asarray(critic_with(d["params"], d["model_state"], points))

  return trainer.Generator(space, generate, critic, style_view(G, out_shardings))


def style_view(G: nn.Module, out_shardings=None) -> trainer.Styles | None:
  """The trainer.Styles of a style-based G (one with `mapping` and `synthesis` methods and
  `num_ws`, as jaxgan.models.stylegan2), else None."""
  if not all(hasattr(G, name) for name in ("mapping", "synthesis", "num_ws")):
    return None

  @functools.partial(jax.jit, static_argnums=(4,), out_shardings=out_shardings)
  def mapping_with(params, model_state, z, psi, cutoff):
    variables = {"params": params, **model_state}
    return G.apply(variables, z, truncation_psi=psi, truncation_cutoff=cutoff, method=G.mapping)

  @functools.partial(jax.jit, out_shardings=out_shardings)
  def synthesis_with(params, model_state, ws):
    return G.apply({"params": params, **model_state}, ws, method=G.synthesis)

  def mapping(state, z, psi: float = 1.0, cutoff: int | None = None) -> np.ndarray:
    return np.asarray(mapping_with(*sampling_variables(state), z, jnp.float32(psi), cutoff))

  def synthesis(state, ws) -> np.ndarray:
    return np.asarray(synthesis_with(*sampling_variables(state), ws))

  return trainer.Styles(G.num_ws, mapping, synthesis)


def model_of(spec: GANSpec, dataset, mesh: Mesh | None = None) -> trainer.Model:
  """The trainer.Model of a GAN being trained: its generator (and D for the toy plots) and
  its data.

  Args:
    spec: the GAN.
    dataset: the training data.
    mesh: the devices G runs on.

  Returns:
    The Model the evaluators read.
  """
  critic = None if spec.label_to_discriminator else spec.discriminator
  return trainer.Model(
    datasets=lambda: trainer.Datasets(dataset),
    generator=generator_view(
      spec.generator, critic, spec.latent_space, mesh, spec.standing_statistics
    ),
  )


def describe_spec(spec: GANSpec, dataset, evaluator_names: Sequence[str]) -> dict[str, Any]:
  """config.json's entries of a GAN: its data, latent space, networks (what `restore`
  rebuilds G from), n_critic, EMA and evaluators.

  Args:
    spec: the GAN.
    dataset: its training data (image data adds "image_shape").
    evaluator_names: the evaluators of the run.

  Returns:
    A JSON-able dict, without the kind (each kind adds its own).
  """
  description = {
    "dataset": dataset.name,
    "latent_dim": spec.latent_dim,
    "latent_space": spec.latent_space._asdict(),
    "generator": models.describe(spec.generator),
    "discriminator": models.describe(spec.discriminator),
    "n_critic": spec.n_critic,
    "ema_decay": spec.ema_decay,
    "standing_statistics": list(spec.standing_statistics),
    "evaluators": list(evaluator_names),
  }
  if spec.n_critic_from:
    description["n_critic_from"] = [list(phase) for phase in spec.n_critic_from]
  if isinstance(dataset, ImageDataset):
    description["image_shape"] = [dataset.image_size, dataset.image_size, dataset.channels]
  return description


def make_trainer(
  spec: GANSpec,
  dataset,
  config,
  *,
  mesh: Mesh | None = None,
  fid_features: str = "auto",
  evaluator_names: Sequence[str] | None = None,
) -> trainer.Trainer:
  """The Trainer of `spec` on `dataset`, for jaxgan.loop.run_training.

  Args:
    spec: the GAN.
    dataset: a ToyDataset or an ImageDataset (jaxgan.data.get_dataset).
    config: the loop's settings (a jaxgan.config.LoopConfig): batch_size, seed,
      num_eval_samples.
    mesh: train data-parallel over its devices (jaxgan.parallel).
    fid_features: the feature network of the "features" evaluator (jaxgan.features).
    evaluator_names: the evaluators (jaxgan.evaluators); default: those for the data.

  Returns:
    The Trainer; its describe() is what `restore` rebuilds the generator from. With
    spec.n_critic_from, its phases train on with the later numbers of critic updates
    (n_critic_phases).
  """
  stream = data.make_stream(dataset, config.batch_size, spec.n_critic, config.seed, mesh)
  model = model_of(spec, dataset, mesh)
  names = list(evaluator_names or evaluators.default_names(model))

  def describe() -> dict[str, Any]:
    return {**trainer.describe_kind(KIND), **describe_spec(spec, dataset, names)}

  regularizers = (*spec.discriminator_regularizers, *spec.generator_regularizers)
  later = ", ".join(f"{n} from step {s}" for s, n in spec.n_critic_from)
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=evaluators.for_training(names, model, config, fid_features=fid_features, mesh=mesh),
    describe=describe,
    log_terms=[r.name for r in regularizers]
    + (["ada_p", "ada_rt"] if isinstance(spec.augment, Augmentation) else []),
    summary=f"on {dataset.name}, batch {config.batch_size}, n_critic {spec.n_critic}"
    + (f" ({later})" if later else ""),
    phases=n_critic_phases(spec, dataset, config, mesh),
  )


def n_critic_phases(spec: GANSpec, dataset, config, mesh: Mesh | None = None):
  """The Trainer's later phases of spec.n_critic_from: each its own compiled step (the spec
  with that n_critic) and stream of [n_critic, B, ...] batches.

  A phase's stream reads the data as if its n_critic had held from step 0 (the toys draw each
  step's batch from (key, step); image data take positions step·n_critic·B of their shuffled
  order), so every step's data, and a resume, are functions of the step alone; across a switch
  an epoch of images may repeat or skip some examples.

  Args:
    spec: the GAN; its n_critic_from gives the phases' first steps and numbers of updates.
    dataset: its training data.
    config: the loop's settings (batch_size, seed).
    mesh: train data-parallel over its devices.

  Returns:
    The jaxgan.trainer.Phase of each (first step, n_critic) of spec.n_critic_from.
  """
  return tuple(
    trainer.Phase(
      start,
      make_train_step(dataclasses.replace(spec, n_critic=n), mesh=mesh),
      data.make_stream(dataset, config.batch_size, n, config.seed, mesh),
      f"n_critic {n}",
    )
    for start, n in spec.n_critic_from
  )


def run_dataset(config: dict[str, Any]):
  """The dataset a run trained on, from its config.json."""
  run_flags = config.get("flags", {})
  image_size = (config.get("image_shape") or [run_flags.get("image_size", 32)])[0]
  return data.get_dataset(
    config["dataset"], image_size=image_size, data_dir=run_flags.get("data_dir")
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """A GAN run's Model from its config.json: G (and D for the toy plots) and its data."""
  space = LatentSpace.from_json(config.get("latent_space") or {"latent_dim": config["latent_dim"]})
  D = models.build(config["discriminator"]) if "discriminator" in config else None
  if space.num_classes:
    D = None  # a conditional D scores (example, label) pairs: no contours of single points
  dataset = functools.cache(lambda: run_dataset(config))
  return trainer.Model(
    datasets=lambda: trainer.Datasets(dataset()),
    generator=generator_view(
      models.build(config["generator"]), D, space, standing=config.get("standing_statistics", ())
    ),
  )


KIND = trainer.register(trainer.Kind("gan", restore))
