"""The optax pieces against their definitions, computed step by step in numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import optim


def j(x):
  return jnp.asarray(x, jnp.float32)


@pytest.mark.parametrize("c", [0.01, 0.5])
def test_clip_weights_keeps_parameters_in_range(rng, c):
  clip = optim.clip_weights(c)
  # Parameters and updates of very different sizes, so that rounding of θ + (clip − θ) is tested.
  for scale in (1e-3, 1.0, 1e3):
    params = {"w": j(rng.normal(0, scale, (64, 64))), "b": j(rng.normal(0, scale, 64))}
    updates = {"w": j(rng.normal(0, scale, (64, 64))), "b": j(rng.normal(0, scale, 64))}
    clipped, _ = clip.update(updates, clip.init(params), params)
    new = optax.apply_updates(params, clipped)
    leaves = zip(*map(jax.tree.leaves, (new, params, updates)), strict=True)
    for leaf, p, u in leaves:
      leaf = np.asarray(leaf)
      assert leaf.max() <= np.float32(c) and leaf.min() >= -np.float32(c)
      expected = np.clip(np.asarray(p, np.float64) + np.asarray(u, np.float64), -c, c)
      np.testing.assert_allclose(leaf, expected, rtol=1e-6, atol=1e-6 * scale)


def test_clip_weights_needs_params():
  clip = optim.clip_weights(0.1)
  with pytest.raises(ValueError, match="needs the parameters"):
    clip.update({"w": jnp.zeros(2)}, clip.init(None))
  with pytest.raises(ValueError, match="positive"):
    optim.clip_weights(0.0)


def test_wgan_rmsprop_matches_torch_rmsprop_then_clipping(rng):
  """torch.optim.RMSprop (α = 0.99, ε = 1e-8 outside the root), then clamp to ±c, by hand."""
  lr, c = 5e-5 * 100, 0.01  # a larger lr so that some weights reach the clip
  params = j(rng.uniform(-c, c, 50))
  opt = optim.wgan_rmsprop(lr, c)
  state = opt.init(params)
  p_np, v = np.asarray(params, np.float64), np.zeros(50)
  for _ in range(5):
    g = rng.normal(0, 1, 50)
    updates, state = opt.update(j(g), state, params)
    params = optax.apply_updates(params, updates)
    v = 0.99 * v + 0.01 * g**2
    p_np = np.clip(p_np - lr * g / (np.sqrt(v) + 1e-8), -c, c)
    np.testing.assert_allclose(params, p_np, rtol=1e-5, atol=1e-8)
  assert np.abs(np.asarray(params)).max() <= np.float32(c)
  assert np.isclose(np.abs(p_np).max(), c)  # the clip was active


@pytest.mark.parametrize("warmup, start", [(False, 0), (True, 0), (False, 3)])
def test_parameter_ema_matches_recursion(rng, warmup, start):
  decay = 0.9
  ema = optim.parameter_ema(decay, warmup=warmup, start=start)
  params = {"w": j(rng.normal(size=4))}
  state = ema.init(params)
  average = np.asarray(params["w"], np.float64)
  np.testing.assert_array_equal(state.average["w"], params["w"])
  for t in range(6):
    params = {"w": j(rng.normal(size=4))}
    state = ema.update(params, state)
    d = min(decay, (1 + t) / (10 + t)) if warmup else decay
    d = 0.0 if t < start else d  # BigGAN's ema_start: a copy of G until then
    average = d * average + (1 - d) * np.asarray(params["w"], np.float64)
    np.testing.assert_allclose(state.average["w"], average, rtol=1e-5)
  assert int(state.count) == 6
  with pytest.raises(ValueError):
    optim.parameter_ema(1.0)


def test_ema_init_copies_parameters():
  """The average must own its buffers: the train step donates G's parameters."""
  params = {"w": jnp.ones(3)}
  state = optim.parameter_ema(0.99).init(params)
  assert state.average["w"].unsafe_buffer_pointer() != params["w"].unsafe_buffer_pointer()


def test_historical_averaging_adds_the_penalty_gradient(rng):
  weight = 0.3
  ha = optim.historical_averaging(weight)
  params = j(rng.normal(size=5))
  state = ha.init(params)
  history = []
  for _ in range(4):
    params = j(rng.normal(size=5))
    history.append(np.asarray(params, np.float64))
    grads = j(rng.normal(size=5))
    updates, state = ha.update(grads, state, params)
    average = np.mean(history, axis=0)
    expected = np.asarray(grads, np.float64) + weight * 2 * (history[-1] - average)
    np.testing.assert_allclose(updates, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.average, average, rtol=1e-5, atol=1e-6)


def test_learning_rate_schedule():
  assert optim.learning_rate_schedule(1e-3, "constant", 100) == 1e-3
  linear = optim.learning_rate_schedule(1e-3, "linear", 100)
  np.testing.assert_allclose([linear(0), linear(50), linear(100), linear(200)], [1e-3, 5e-4, 0, 0])
  with pytest.raises(ValueError, match="unknown schedule"):
    optim.learning_rate_schedule(1e-3, "cosine", 10)


@pytest.mark.parametrize("decay_start", [0.5, 0.3, 0.0])
def test_constant_then_linear_schedule(decay_start):
  """Constant up to decay_start · num_steps, then a straight line to 0 at num_steps (numpy)."""
  counts = np.arange(0, 121)
  start = decay_start * 100
  expected = 2e-4 * np.where(counts < start, 1.0, np.clip((100 - counts) / (100 - start), 0, 1))
  schedule = optim.learning_rate_schedule(2e-4, "constant_then_linear", 100, decay_start)
  np.testing.assert_allclose(jax.vmap(schedule)(counts), expected, rtol=1e-6, atol=1e-12)
  # The start may be a traced number (a population grid's): the same rates under jit.
  traced = jax.jit(
    lambda s: jax.vmap(optim.learning_rate_schedule(2e-4, "constant_then_linear", 100, s))(counts)
  )
  np.testing.assert_allclose(traced(decay_start), expected, rtol=1e-6, atol=1e-12)
