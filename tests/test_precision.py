"""Mixed precision (jaxgan.precision): networks compute in bfloat16, parameters, optimizer state,
losses, penalties and normalization statistics stay float32; float32 changes nothing."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest

from jaxgan import data, loss_pairs, models, penalties, precision
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan
from jaxgan.models import stylegan2
from jaxgan.models.layers import BatchNorm

BATCH = 16
PRODUCTS = ("dot_general", "conv_general_dilated")


def sub_jaxprs(value):
  """The jaxprs inside an equation's parameter (scan, cond, custom_jvp, pjit bodies)."""
  if isinstance(value, jax.extend.core.ClosedJaxpr):
    yield value.jaxpr
  elif isinstance(value, jax.extend.core.Jaxpr):
    yield value
  elif isinstance(value, tuple | list):
    for item in value:
      yield from sub_jaxprs(item)


def equations(jaxpr):
  """Every equation of jaxpr and of the jaxprs nested in it."""
  for eqn in jaxpr.eqns:
    yield eqn
    for value in eqn.params.values():
      for inner in sub_jaxprs(value):
        yield from equations(inner)


def product_dtypes(fn, *args) -> list[tuple[str, tuple]]:
  """(primitive, operand dtypes) of every matrix product and convolution fn computes, but
  matrix-vector products (spectral normalization's power iteration, kept in float32)."""
  jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
  return [
    (eqn.primitive.name, tuple(str(v.aval.dtype) for v in eqn.invars))
    for eqn in equations(jaxpr)
    if eqn.primitive.name in PRODUCTS and min(v.aval.ndim for v in eqn.invars) > 1
  ]


def matrix_vector_dtypes(fn, *args) -> set[tuple]:
  jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
  return {
    tuple(str(v.aval.dtype) for v in eqn.invars)
    for eqn in equations(jaxpr)
    if eqn.primitive.name == "dot_general" and min(v.aval.ndim for v in eqn.invars) == 1
  }


def wgan_gp_spec(generator, discriminator, latent_dim, compute_dtype="bfloat16", **fields):
  def gp(inputs):
    return penalties.gradient_penalty(inputs.d_fn, inputs.real, inputs.fake, inputs.key)

  return gan.GANSpec(
    generator=precision.compute_in(generator, compute_dtype),
    discriminator=precision.compute_in(discriminator, compute_dtype),
    latent_dim=latent_dim,
    loss=loss_pairs.loss_pair("wasserstein"),
    discriminator_regularizers=(gan.Regularizer("gradient_penalty", 10.0, gp),),
    generator_optimizer=optax.adam(1e-3, b1=0.5, b2=0.9),
    discriminator_optimizer=optax.adam(1e-3, b1=0.5, b2=0.9),
    n_critic=2,
    ema_decay=0.9,
    **fields,
  )


def toy_spec(compute_dtype="bfloat16"):
  return wgan_gp_spec(
    models.MLPGenerator(hidden_dims=(32, 32), output_shape=(2,), normalization="batch"),
    models.MLPDiscriminator(hidden_dims=(32, 32), normalization="layer"),
    4,
    compute_dtype,
  )


def toy_batch(spec):
  return data.ToyStream(data.get_toy("ring8"), BATCH, spec.n_critic, jax.random.key(1)).batch_at(0)


def image_batch(spec, size=8, channels=1, labels=False):
  x = jax.random.uniform(jax.random.key(2), (spec.n_critic, BATCH, size, size, channels))
  batch = {"x": 2 * x - 1}
  if labels:
    batch["label"] = jnp.arange(spec.n_critic * BATCH).reshape(spec.n_critic, BATCH) % 3
  return batch


def dcgan_spec():
  """DCGAN with projection conditioning (conditional BatchNorm in G), spectral norm in D."""
  return wgan_gp_spec(
    models.DCGANGenerator(
      image_size=8, channels=1, width=8, num_classes=3, conditioning="projection"
    ),
    models.DCGANDiscriminator(
      image_size=8, width=8, spectral_norm=True, num_classes=3, conditioning="projection"
    ),
    8,
    num_classes=3,
    label_to_discriminator=True,
  )


def stylegan2_spec():
  generator = stylegan2.StyleGAN2Generator(
    image_size=8, channels=1, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8
  )
  discriminator = stylegan2.StyleGAN2Discriminator(image_size=8, channel_base=64, channel_max=8)
  return wgan_gp_spec(generator, discriminator, 8)


CASES = {
  "mlp": (toy_spec, toy_batch),
  "dcgan_projection_sn": (dcgan_spec, lambda s: image_batch(s, labels=True)),
  "stylegan2": (stylegan2_spec, image_batch),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_product_of_the_step_runs_in_bfloat16_and_the_state_stays_float32(case):
  make_spec, make_batch = CASES[case]
  spec = make_spec()
  batch = make_batch(spec)
  key = jax.random.key(0)
  state = gan.init_state(spec, key, batch)
  step = gan.make_train_step(spec)
  products = product_dtypes(step.pure, state, batch, key)
  # the forward passes, both backward passes and the penalty's double backward
  assert len(products) > 20
  assert {dtypes for _, dtypes in products} == {("bfloat16", "bfloat16")}, [
    p for p in products if p[1] != ("bfloat16", "bfloat16")
  ]
  # spectral normalization's power iteration: in float32, as a normalization's statistics
  assert matrix_vector_dtypes(step.pure, state, batch, key) <= {("float32", "float32")}
  new_state, metrics = jax.eval_shape(step.pure, state, batch, key)
  assert jax.tree.map(lambda a: a.dtype, new_state) == jax.tree.map(lambda a: a.dtype, state)
  assert {value.dtype for value in metrics.values()} == {jnp.dtype(jnp.float32)}


def test_a_bfloat16_step_with_its_penalty_stays_finite():
  """The gradient penalty's double backward through bfloat16 networks, run for a few steps."""
  spec = toy_spec()
  batch = toy_batch(spec)
  step = gan.make_train_step(spec)
  state = gan.init_state(spec, jax.random.key(0), batch)
  for i in range(3):
    state, metrics = step(state, batch, jax.random.key(i))
  for name, value in metrics.items():
    assert np.isfinite(value), name
  assert float(metrics["gradient_penalty"]) > 0
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state.discriminator.params))


def test_float32_leaves_the_network_itself_and_the_step_unchanged():
  module = models.MLPGenerator(hidden_dims=(8,))
  assert precision.compute_in(module, "float32") is module
  assert precision.compute_in(None, "bfloat16") is None
  spec = toy_spec("float32")
  batch = toy_batch(spec)
  dtypes = {d for _, d in product_dtypes(gan.make_train_step(spec).pure, *_state(spec, batch))}
  assert dtypes == {("float32", "float32")}


def _state(spec, batch):
  key = jax.random.key(0)
  return gan.init_state(spec, key, batch), batch, key


def test_a_bfloat16_state_is_a_float32_checkpoint():
  """The same variables, names and dtypes: a run can resume in the other precision."""
  batch = toy_batch(toy_spec())
  wide, narrow = (
    gan.init_state(toy_spec(d), jax.random.key(0), batch) for d in precision.COMPUTE_DTYPES
  )
  assert jax.tree.structure(wide) == jax.tree.structure(narrow)
  equal = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), wide, narrow)
  assert all(jax.tree.leaves(equal))


def test_a_clone_still_computes_in_bfloat16():
  """Progressive growing clones its networks per resolution (jaxgan.kinds.progressive)."""
  G = precision.compute_in(models.MLPGenerator(hidden_dims=(8,)), "bfloat16")
  wider = G.clone(hidden_dims=(16,))
  assert isinstance(wider, precision.ComputeIn) and wider.dtype == jnp.bfloat16
  assert wider.hidden_dims == (16,) and G.hidden_dims == (8,)


def test_cast_floats_casts_floating_arrays_alone():
  tree = {
    "x": jnp.ones(3),
    "n": jnp.arange(3),
    "key": jax.random.key(0),
    "flag": jnp.array(True),
    "scale": 0.5,
    "host": np.ones(2),
  }
  cast = precision.cast_floats(tree, jnp.bfloat16)
  assert cast["x"].dtype == jnp.bfloat16 and cast["host"].dtype == jnp.bfloat16
  assert cast["n"].dtype == jnp.int32 and cast["flag"].dtype == jnp.bool_
  assert cast["key"] is tree["key"] and cast["scale"] == 0.5


def bf16(x):
  """x rounded to bfloat16 (round to nearest even), back in float64."""
  return np.asarray(x, np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)


def test_a_bfloat16_mlp_equals_numpy_on_bfloat16_rounded_values():
  """Each layer: its inputs and weights rounded to bfloat16, the product accumulated in (at
  least) float32 and rounded to bfloat16, the ReLU; the output back in float32."""
  module = models.MLPDiscriminator(hidden_dims=(64, 64), weight_init="pytorch")
  x = np.random.default_rng(0).normal(size=(32, 5)).astype(np.float32)
  variables = module.init(jax.random.key(0), x, train=False)
  out = precision.compute_in(module, "bfloat16").apply(variables, jnp.asarray(x), train=False)
  assert out.dtype == jnp.float32
  h = bf16(x)
  params = variables["params"]
  for i in range(3):
    layer = params[f"Dense_{i}"]
    h = bf16(h @ bf16(layer["kernel"]) + bf16(layer["bias"]))
    if i < 2:
      h = np.maximum(h, 0)
  np.testing.assert_allclose(np.asarray(out), h[:, 0], rtol=2**-7, atol=1e-3)
  wide = module.apply(variables, x, train=False)
  assert np.max(np.abs(np.asarray(out) - np.asarray(wide))) > 0  # it did compute narrower


def test_batchnorm_statistics_of_bfloat16_activations_are_taken_in_float32():
  """Activations far from 0 with a small spread: the statistics of the bfloat16 values in
  float32 normalize them as numpy does in float64; the running averages stay float32."""
  x = (64.0 + np.random.default_rng(1).normal(size=(256, 4))).astype(np.float32)
  x16 = jnp.asarray(x, jnp.bfloat16)
  norm = BatchNorm()
  variables = norm.init(jax.random.key(0), x16, train=False)
  y, updates = norm.apply(variables, x16, train=True, mutable=["batch_stats"])
  assert y.dtype == jnp.bfloat16
  assert updates["batch_stats"]["mean"].dtype == jnp.float32
  rounded = bf16(x)
  expected = (rounded - rounded.mean(0)) / np.sqrt(rounded.var(0) + 1e-5)
  np.testing.assert_allclose(np.asarray(y, np.float64), expected, atol=0.02)
  np.testing.assert_allclose(updates["batch_stats"]["mean"], 0.1 * rounded.mean(0), rtol=1e-6)
  reductions = {
    str(v.aval.dtype)
    for eqn in equations(
      jax.make_jaxpr(lambda v: norm.apply(v, x16, train=True, mutable=["batch_stats"]))(
        variables
      ).jaxpr
    )
    if eqn.primitive.name == "reduce_sum"
    for v in eqn.invars
  }
  assert reductions == {"float32"}


def test_stylegan2_truncates_and_samples_in_bfloat16():
  spec = stylegan2_spec()
  G = spec.generator
  z = jax.random.normal(jax.random.key(3), (4, 8))
  variables = jax.eval_shape(lambda: G.init(jax.random.key(0), z, train=False))

  def sample(variables):
    ws = G.apply(variables, z, truncation_psi=0.7, method=G.mapping)
    return ws, G.apply(variables, ws, method=G.synthesis)

  ws, images = jax.eval_shape(sample, variables)
  assert ws.dtype == images.dtype == jnp.float32 and images.shape == (4, 8, 8, 1)


def test_the_flag_wraps_the_experiment_networks_and_names_the_dtypes():
  from jaxgan import builders
  from jaxgan.config import GANConfig

  config = GANConfig(compute_dtype="bfloat16", dataset="ring8")
  dataset = builders.load_dataset(config)
  spec = builders.gan_spec(config, dataset, loss_pairs.loss_pair("wasserstein"))
  assert isinstance(spec.generator, precision.ComputeIn)
  assert isinstance(spec.discriminator, precision.ComputeIn)
  plain = builders.gan_spec(
    dataclasses.replace(config, compute_dtype="float32"),
    dataset,
    loss_pairs.loss_pair("wasserstein"),
  )
  assert isinstance(plain.generator, models.MLPGenerator)
  with pytest.raises(ConfigError, match="float32, bfloat16"):
    precision.compute_dtype("float16")


def test_a_bfloat16_run_samples_in_bfloat16_from_its_workdir(tmp_path):
  """The run's config records the dtype: jaxgan.sample's code remakes G computing in it."""
  from conftest import experiment_module
  from test_steps_per_call import TOY

  from jaxgan import runs

  module = experiment_module("wgan_gp.py")
  settings = dict(TOY, num_steps=4, eval_every=4, plot_every=4, num_devices=1)
  module.main(module.Config(workdir=str(tmp_path), compute_dtype="bfloat16", **settings))
  description = runs.read_run_config(str(tmp_path))["generator"]
  assert description["compute_dtype"] == "bfloat16"
  generator = models.build(description)
  assert isinstance(generator, precision.ComputeIn) and generator.dtype == jnp.bfloat16
  assert json.loads(json.dumps(models.describe(generator))) == description
  samples = runs.sample_run(str(tmp_path), 16, seed=0)
  assert samples.shape == (16, 2) and samples.dtype == np.float32
  assert np.all(np.isfinite(samples))
