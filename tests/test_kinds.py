"""A kind of training is a plug-in: one defined here, outside jaxgan/, trains through the public
loop with checkpoints, resumes exactly, and is sampled and evaluated by jaxgan's tools; the
shared modules name no kind; old workdirs still load."""

import ast
import dataclasses
import functools
import glob
import json
import os
import shutil

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import ROOT, TINY, assert_ok, run

from jaxgan import data, evaluators, loop, models, runs, trainer
from jaxgan.config import LoopConfig
from jaxgan.errors import ConfigError
from jaxgan.latent import LatentSpace
from jaxgan.step import PlayerState, all_finite, apply_model, compile_step, init_player

# ---------------------------------------------------------------------------
# A new kind: a generative moment-matching network (Li, Swersky & Zemel 2015), G trained
# to minimize the MMD between its samples and the data, no discriminator.
# ---------------------------------------------------------------------------


def mmd2(x, y, bandwidths=(0.5, 1.0, 2.0)):
  """The biased MMD² of samples x, y under a sum of Gaussian kernels (Li et al. 2015, eq. 2)."""

  def kernel(a, b):
    d2 = jnp.sum((a[:, None] - b[None]) ** 2, axis=-1)
    return sum(jnp.exp(-d2 / (2 * s**2)) for s in bandwidths)

  return jnp.mean(kernel(x, x)) + jnp.mean(kernel(y, y)) - 2 * jnp.mean(kernel(x, y))


@flax.struct.dataclass
class MomentMatchingState:
  step: jax.Array
  generator: PlayerState


@dataclasses.dataclass(frozen=True)
class MomentMatchingSpec:
  generator: models.MLPGenerator
  optimizer: optax.GradientTransformation
  latent_dim: int = 2


def init_state(spec, key, batch):
  z = jnp.zeros((batch["x"].shape[1], spec.latent_dim))
  return MomentMatchingState(
    jnp.zeros([], jnp.int32), init_player(spec.generator, key, z, optimizer=spec.optimizer)
  )


def train_step(spec, state, batch, key):
  real = batch["x"][0]
  z = jax.random.normal(jax.random.fold_in(key, state.step), (real.shape[0], spec.latent_dim))
  g = state.generator

  def loss(params):
    fake, model_state = apply_model(spec.generator, params, g.model_state, z, True)
    return mmd2(fake, real), model_state

  (value, model_state), grads = jax.value_and_grad(loss, has_aux=True)(g.params)
  updates, opt_state = spec.optimizer.update(grads, g.opt_state, g.params)
  generator = PlayerState(optax.apply_updates(g.params, updates), model_state, opt_state)
  metrics = {"mmd2": value, "g_loss": value}
  metrics["finite"] = all_finite(metrics)
  return MomentMatchingState(state.step + 1, generator), metrics


def generator_view(module, space):
  @jax.jit
  def generate(params, model_state, z):
    return apply_model(module, params, model_state, z, False)[0]

  def from_state(state, latent):
    g = state["generator"]
    return np.asarray(generate(g["params"], g["model_state"], latent.z))

  return trainer.Generator(space, from_state)


def restore(config):
  dataset = data.get_toy(config["dataset"])
  return trainer.Model(
    datasets=lambda: trainer.Datasets(dataset),
    generator=generator_view(models.build(config["generator"]), LatentSpace(2)),
  )


KIND = trainer.register(trainer.Kind("moment_matching_test", restore))


def make_trainer(spec, dataset, config):
  model = restore({"dataset": dataset.name, "generator": models.describe(spec.generator)})
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=compile_step(functools.partial(train_step, spec)),
    batches=data.make_stream(dataset, config.batch_size, 1, config.seed),
    evaluators=evaluators.for_training(["mode_coverage"], model, config),
    describe=lambda: {
      **trainer.describe_kind(KIND),
      "dataset": dataset.name,
      "generator": models.describe(spec.generator),
    },
    log_terms=("mmd2",),
    summary=f"of a moment-matching network on {dataset.name}",
  )


SPEC = MomentMatchingSpec(
  models.MLPGenerator(hidden_dims=(32, 32), output_shape=(2,), output_scale=2.0),
  optax.adam(1e-2),
)


def train(workdir, num_steps, **settings):
  config = LoopConfig(
    workdir=str(workdir),
    num_steps=num_steps,
    batch_size=64,
    log_every=2,
    checkpoint_every=2,
    eval_every=num_steps,
    plot_every=num_steps,
    num_eval_samples=500,
    **settings,
  )
  return loop.run_training(make_trainer(SPEC, data.get_toy("ring8"), config), config)


def generator_params(workdir):
  return runs.restore(str(workdir)).state["generator"]["params"]


def test_a_kind_defined_outside_jaxgan_trains_resumes_samples_and_evaluates(tmp_path):
  results = train(tmp_path / "whole", 6)
  assert results["step"] == 6 and results["num_samples"] == 500 and 0 <= results["modes"] <= 8
  assert os.path.exists(tmp_path / "whole" / "plots" / "samples_0000006.png")
  records = [json.loads(line) for line in open(tmp_path / "whole" / "metrics.jsonl")]
  assert [r["step"] for r in records if "mmd2" in r] == [2, 4, 6]
  assert records[0]["mmd2"] > records[-2]["mmd2"]  # it learns

  train(tmp_path / "resumed", 4)  # stopped after step 4, then the same command with 6 steps
  train(tmp_path / "resumed", 6)
  chex_equal = jax.tree.map(
    np.array_equal, generator_params(tmp_path / "whole"), generator_params(tmp_path / "resumed")
  )
  assert all(jax.tree.leaves(chex_equal)), "the resumed run differs from the uninterrupted one"

  samples = runs.sample_run(str(tmp_path / "whole"), 300, seed=1)
  assert samples.shape == (300, 2) and samples.dtype == np.float32
  from jaxgan import evaluate  # here: the tool defines its flags, and so does jaxgan.sample

  evaluation = evaluate.evaluate_run(str(tmp_path / "whole"), 500)
  assert evaluation["num_modes"] == 8 and "mode coverage of 500 samples" in evaluation["summary"]


def test_the_command_line_tools_find_a_plugged_in_kind_by_its_module(tmp_path):
  """config.json names the module that registered the kind: python -m jaxgan.sample imports it."""
  train(tmp_path / "run", 2)
  config = runs.read_run_config(str(tmp_path / "run"))
  assert config["kind"] == "moment_matching_test" and config["kind_module"] == __name__
  env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "tests")}
  out = str(tmp_path / "s.npy")
  proc = run(
    ["-m", "jaxgan.sample", f"--workdir={tmp_path / 'run'}", "--num_samples=10", f"--output={out}"],
    env=env,
  )
  assert_ok(proc)
  assert np.load(out).shape == (10, 2)
  png = str(tmp_path / "s.png")
  proc = run(["-m", "jaxgan.sample", f"--workdir={tmp_path / 'run'}", f"--output={png}"], env=env)
  assert_ok(proc)
  assert open(png, "rb").read(4) == b"\x89PNG"
  proc = run(
    ["-m", "jaxgan.evaluate", f"--workdir={tmp_path / 'run'}", "--num_samples=300"], env=env
  )
  assert_ok(proc)
  assert "mode coverage of 300 samples" in proc.stdout


def test_an_unknown_kind_is_a_one_line_error():
  with pytest.raises(ConfigError, match="kind 'no_such_kind', which is not registered"):
    trainer.kind_of({"kind": "no_such_kind", "kind_module": "no.such.module"})


# ---------------------------------------------------------------------------
# The shared modules know no kind; flags are read only in main.
# ---------------------------------------------------------------------------

KIND_FREE = [
  "loop.py",
  "evaluate.py",
  "sample.py",
  "evaluators.py",
  "runs.py",
  "translate.py",
  "trainer.py",
  "cli.py",
  "step.py",
]
KIND_NAMES = (
  "gan",
  "pix2pix",
  "cyclegan",
  "ganspec",
  "pix2pixspec",
  "cycleganspec",
  "image_to_image",
  "kinds",
)


def code_names(path):
  """Every identifier a module's code uses: names, attributes, imported modules and names."""
  tree = ast.parse(open(path).read())
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Name):
      names.add(node.id)
    elif isinstance(node, ast.Attribute):
      names.add(node.attr)
    elif isinstance(node, ast.alias):
      names.update(node.name.split("."))
    elif isinstance(node, ast.ImportFrom) and node.module:
      names.update(node.module.split("."))
  return {name.lower() for name in names}


@pytest.mark.parametrize("module", KIND_FREE)
def test_shared_modules_name_no_kind(module):
  used = code_names(os.path.join(ROOT, "jaxgan", module)) & set(KIND_NAMES)
  if module == "trainer.py":
    used -= {"kinds"}  # kind_of asks jaxgan.kinds for the names of runs written before kinds
  assert not used, f"jaxgan/{module} names {sorted(used)}"


def test_flags_are_read_only_in_main():
  """Outside cli.py, FLAGS is read only inside a function called main."""
  paths = glob.glob(os.path.join(ROOT, "jaxgan", "**", "*.py"), recursive=True)
  paths += glob.glob(os.path.join(ROOT, "experiments", "*.py"))
  offenders = []
  for path in paths:
    if path == os.path.join(ROOT, "jaxgan", "cli.py"):
      continue
    tree = ast.parse(open(path).read())
    in_main = {
      id(node)
      for function in ast.walk(tree)
      if isinstance(function, ast.FunctionDef) and function.name == "main"
      for node in ast.walk(function)
    }
    offenders += [
      f"{os.path.relpath(path, ROOT)}:{node.lineno}"
      for node in ast.walk(tree)
      if isinstance(node, ast.Attribute)
      and getattr(node.value, "id", "") == "FLAGS"
      and id(node) not in in_main
    ]
  assert not offenders, offenders


# ---------------------------------------------------------------------------
# Workdirs written before kinds had names.
# ---------------------------------------------------------------------------

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "workdirs_before_kinds")


def old_workdir(name, tmp_path):
  workdir = tmp_path / name
  shutil.copytree(os.path.join(FIXTURES, name), workdir)
  return str(workdir)


def test_an_old_gan_workdir_samples_and_resumes(tmp_path):
  """A 4-step wgan_gp run on ring8 written by jaxgan before this layout (config.json without
  "kind", its checkpoint of step 4) samples, evaluates and trains on from step 4."""
  workdir = old_workdir("wgan_gp_ring8", tmp_path)
  assert "kind" not in runs.read_run_config(workdir)
  samples = runs.sample_run(workdir, 100, seed=0)
  assert samples.shape == (100, 2) and np.all(np.isfinite(samples))
  from jaxgan import evaluate

  assert evaluate.evaluate_run(workdir, 200)["num_modes"] == 8
  proc = run(
    [
      "experiments/wgan_gp.py",
      f"--workdir={workdir}",
      "--dataset=ring8",
      "--num_steps=6",
      "--checkpoint_every=2",
      "--plot_every=6",
      "--eval_every=6",
      *TINY,
    ]
  )
  assert_ok(proc)
  assert "resuming from the checkpoint at step 4" in proc.stdout
  assert runs.read_run_config(workdir)["kind"] == "gan"


def test_old_translation_workdirs_find_their_kinds(tmp_path):
  """The CycleGAN fixture (with its checkpoint) translates both ways; pix2pix's config.json
  is recognized by its experiment."""
  workdir = old_workdir("cyclegan_digits", tmp_path)
  restored = runs.restore(workdir)
  assert sorted(restored.model.translators) == ["a_to_b", "b_to_a"]
  images = np.zeros((3, 16, 16, 1), np.float32)
  out = restored.model.translators["b_to_a"](restored.state, images, jax.random.key(0))
  assert out.shape == (3, 16, 16, 1) and np.all(np.abs(out) <= 1)
  pix2pix_config = runs.read_run_config(old_workdir("pix2pix_digits", tmp_path))
  assert trainer.kind_of(pix2pix_config).name == "pix2pix"
  assert trainer.kind_of(pix2pix_config).restore(pix2pix_config).image_size == 16


def import_graph():
  """{module: the jaxgan modules it imports, at its top or inside functions}."""
  graph = {}
  for path in glob.glob(os.path.join(ROOT, "jaxgan", "**", "*.py"), recursive=True):
    name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
    imported = set()
    for node in ast.walk(ast.parse(open(path).read())):
      if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxgan"):
        for alias in node.names:  # `from jaxgan import x`: x may be a module
          module = f"{node.module}.{alias.name}"
          is_module = os.path.exists(os.path.join(ROOT, *module.split(".")) + ".py")
          is_package = os.path.isdir(os.path.join(ROOT, *module.split(".")))
          imported.add(module if is_module or is_package else node.module)
      elif isinstance(node, ast.Import):
        imported |= {a.name for a in node.names if a.name.startswith("jaxgan")}
    graph[name] = imported - {name}
  return graph


def test_no_import_cycles():
  graph = import_graph()
  state, cycles = {}, []

  def visit(module, path):
    state[module] = "open"
    for dependency in sorted(graph.get(module, ())):
      if state.get(dependency) == "open":
        cycles.append(path[path.index(dependency) :] + [dependency])
      elif dependency not in state:
        visit(dependency, [*path, dependency])
    state[module] = "done"

  for module in sorted(graph):
    if module not in state:
      visit(module, [module])
  assert not cycles, cycles
