"""Populations: N independent GANs trained in one compiled program with jax.vmap.

    python experiments/wgan_gp.py --population=8                        # seeds 0..7
    python experiments/wgan_gp.py --population=8 \\
        --population_grid="g_lr:1e-4,2e-4;gp_weight:0.1,1;seed:0,1"     # a 2×2×2 grid

A population is a Trainer like any other, so the loop, checkpoints, preemption, --steps_per_call
and --data_on_device serve it unchanged. Its state stacks the members' states on a leading axis;
its step is the members' step under jax.vmap, one XLA program for all of them (on a GPU or TPU,
N small GANs for about the price of one; on a busy CPU, about N times one).

Each member is the run its own flags would make: the base flags with its seed (the base seed
plus its index by default) and its grid values. Its initialization, data order, noise and
evaluation come from its own seed, so a member equals the separate run of its flags (tested).
A grid varies numbers (float flags, such as learning rates, penalty weights, EMA decays) inside
the program: they are traced values there, not constants; `seed` may be a grid key too. A flag
that shapes the program (a width, n_critic, a loss's name) cannot vary within one program: run
one population per value.

A member whose step turns non-finite stops: its last finite state is kept (and evaluated) and it
is counted out of `alive`; the others train on. The run stops only when every member has.

What a population run leaves in its workdir, beside what every run leaves:
  metrics.jsonl    the population's means over the members alive, and every member's own
                   metrics as "memberI/NAME" (TensorBoard groups them by member)
  memberI/         each member as a run of its own: config.json (its flags), plots/ (its
                   pictures) and, at the end, checkpoints/ (its slice of the population's state),
                   so jaxgan.sample and jaxgan.evaluate read a member as any run
  results.json     every member's final evaluation ("memberI_NAME"; "memberI_alive" is 0 for a
                   member stopped at a non-finite loss, evaluated at its last finite state) and
                   the population's summary: the mean, min and max of each metric ("NAME",
                   "NAME_min", "NAME_max") and "alive", the members still training
  plots/population.png  each evaluation metric over the steps, one line per member
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import config as config_lib
from jaxgan import evaluators, loop, parallel, plots, step
from jaxgan import trainer as trainer_lib
from jaxgan.checkpoint import Checkpointer
from jaxgan.data.on_device import DeviceData
from jaxgan.errors import ConfigError
from jaxgan.trainer import Trainer, run_keys

Array = jax.Array


class PopulationState(flax.struct.PyTreeNode):
  """members: the members' states stacked on a leading axis [N, ...]; alive: [N] bool, False
  once a member's step turned non-finite; step: the population's step counter."""

  members: Any
  alive: Array
  step: Array


# ---------------------------------------------------------------------------
# The members' flags.
# ---------------------------------------------------------------------------


def parse_grid(text: str, config) -> list[dict[str, Any]]:
  """--population_grid "KEY:V1,V2;KEY2:V1,V2" → the grid's points (the product of the values,
  the first key varying slowest), each {KEY: value} with values of the flag's type.

  Args:
    text: the grid, as on the command line ("" for none).
    config: the experiment's config (which flags exist, and their types).

  Returns:
    The points; [] for an empty grid.
  """
  if not text.strip():
    return []
  kinds = config_lib.field_types(type(config))
  axes = []
  for part in text.split(";"):
    key, sep, values = part.partition(":")
    key = key.strip()
    if not sep or not values.strip():
      raise ConfigError(
        f"--population_grid: {part!r} is not KEY:VALUE,VALUE (e.g. g_lr:1e-4,2e-4;gp_weight:0.1,1)"
      )
    if key not in kinds or key in POPULATION_FLAGS:
      raise ConfigError(
        f"--population_grid: {key!r} is not a flag of this experiment; see its --helpshort"
      )
    kind = kinds[key]
    if kind not in (int, float, str, bool):
      raise ConfigError(f"--population_grid: {key} takes a list; give it one value per run")
    try:
      parsed = [_parse_value(kind, v.strip()) for v in values.split(",")]
    except ValueError:
      raise ConfigError(
        f"--population_grid: {key} takes {kind.__name__} values, got {values}"
      ) from None
    axes.append([(key, v) for v in parsed])
  return [dict(point) for point in itertools.product(*axes)]


def _parse_value(kind: type, text: str) -> Any:
  if kind is bool:
    if text.lower() not in ("true", "false", "1", "0"):
      raise ValueError(text)
    return text.lower() in ("true", "1")
  return kind(text)


POPULATION_FLAGS = ("population", "population_grid")
MEMBER_LEVEL = ("seed",)  # grid keys that pick a member's keys, not numbers in its program


def member_configs(config) -> list[Any]:
  """The flags of each member: the base flags with seed + i, or with the grid's point i.

  Args:
    config: the experiment's config, with population N and population_grid.

  Returns:
    N configs, each validated as the flags of a run of its own (population 1).
  """
  points = parse_grid(config.population_grid, config)
  n = config.population
  if points and len(points) != n:
    raise ConfigError(
      f"--population={n} but --population_grid has {len(points)} points: pass "
      f"--population={len(points)}"
    )
  if not points:
    points = [{"seed": config.seed + i} for i in range(n)]
  members = []
  for i, point in enumerate(points):
    workdir = os.path.join(config.workdir, f"member{i}") if config.workdir else None
    members.append(
      dataclasses.replace(config, population=1, population_grid="", workdir=workdir, **point)
    )
  return members


def differing_flags(configs: Sequence[Any]) -> list[str]:
  """The flags whose values differ between the members (their workdirs aside), in the
  config's field order."""
  names = []
  for field in dataclasses.fields(configs[0]):
    values = [getattr(c, field.name) for c in configs]
    if field.name != "workdir" and any(v != values[0] for v in values):
      names.append(field.name)
  return names


def traced_keys(configs: Sequence[Any]) -> list[str]:
  """The flags that differ between the members, other than the seed: the numbers traced in
  the population's program. A one-line ConfigError for a flag that is not a float (an integer
  such as n_critic or a width sets shapes; a string or a switch, the program's structure)."""
  keys = []
  for name in differing_flags(configs):
    if name in MEMBER_LEVEL:
      continue
    if config_lib.field_types(type(configs[0])).get(name) is not float:
      raise ConfigError(
        f"--population_grid: {name} shapes the program and cannot vary inside one population; "
        "run one population per value"
      )
    keys.append(name)
  return keys


def with_traced(config, values: dict[str, Array]):
  """The config with some numbers replaced by traced values (inside the population's program;
  its validation already ran on each member's concrete values)."""
  traced = copy.copy(config)
  for name, value in values.items():
    object.__setattr__(traced, name, value)
  return traced


# ---------------------------------------------------------------------------
# The population as a Trainer.
# ---------------------------------------------------------------------------


def _stack(trees: Sequence[Any]) -> Any:
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def member_slice(tree: Any, i: int) -> Any:
  """Member i's part of a stacked pytree (a state, a state dict, metrics)."""
  return jax.tree.map(lambda x: x[i], tree)


class PopulationStream:
  """The members' streams side by side: each step's batch holds every member's batch, stacked
  on a leading axis [N, ...] (blocks of k steps: [k, N, ...]); each member reads its own order."""

  def __init__(self, streams: Sequence[Any]):
    self.streams = list(streams)
    if all(hasattr(s, "block_at") for s in self.streams):
      self.block_at = self._block_at

  def batch_at(self, step: int) -> Any:
    return _stack([s.batch_at(step) for s in self.streams])

  def iterate(self, start_step: int):
    for batches in zip(*(s.iterate(start_step) for s in self.streams), strict=False):
      yield _stack(batches)

  def _block_at(self, step: int, k: int) -> Any:
    blocks = [s.block_at(step, k) for s in self.streams]
    return jax.tree.map(lambda *leaves: jnp.stack(leaves, axis=1), *blocks)

  def on_device(self) -> DeviceData:
    """The members' device data stacked, each member's batch gathered from its own part (an
    image dataset is held once per member: N times its size)."""
    members = [s.on_device() for s in self.streams]
    batch_of = members[0].batch_of  # the same function of the members' data

    def stacked_batch_of(arrays, step):
      return jax.vmap(batch_of, in_axes=(0, None))(arrays, step)

    return DeviceData(
      _stack([m.arrays for m in members]),
      stacked_batch_of,
      f"{len(members)} members × {members[0].description}",
    )


def summarize(metrics: dict[str, Array], alive: Array) -> dict[str, Array]:
  """The population's step metrics: each metric's mean over the members alive, every member's
  own as "memberI/NAME", "alive" (members training) and "finite" (1 while any member is)."""
  count = jnp.sum(alive)
  out = {}
  for name, values in metrics.items():
    if name == "finite":
      continue
    out[name] = jnp.sum(jnp.where(alive, values, 0.0)) / jnp.maximum(count, 1)
    for i in range(values.shape[0]):
      out[f"member{i}/{name}"] = values[i]
  out["alive"] = count.astype(jnp.float32)
  out["finite"] = (count > 0).astype(jnp.float32)
  return out


def population_step(member_step: Callable, hyperparameters: dict[str, Array], keys: Array):
  """The pure step of a population: member_step(values)(state, batch, key) for every member
  under jax.vmap, a member whose step turned non-finite keeping its last finite state.

  Args:
    member_step: values → the member's pure step with those traced flag values.
    hyperparameters: {flag: [N] values} of the traced flags.
    keys: the members' step keys [N].

  Returns:
    step(PopulationState, batches [N, ...], key) → (PopulationState, metrics); the loop's
    key is not used (each member has its own).
  """

  def one_member(values, state, batch, key, alive):
    new_state, metrics = member_step(values)(state, batch, key)
    keep = alive & (metrics["finite"] > 0)
    return step.select_where(keep, new_state, state), metrics, keep

  def population(state: PopulationState, batch, key):
    del key
    members, metrics, alive = jax.vmap(one_member)(
      hyperparameters, state.members, batch, keys, state.alive
    )
    return PopulationState(members, alive, state.step + 1), summarize(metrics, alive)

  return population


def _traced_part(parts_of: Callable, base, part: Callable):
  """values → part(parts_of(base with those values)) (its init, or a phase's pure step), built
  inside the trace; a flag the experiment cannot take as a traced number gets one line."""

  def build(values):
    try:
      return part(parts_of(with_traced(base, values)))
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError) as e:
      names = ", ".join(values)
      raise ConfigError(
        f"--population_grid: this experiment decides its program from {names} "
        f"({type(e).__name__}), so they cannot vary inside one population: run one per value"
      ) from None

  return build


def check_same_structure(members: Sequence[Trainer], configs, names: Sequence[str]) -> None:
  """A one-line ConfigError unless every member's state has the structure of the first's
  (shapes traced with jax.eval_shape, nothing computed).

  Args:
    members: the members' Trainers.
    configs: their configs (their seeds).
    names: the flags the grid varies, for the message.
  """
  example = members[0].batches.batch_at(0)
  shapes = [
    jax.eval_shape(m.init, run_keys(c.seed)[0], example)
    for m, c in zip(members, configs, strict=True)
  ]
  if any(jax.tree.structure(s) != jax.tree.structure(shapes[0]) for s in shapes):
    raise ConfigError(
      f"--population_grid: the members' states differ in structure ({', '.join(names)} "
      "decides what the state holds, e.g. an EMA decay of 0): run one population per value"
    )


def make_population_trainer(
  trainer_of: Callable,
  configs: Sequence[Any],
  members: Sequence[Trainer] | None = None,
  parts_of: Callable | None = None,
) -> Trainer:
  """The Trainer of a population: the members trainer_of(config) trained side by side.

  Args:
    trainer_of: config → the member's Trainer (its step made by jaxgan.step.compile_step, with
      no mesh), called with each member's config.
    configs: the members' configs (member_configs).
    members: the members' Trainers when already built (default: built here).
    parts_of: config → (init, pure step, (the pure step of each later phase)) of a member,
      called inside the program with the grid's numbers traced (a Trainer's evaluators would
      compute at build time, so only these are built there); None: the members may differ in
      their seeds only.

  Returns:
    The population's Trainer: its state a PopulationState, its evaluator "population".
  """
  members = list(members or [trainer_of(c) for c in configs])
  if not hasattr(members[0].step, "pure"):
    raise ConfigError(
      "--population needs a step made by jaxgan.step.compile_step (its pure function)"
    )
  names = traced_keys(configs)
  hyperparameters = {
    name: jnp.asarray([getattr(c, name) for c in configs], jnp.float32) for name in names
  }
  init_keys = jnp.stack([run_keys(c.seed)[0] for c in configs])
  step_keys = jnp.stack([run_keys(c.seed)[1] for c in configs])
  if names and parts_of is None:
    raise ConfigError(
      f"--population_grid: this experiment's members may differ in their seeds only, not in "
      f"{', '.join(names)}: pass seed:... or run one population per value"
    )
  first = members[0]
  if names:  # the traced flags: each member's functions built with its values inside
    init_of = _traced_part(parts_of, configs[0], lambda parts: parts[0])
    steps_of = [
      _traced_part(parts_of, configs[0], lambda parts, p=p: [parts[1], *parts[2]][p])
      for p in range(1 + len(first.phases))
    ]
  else:  # none: the first member's functions serve every member
    init_of = lambda values: first.init  # noqa: E731
    steps_of = [
      lambda values, s=s: s.pure for s in [first.step, *(phase.step for phase in first.phases)]
    ]

  check_same_structure(members, configs, names)

  def init(key, batch):
    del key  # each member starts from its own seed
    states = jax.jit(jax.vmap(lambda v, k, b: init_of(v)(k, b)))(hyperparameters, init_keys, batch)
    return PopulationState(states, jnp.ones(len(configs), bool), jnp.zeros((), jnp.int32))

  def compiled(step_of):
    return step.compile_step(population_step(step_of, hyperparameters, step_keys))

  phases = tuple(  # the members' later phases side by side (the same steps for all)
    trainer_lib.Phase(
      phase.start,
      compiled(steps_of[1 + p]),
      PopulationStream([m.phases[p].batches for m in members]),
      phase.summary,
    )
    for p, phase in enumerate(first.phases)
  )
  return Trainer(
    init=init,
    step=compiled(steps_of[0]),
    batches=PopulationStream([m.batches for m in members]),
    evaluators=[population_evaluator(members, configs)],
    describe=lambda: {
      **trainer_lib.describe_kind(KIND),
      "population": len(configs),
      "traced_flags": names,
      "members": [first.describe()["kind"]] * len(configs),
    },
    log_terms=[*first.log_terms, "alive"],
    summary=f"as a population of {len(configs)} ({first.summary})",
    phases=phases,
  )


# ---------------------------------------------------------------------------
# Evaluation: every member's, and the population's summary.
# ---------------------------------------------------------------------------


def population_evaluator(members: Sequence[Trainer], configs) -> evaluators.Evaluator:
  """Runs each member's evaluators on its slice of the state: "memberI_NAME" for each member's
  metric, NAME / NAME_min / NAME_max over the members, a summary line of the means and ranges;
  draws each member's pictures into WORKDIR/memberI/plots and the metrics' curves into
  WORKDIR/plots/population.png."""
  labels = member_labels(configs)  # the plots' legend, the same at every evaluation

  def run(state: dict[str, Any]) -> dict[str, Any]:
    per_member = [
      evaluators.run_all(m.evaluators, member_slice(state["members"], i))
      for i, m in enumerate(members)
    ]
    results: dict[str, Any] = {}
    alive = np.asarray(state["alive"])
    for i, member in enumerate(per_member):
      results.update({f"member{i}_{k}": v for k, v in member.items() if _is_number(v)})
      results[f"member{i}_alive"] = int(alive[i])  # 0: stopped at a non-finite loss
    results["alive"] = int(np.sum(alive))
    parts = [f"{results['alive']}/{len(members)} alive"]
    for name in [k for k, v in per_member[0].items() if _is_number(v) and k != "num_samples"]:
      values = np.array([float(m[name]) for m in per_member])
      results.update(
        {name: values.mean(), f"{name}_min": values.min(), f"{name}_max": values.max()}
      )
      if values.min() != values.max():  # a constant (the mixture's mode count) says nothing
        parts.append(f"{name} {values.mean():.4g} ({values.min():.4g}–{values.max():.4g})")
    results["summary"] = "population: " + ", ".join(parts)
    return results

  def draw(workdir: str, state: dict[str, Any], step_number: int) -> list[str]:
    paths = []
    for i, member in enumerate(members):
      member_dir = os.path.join(workdir, f"member{i}")
      for evaluator in member.evaluators:
        paths += evaluator.draw(member_dir, member_slice(state["members"], i), step_number)
    if parallel.is_primary():
      records = _read_jsonl(os.path.join(workdir, "metrics.jsonl"))
      path = os.path.join(workdir, "plots", "population.png")
      if plots.save_population_curves(path, records, len(members), labels):
        paths.append(path)
    return paths

  return evaluators.Evaluator("population", run, draw)


def member_labels(configs: Sequence[Any]) -> list[str]:
  """Each member's name in the population's plots: the flags that differ between the members
  ("d_lr 0.0002, seed 1"), or "member I" when none does."""
  names = differing_flags(configs)
  if not names:
    return [f"member {i}" for i in range(len(configs))]

  def shown(value):
    return f"{value:g}" if isinstance(value, float) else str(value)

  return [", ".join(f"{name} {shown(getattr(c, name))}" for name in names) for c in configs]


def _is_number(value: Any) -> bool:
  return isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)


def _read_jsonl(path: str) -> list[dict[str, Any]]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------
# A population run: the loop, then each member as a run of its own.
# ---------------------------------------------------------------------------


def write_member_runs(workdir: str, configs, members_describe, run_config_of: Callable) -> None:
  """WORKDIR/memberI/config.json: each member's flags and networks, as its own run writes.

  Args:
    workdir: the population's workdir.
    configs: the members' configs.
    members_describe: the members' Trainer.describe() records.
    run_config_of: config → the record of its flags (jaxgan.runtime.run_config).
  """
  if not parallel.is_primary():
    return
  for i, (config, describe) in enumerate(zip(configs, members_describe, strict=True)):
    member_dir = os.path.join(workdir, f"member{i}")
    os.makedirs(member_dir, exist_ok=True)
    with open(os.path.join(member_dir, "config.json"), "w") as f:
      json.dump({**run_config_of(config), **describe}, f, indent=2, default=str)


def export_members(workdir: str, num_members: int) -> int:
  """Each member's slice of the population's newest checkpoint written as the checkpoint of
  WORKDIR/memberI (so jaxgan.sample and jaxgan.evaluate read it); returns the step."""
  population = Checkpointer(os.path.join(workdir, "checkpoints"), async_save=False)
  try:
    state, metadata = population.restore_raw()
  finally:
    population.close()
  step_number = int(np.asarray(state["step"]))
  for i in range(num_members):
    member = Checkpointer(os.path.join(workdir, f"member{i}", "checkpoints"), async_save=False)
    try:
      member.save(step_number, member_slice(state["members"], i), metadata)
    finally:
      member.close()
  return step_number


def check_population(config) -> None:
  """A one-line ConfigError for a population the devices cannot run (one device, one
  process: the members share the program, not a mesh)."""
  if jax.process_count() > 1 or config.num_devices > 1:
    raise ConfigError(
      "--population trains its members in one program on one device: pass --num_devices=1 "
      "(and run populations in separate processes)"
    )


def run_population(
  config, trainer_of: Callable, run_config_of: Callable, parts_of: Callable | None = None
) -> dict[str, Any]:
  """Trains config.population members side by side, then writes each as a run of its own.

  Args:
    config: the experiment's config (population, population_grid, workdir set).
    trainer_of: config → a member's Trainer (see make_population_trainer).
    run_config_of: config → config.json's record of the flags (jaxgan.runtime.run_config).
    parts_of: config → (init, pure step), for grids of numbers (see make_population_trainer).

  Returns:
    The final evaluation (WORKDIR/results.json): every member's and the population's summary.
  """
  check_population(config)
  configs = member_configs(config)
  members = [trainer_of(c) for c in configs]
  trainer = make_population_trainer(trainer_of, configs, members, parts_of)
  if config.dry_run:
    return loop.run_training(trainer, config)
  workdir = loop.prepare_workdir(config.workdir)
  write_member_runs(workdir, configs, [m.describe() for m in members], run_config_of)
  results = loop.run_training(trainer, config, run_config=run_config_of(config))
  export_members(workdir, len(configs))
  return results


def restore(config: dict[str, Any]) -> trainer_lib.Model:
  """A population's workdir is read member by member: a one-line ConfigError saying so."""
  raise ConfigError(
    f"this workdir holds a population of {config.get('population')} runs: pass a member's "
    "directory, --workdir=WORKDIR/member0 (… memberN−1)"
  )


KIND = trainer_lib.register(trainer_lib.Kind("population", restore))
