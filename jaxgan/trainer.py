"""The interface between a kind of training and everything around it.

A kind of training (jaxgan.kinds: the GAN, pix2pix, CycleGAN, or one of
yours) hands the loop a `Trainer`, a value of functions in the spirit of
optax's GradientTransformation:

    trainer = Trainer(init=..., step=..., batches=..., evaluators=..., describe=...)
    results = loop.run_training(trainer, loop_config)

and registers a `Kind`, so that a finished run can be used again from its
workdir alone (`python -m jaxgan.sample`, `jaxgan.evaluate`, `jaxgan.translate`):

    register(Kind("my_kind", restore=model_from_config))   # at import of the kind's module

`restore(config)` rebuilds the kind's networks from the workdir's config.json
as a `Model`: what the run can do, as functions of a checkpointed state (a
state dict: nested dicts of arrays, as orbax reads it back and as
`flax.serialization.to_state_dict` gives of a live state). A model that draws
from noise has a `generator`; one that maps images to images has
`translators`. The evaluators (jaxgan.evaluators) and the tools read models,
never kinds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import numpy as np

from jaxgan import kinds
from jaxgan.errors import ConfigError
from jaxgan.latent import Latent, LatentSpace

Array = jax.Array
StateDict = dict[str, Any]  # a training state as nested dicts of arrays


class Stream(Protocol):
  """Resumable batches: the batch of any step, and an iterator from any step on. A stream
  may also draw k steps' batches in one call, block_at(step, k) → stacked on a leading axis
  (the loop's --steps_per_call uses it; otherwise it stacks k batches of the iterator)."""

  def batch_at(self, step: int) -> Any: ...

  def iterate(self, start_step: int) -> Iterator[Any]: ...


class Trainer(NamedTuple):
  """Everything the loop needs to train one kind of model.

  Attributes:
    init: `(key, example_batch) -> state`: fresh state (a pytree with a `step` counter),
      one compiled program.
    step: `(state, batch, key) -> (state, metrics)`: compiled, pure, the state donated;
      metrics hold "finite" (jaxgan.step.all_finite).
    batches: the resumable Stream of the step's batches.
    evaluators: jaxgan.evaluators.Evaluator values, run every eval_every steps on the
      state as a state dict, and drawing their pictures every plot_every steps.
    describe: `() -> dict`: JSON for config.json: "kind" and what `Kind.restore` needs to
      rebuild the networks.
    log_terms: metric names shown right after the losses in the log line (penalties).
    summary: what the first log line says is trained ("on grid25, batch 128, n_critic 5").
    phases: later phases of the run, in the order of their first steps: from phase.start on,
      the loop calls phase.step on phase.batches (another compiled program on batches of
      another shape: the GAN's --n_critic_from). The state, the evaluators and the
      description stay the trainer's.
  """

  init: Callable[[Array, Any], Any]
  step: Callable[[Any, Any, Array], tuple[Any, dict[str, Array]]]
  batches: Stream
  evaluators: Sequence[Any]
  describe: Callable[[], dict[str, Any]]
  log_terms: Sequence[str] = ()
  summary: str = ""
  phases: Sequence[Phase] = ()


class Phase(NamedTuple):
  """A later part of a run (Trainer.phases): from step `start` on, `step` on `batches`.

  step and batches are as a Trainer's, on the same state; summary says what changed
  ("n_critic 2"), for the log line at the switch.
  """

  start: int
  step: Callable[[Any, Any, Array], tuple[Any, dict[str, Array]]]
  batches: Stream
  summary: str = ""


def phase_at(trainer: Trainer, step: int) -> tuple[Phase, int | None]:
  """The phase that trains `step` (the trainer's own first phase as a Phase at 0) and the
  first step of the next one (None for the last)."""
  phases = [Phase(0, trainer.step, trainer.batches, trainer.summary), *trainer.phases]
  index = max(i for i, phase in enumerate(phases) if phase.start <= step)
  following = phases[index + 1].start if index + 1 < len(phases) else None
  return phases[index], following


def run_keys(seed: int) -> tuple[Array, Array, Array]:
  """The keys of a run with this seed: (initialization, steps, evaluation)."""
  init_key, step_key, eval_key = jax.random.split(jax.random.key(seed), 3)
  return init_key, step_key, eval_key


# ---------------------------------------------------------------------------
# What a trained run can do.
# ---------------------------------------------------------------------------


class Styles(NamedTuple):
  """The two halves of a style-based generator (StyleGAN), as functions of a state dict.

  mapping(state, z, psi, cutoff) -> ws [N, num_ws, w_dim], truncated toward the run's w̄
  by ψ on the first `cutoff` ws (all when None); synthesis(state, ws) -> images [N, ...].
  Both numpy, in eval mode, with the sampling weights.
  """

  num_ws: int
  mapping: Callable[[StateDict, Array, float, int | None], np.ndarray]
  synthesis: Callable[[StateDict, Array], np.ndarray]


class Generator(NamedTuple):
  """A generator of a trained run, as functions of its state dict.

  space: where its inputs come from. generate(state, latent) -> outputs [N, ...]
  as numpy, in eval mode (the EMA weights when the run kept them). critic(state,
  points) -> D's scores [N] as numpy, where D scores single examples (the toy
  plots' contours), else None. styles: the mapping and synthesis halves of a
  style-based generator (truncation in W, style mixing, interpolation), else None.
  prompt: for a text-conditioned generator, prompt(text) → the Generator of that text (a
  one-line ConfigError for a text it cannot read), else None.
  """

  space: LatentSpace
  generate: Callable[[StateDict, Latent], np.ndarray]
  critic: Callable[[StateDict, Array], np.ndarray] | None = None
  styles: Styles | None = None
  prompt: Callable[[str], Generator] | None = None

  def sample(
    self,
    state: StateDict,
    key: Array,
    n: int,
    labels: Array | None = None,
    truncation: float | None = None,
    chunk: int = 500,
  ) -> tuple[np.ndarray, Latent]:
    """n samples as numpy (and the latent they came from), generated `chunk` at a time.

    Args:
      state: the run's state dict.
      key: the key of the noise.
      n: how many.
      labels: the classes to generate [n] (conditional generators; default uniform).
      truncation: truncate the noise to [−t, t] (see LatentSpace.sample).
      chunk: samples per call of the generator.

    Returns:
      (samples [n, ...] float32, their Latent).
    """
    latent = self.space.sample(key, (n,), labels, truncation)
    outputs = []
    for start in range(0, n, chunk):
      rows = slice(start, start + chunk)
      outputs.append(self.generate(state, jax.tree.map(lambda x, rows=rows: x[rows], latent)))
    return np.concatenate(outputs).astype(np.float32), latent


# translate(state, images [N, H, W, C] in [−1, 1], key) -> translations, numpy.
Translate = Callable[[StateDict, np.ndarray, Array], np.ndarray]


class Datasets(NamedTuple):
  """The data a run trained on (and its held-out split, where the evaluators use one)."""

  train: Any
  test: Any = None


class Model(NamedTuple):
  """A kind's trained networks, as the evaluators and the tools use them.

  generator: draws from noise (None for image-to-image models). translators:
  {"a_to_b": Translate, "b_to_a": ...} for image-to-image models. datasets():
  the run's data, loaded when first asked for. image_size: the size the
  translators work at.
  """

  datasets: Callable[[], Datasets]
  generator: Generator | None = None
  translators: Mapping[str, Translate] = {}
  image_size: int | None = None


# ---------------------------------------------------------------------------
# Kinds, by name.
# ---------------------------------------------------------------------------


class Kind(NamedTuple):
  """A kind of training: its name (config.json's "kind") and restore(config) -> Model."""

  name: str
  restore: Callable[[dict[str, Any]], Model]


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
  """Makes `kind` known by its name (a later registration of the name replaces it)."""
  _KINDS[kind.name] = kind
  return kind


def describe_kind(kind: Kind) -> dict[str, str]:
  """config.json's entries that find the kind again: its name and the module registering it."""
  return {"kind": kind.name, "kind_module": kind.restore.__module__}


def kind_of(config: dict[str, Any]) -> Kind:
  """The Kind that wrote config.json: registered, or registered by importing the module
  config.json names (or jaxgan.kinds.NAME), or a one-line ConfigError."""
  name = config.get("kind") or kinds.legacy_kind(config)
  for module in (config.get("kind_module"), f"jaxgan.kinds.{name}"):
    if name in _KINDS:
      break
    if module:
      try:
        importlib.import_module(module)
      except ImportError:
        continue
  if name not in _KINDS:
    raise ConfigError(
      f"this run was trained by kind {name!r}, which is not registered: import the module "
      f"that registers it ({config.get('kind_module') or 'unknown'}) first"
    )
  return _KINDS[name]
