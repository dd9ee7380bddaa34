"""Standing statistics (BigGAN): the mean of the per-batch BatchNorm moments, against numpy."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import models
from jaxgan.kinds import gan
from jaxgan.latent import LatentSpace
from jaxgan.models.standing_stats import standing_statistics


def test_standing_statistics_are_the_mean_of_the_batch_moments(rng):
  G = models.MLPGenerator(hidden_dims=(8,), output_shape=(2,), normalization="batch")
  variables = G.init(jax.random.key(0), jnp.zeros((4, 3)), train=False)
  params = variables["params"]
  model_state = {"batch_stats": variables["batch_stats"]}
  zs = rng.normal(size=(5, 16, 3)).astype(np.float32)

  state = standing_statistics(G, params, model_state, jnp.asarray(zs))

  kernel = np.asarray(params["Dense_0"]["kernel"], np.float64)
  bias = np.asarray(params["Dense_0"]["bias"], np.float64)
  hidden = zs.astype(np.float64) @ kernel + bias  # [n, B, 8]: what BatchNorm_0 sees
  stats = state["batch_stats"]["BatchNorm_0"]
  np.testing.assert_allclose(stats["mean"], hidden.mean(axis=1).mean(axis=0), atol=1e-5)
  np.testing.assert_allclose(stats["var"], hidden.var(axis=1).mean(axis=0), atol=1e-5)
  # the running averages the state came with are not what it leaves with
  assert not np.allclose(stats["mean"], model_state["batch_stats"]["BatchNorm_0"]["mean"])


def test_conditional_batchnorm_statistics_stand_too(rng):
  G = models.ResNetGenerator(width=16, num_classes=3)
  z = jnp.zeros((4, 8))
  variables = G.init(jax.random.key(0), z, jnp.zeros(4, jnp.int32), train=False)
  model_state = {k: v for k, v in variables.items() if k != "params"}
  zs = jnp.asarray(rng.normal(size=(2, 4, 8)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 3, size=(2, 4)), jnp.int32)
  state = standing_statistics(G, variables["params"], model_state, zs, labels)
  before = jax.tree.leaves(model_state["batch_stats"])
  after = jax.tree.leaves(state["batch_stats"])
  assert len(before) == len(after) == 14  # (3 blocks × 2 conditional BNs + the last) × (μ, σ²)
  assert all(a.shape == b.shape for a, b in zip(before, after, strict=True))
  assert not any(np.allclose(a, b) for a, b in zip(before, after, strict=True))


def test_a_generator_without_batchnorm_is_left_as_it_is():
  G = models.MLPGenerator(hidden_dims=(8,), output_shape=(2,))
  variables = G.init(jax.random.key(0), jnp.zeros((4, 3)), train=False)
  assert standing_statistics(G, variables["params"], {}, jnp.zeros((2, 4, 3))) == {}


def test_the_gan_samples_with_standing_statistics_once_per_state(rng):
  G = models.MLPGenerator(hidden_dims=(8,), output_shape=(2,), normalization="batch")
  space = LatentSpace(3)
  variables = G.init(jax.random.key(0), jnp.zeros((4, 3)), train=False)
  state = {
    "generator": {
      "params": variables["params"],
      "model_state": {"batch_stats": variables["batch_stats"]},
    },
    "generator_ema": None,
  }
  latent = space.sample(jax.random.key(1), (6,))
  view = gan.generator_view(G, None, space, standing=(4, 16))
  plain = gan.generator_view(G, None, space)

  standing = standing_statistics(
    G, variables["params"], state["generator"]["model_state"], *_draws(space, 4, 16)
  )
  expected = G.apply({"params": variables["params"], **standing}, latent.z, train=False)
  np.testing.assert_allclose(view.generate(state, latent), expected, atol=1e-5)
  assert not np.allclose(plain.generate(state, latent), expected, atol=1e-3)


def _draws(space, batches, batch_size):
  latent = space.sample(jax.random.key(0), (batches, batch_size))
  return latent.z, latent.labels
