"""The compiled train step: what it computes; it compiles once, donates, repeats exactly."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import data, loss_pairs, losses, models, penalties
from jaxgan import step as step_lib
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan, gan_updates

BATCH = 32


def small_spec(n_critic=3, loss="wasserstein", regs=True, ema=0.9, g_norm="none", d_norm="none"):
  def gp(inputs):
    return penalties.gradient_penalty(inputs.d_fn, inputs.real, inputs.fake, inputs.key)

  return gan.GANSpec(
    generator=models.MLPGenerator(hidden_dims=(16, 16), output_shape=(2,), normalization=g_norm),
    discriminator=models.MLPDiscriminator(hidden_dims=(16, 16), normalization=d_norm),
    latent_dim=3,
    loss=loss_pairs.loss_pair(loss),
    discriminator_regularizers=(gan.Regularizer("gradient_penalty", 0.1, gp),) if regs else (),
    generator_optimizer=optax.adam(1e-3, b1=0.5, b2=0.9),
    discriminator_optimizer=optax.adam(2e-3, b1=0.5, b2=0.9),
    n_critic=n_critic,
    ema_decay=ema,
  )


def stream(spec, seed=0):
  return data.ToyStream(data.get_toy("ring8"), BATCH, spec.n_critic, jax.random.key(seed))


def init(spec, seed=0):
  return gan.init_state(spec, jax.random.key(seed), stream(spec, seed).batch_at(0))


def run(spec, steps, seed=0, step_fn=None):
  step_fn = step_fn or gan.make_train_step(spec)
  s = stream(spec, seed)
  state = init(spec, seed)
  metrics = None
  for i in range(steps):
    state, metrics = step_fn(state, s.batch_at(i), jax.random.key(100 + seed))
  return state, metrics


def reference_step(spec, state, batch, key):
  """The step written out as plain Python: one critic update after another, then G, then EMA."""
  key = jax.random.fold_in(key, state.step)
  zd_key, d_key, zg_key, g_key = jax.random.split(key, 4)
  real = batch["x"]
  zs = spec.latent_space.sample(zd_key, (spec.n_critic, real.shape[1])).z
  d = state.discriminator
  for i, k in enumerate(jax.random.split(d_key, spec.n_critic)):
    g = state.generator
    fake = spec.generator.apply({"params": g.params, **g.model_state}, zs[i], train=True)
    d, _, _, _ = gan_updates.discriminator_update(spec, d, real[i], fake, k)
  latent = spec.latent_space.sample(zg_key, (real.shape[1],))
  g, _, _ = gan_updates.generator_update(spec, state.generator, d, real[-1], latent, g_key)
  ema = state.generator_ema
  ema_avg = jax.tree.map(
    lambda a, p: spec.ema_decay * a + (1 - spec.ema_decay) * p, ema.average, g.params
  )
  return g, d, ema_avg


def test_step_equals_the_plain_python_reference():
  spec = small_spec(n_critic=3)
  state = init(spec)
  batch = stream(spec).batch_at(0)
  key = jax.random.key(5)
  g_ref, d_ref, ema_ref = reference_step(spec, state, batch, key)
  new, _ = gan.make_train_step(spec, donate=False)(state, batch, key)
  chex.assert_trees_all_close(new.generator.params, g_ref.params, rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(new.discriminator.params, d_ref.params, rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(new.generator_ema.average, ema_ref, rtol=1e-5, atol=1e-6)
  assert int(new.step) == 1


def test_n_critic_discriminator_updates_per_generator_update():
  spec = small_spec(n_critic=4)
  state, _ = run(spec, 3)
  d_count = state.discriminator.opt_state[0].count  # optax.adam: (ScaleByAdamState, ...)
  g_count = state.generator.opt_state[0].count
  assert (int(d_count), int(g_count)) == (12, 3)
  assert int(state.generator_ema.count) == 3


def test_metrics_name_every_quantity():
  spec = small_spec()
  _, metrics = run(spec, 1)
  for name in (
    "d_loss",
    "g_loss",
    "gradient_penalty",
    "d_real",
    "d_fake",
    "d_grad_norm",
    "g_grad_norm",
  ):
    assert name in metrics and metrics[name].shape == (), name
  assert float(metrics["finite"]) == 1.0
  # d_loss is the adversarial loss alone: the total adds λ·penalty.
  np.testing.assert_allclose(
    metrics["d_total_loss"], metrics["d_loss"] + 0.1 * metrics["gradient_penalty"], rtol=1e-5
  )


def test_compiles_once():
  spec = small_spec()
  chex.clear_trace_counter()

  @chex.assert_max_traces(n=1)
  def step(state, batch, key):
    return gan.train_step(spec, state, batch, key)

  run(spec, 4, step_fn=jax.jit(step, donate_argnums=0))  # a second trace would raise


def test_recompilation_is_an_error():
  spec = small_spec(n_critic=1)
  step = gan.make_train_step(spec)
  state = init(spec)
  state, _ = step(state, stream(spec).batch_at(0), jax.random.key(0))
  other = data.ToyStream(data.get_toy("ring8"), BATCH * 2, 1, jax.random.key(0)).batch_at(0)
  with pytest.raises(step_lib.RecompilationError, match="traced 2 times") as error:
    step(state, other, jax.random.key(0))
  assert f"float32[1, {BATCH}, 2] → float32[1, {2 * BATCH}, 2]" in str(error.value)


def test_state_buffers_are_donated():
  spec = small_spec()
  state = init(spec)
  leaf = state.discriminator.params["Dense_0"]["kernel"]
  gan.make_train_step(spec)(state, stream(spec).batch_at(0), jax.random.key(0))
  assert leaf.is_deleted()


def test_bit_for_bit_deterministic():
  spec = small_spec()
  a, _ = run(spec, 5, seed=1)
  b, _ = run(spec, 5, seed=1)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)
  c, _ = run(spec, 5, seed=2)
  assert not np.array_equal(
    a.generator.params["Dense_0"]["kernel"], c.generator.params["Dense_0"]["kernel"]
  )


def test_batch_norm_generator_updates_its_statistics():
  spec = small_spec(g_norm="batch")
  state = init(spec)
  before = jax.tree.map(np.asarray, state.generator.model_state)
  state, metrics = run(spec, 2)
  after = state.generator.model_state
  assert "batch_stats" in after
  assert not np.allclose(
    before["batch_stats"]["BatchNorm_0"]["mean"], after["batch_stats"]["BatchNorm_0"]["mean"]
  )
  assert float(metrics["finite"]) == 1.0


def test_batch_norm_discriminator_keeps_real_and_fake_batches_apart():
  """With BatchNorm in D, D(real) and D(fake) are separate passes (DCGAN's practice)."""
  spec = small_spec(regs=False, loss="non_saturating", d_norm="batch")
  state = init(spec)
  d = state.discriminator
  real, fake = jnp.ones((4, 2)), jnp.zeros((4, 2))
  real_out, fake_out, _ = gan_updates.discriminate(spec, d.params, d.model_state, real, fake, None)
  alone, _ = step_lib.apply_model(spec.discriminator, d.params, d.model_state, real, True)
  np.testing.assert_allclose(real_out["adv"], alone, rtol=1e-6)
  state, metrics = run(spec, 2)
  assert float(metrics["finite"]) == 1.0


def test_relativistic_generator_reads_real_scores():
  pair = loss_pairs.loss_pair("relativistic_average")
  assert pair.generator_uses_real
  spec = small_spec(loss="relativistic_average", regs=False, n_critic=1)
  _, metrics = run(spec, 2)
  assert np.isfinite(float(metrics["g_loss"]))


def test_loss_pairs_call_the_losses():
  real, fake = jnp.array([0.5, -1.0]), jnp.array([2.0, 0.0])
  r, f = {"adv": real}, {"adv": fake}
  pair = loss_pairs.loss_pair("non_saturating", label_smoothing=0.1)
  np.testing.assert_allclose(
    pair.discriminator(r, f, ()),
    losses.minimax_discriminator_loss(real, fake, label_smoothing=0.1),
  )
  np.testing.assert_allclose(
    pair.generator(None, f, ()), losses.non_saturating_generator_loss(fake)
  )
  np.testing.assert_allclose(
    loss_pairs.loss_pair("minimax").generator(None, f, ()), losses.minimax_generator_loss(fake)
  )
  np.testing.assert_allclose(
    loss_pairs.loss_pair("hinge").discriminator(r, f, ()),
    losses.hinge_discriminator_loss(real, fake),
  )
  features = {"adv": real, "features": jnp.array([[1.0, 2.0], [3.0, 4.0]])}
  fake_features = {"adv": fake, "features": jnp.array([[0.0, 0.0], [1.0, 1.0]])}
  matching = loss_pairs.loss_pair("feature_matching")
  assert matching.generator_uses_real
  np.testing.assert_allclose(matching.generator(features, fake_features, ()), 1.5**2 + 2.5**2)


def test_began_pair_updates_k_after_each_discriminator_update():
  pair = loss_pairs.loss_pair("began")
  k = pair.init_state()
  real, fake = {"adv": jnp.array([0.4, 0.6])}, {"adv": jnp.array([0.1, 0.1])}
  np.testing.assert_allclose(pair.discriminator(real, fake, 0.5), 0.5 - 0.5 * 0.1)
  np.testing.assert_allclose(pair.generator(None, fake, 0.5), 0.1)
  k, metrics = pair.update_state(k, real, fake)
  np.testing.assert_allclose(k, 1e-3 * (0.5 * 0.5 - 0.1), rtol=1e-6)  # from k_0 = 0
  np.testing.assert_allclose(metrics["began_m"], 0.5 + abs(0.25 - 0.1), rtol=1e-6)


def test_bad_specs_are_config_errors():
  with pytest.raises(ConfigError, match="unknown loss 'wasserstien'"):
    loss_pairs.loss_pair("wasserstien")
  with pytest.raises(ConfigError, match="label smoothing"):
    loss_pairs.loss_pair("hinge", label_smoothing=0.1)
  with pytest.raises(ConfigError, match="n_critic must be at least 1"):
    small_spec(n_critic=0)
  reg = gan.Regularizer("r1", 1.0, lambda i: 0.0)
  with pytest.raises(ConfigError, match="unique"):
    gan.GANSpec(
      generator=models.MLPGenerator(),
      discriminator=models.MLPDiscriminator(),
      latent_dim=2,
      loss=loss_pairs.loss_pair("hinge"),
      generator_optimizer=optax.adam(1e-3),
      discriminator_optimizer=optax.adam(1e-3),
      discriminator_regularizers=(reg, reg),
    )


@pytest.mark.parametrize(
  "batch, key, fragments",
  [
    ({"x": jnp.zeros((BATCH, 2))}, 0, ["leading n_critic=2 axis", f"({BATCH}, 2)"]),
    ({"x": jnp.zeros((3, BATCH, 2))}, 0, ["leading n_critic=2 axis", f"(3, {BATCH}, 2)"]),
    ({"y": jnp.zeros((2, BATCH, 2))}, 0, ["under 'x'", "['y']"]),
    ({"x": jnp.zeros((2, BATCH, 2), jnp.int32)}, 0, ["holds int32", "floats"]),
    ({"x": jnp.zeros((2, BATCH, 3))}, 0, ["generator makes examples of shape (2,)", "are (3,)"]),
    ({"x": jnp.zeros((2, BATCH, 2))}, 7, ["must be a JAX random key", "int32[]"]),
  ],
  ids=["no critic axis", "other n_critic", "no x", "integers", "other example shape", "int key"],
)
def test_a_batch_the_step_cannot_take_gets_a_config_error(batch, key, fragments):
  """Checked on shapes when the step is traced; the message names the problem, not JAX's
  internals."""
  spec = small_spec(n_critic=2)
  state = init(spec)
  step = gan.make_train_step(spec)
  key = jax.random.key(0) if key == 0 else key
  with pytest.raises(ConfigError) as error:
    step(state, batch, key)
  for fragment in fragments:
    assert fragment in str(error.value)
  # a failed trace does not count towards max_traces: the right batch still compiles
  step(state, stream(spec).batch_at(0), jax.random.key(0))


def test_init_state_checks_the_generator_against_the_data():
  spec = small_spec(n_critic=1)
  with pytest.raises(ConfigError, match=r"makes examples of shape \(2,\) but the data's are"):
    gan.init_state(spec, jax.random.key(0), {"x": jnp.zeros((1, BATCH, 5))})


def test_conditional_batches_need_integer_labels_per_example():
  spec = dataclasses.replace(small_spec(n_critic=1), num_classes=3)
  x = jnp.zeros((1, BATCH, 2))
  with pytest.raises(ConfigError, match="needs batches with labels"):
    gan.init_state(spec, jax.random.key(0), {"x": x})
  state = gan.init_state(spec, jax.random.key(0), {"x": x, "label": jnp.zeros((1, BATCH), int)})
  for labels in (jnp.zeros((BATCH,), int), jnp.zeros((1, BATCH), jnp.float32)):
    with pytest.raises(
      ConfigError, match=rf"batch\['label'\] must be integers of shape \(1, {BATCH}\)"
    ):
      gan.make_train_step(spec)(state, {"x": x, "label": labels}, jax.random.key(0))


def test_generator_params_prefers_the_ema():
  spec = small_spec()
  state = init(spec)
  assert gan.generator_params(state) is state.generator_ema.average
  no_ema = init(small_spec(ema=None))
  assert gan.generator_params(no_ema) is no_ema.generator.params


def test_accumulated_steps_equal_one_step_on_the_whole_batch():
  """--accumulate=k: k micro-batches of B/k give the update of one batch of B (no batch
  statistics; R1 is a mean over examples, so it accumulates exactly too)."""

  def r1(inputs):
    return penalties.r1_penalty(inputs.d_fn, inputs.real)

  spec = dataclasses.replace(
    small_spec(n_critic=2, loss="non_saturating", regs=False),
    discriminator_regularizers=(gan.Regularizer("r1", 1.0, r1),),
  )
  whole, _ = run(spec, 3)
  accumulated, metrics = run(dataclasses.replace(spec, accumulate=4), 3)
  chex.assert_trees_all_close(accumulated.generator.params, whole.generator.params, atol=2e-6)
  chex.assert_trees_all_close(
    accumulated.discriminator.params, whole.discriminator.params, atol=2e-6
  )
  assert set(metrics) >= {"d_loss", "g_loss", "r1", "d_grad_norm"}


def test_microbatches_are_strided_and_merge_back():
  x = jnp.arange(12.0).reshape(6, 2)
  split = step_lib.split_microbatches(x, 3)
  np.testing.assert_array_equal(split[1], x[np.array([1, 4])])
  np.testing.assert_array_equal(step_lib.merge_microbatches(split), x)


def test_accumulate_that_does_not_divide_the_batch_is_a_config_error():
  spec = dataclasses.replace(small_spec(), accumulate=5)
  with pytest.raises(ConfigError, match="accumulate=5 does not divide the batch of 32"):
    init(spec)
  with pytest.raises(ConfigError, match="accumulate must be at least 1"):
    dataclasses.replace(small_spec(), accumulate=0)
