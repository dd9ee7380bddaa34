"""BigGAN's networks: the paper's size, class-conditional BN, hierarchical z, D's blocks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import np_conv_same

from jaxgan.models import biggan

RNG = np.random.default_rng(0)


def _count(variables) -> int:
  return sum(math.prod(a.shape) for a in jax.tree.leaves(variables["params"]))


def test_the_imagenet_128_networks_have_the_papers_size():
  """ch = 96, hierarchical z of 120, shared embedding 128, attention at 64: BigGAN's
  Table 1 gives 158.3M parameters for G and D together (BigGAN-PyTorch: 70.4M + 88.0M)."""
  G = biggan.BigGANGenerator(image_size=128, width=96, latent_dim=120, num_classes=1000)
  D = biggan.BigGANDiscriminator(image_size=128, width=96, num_classes=1000)
  labels = jnp.zeros(2, jnp.int32)
  g = jax.eval_shape(lambda: G.init(jax.random.key(0), jnp.zeros((2, 120)), labels, train=False))
  d = jax.eval_shape(
    lambda: D.init(jax.random.key(0), jnp.zeros((2, 128, 128, 3)), labels, train=False)
  )
  assert _count(g) / 1e6 == pytest.approx(70.43, abs=0.01)
  assert _count(d) / 1e6 == pytest.approx(87.98, abs=0.01)
  assert (_count(g) + _count(d)) / 1e6 == pytest.approx(158.3, rel=1e-3)


def test_class_conditional_batchnorm_is_the_formula():
  x = jnp.asarray(RNG.normal(size=(6, 4, 4, 8)), jnp.float32)
  c = jnp.asarray(RNG.normal(size=(6, 5)), jnp.float32)
  layer = biggan.ConditionalBatchNorm(spectral_norm=False)
  variables = layer.init(jax.random.key(0), x, c, True)
  y, _ = layer.apply(variables, x, c, True, mutable=["batch_stats"])
  w_gain = np.asarray(variables["params"]["gain"]["kernel"], np.float64)
  w_bias = np.asarray(variables["params"]["bias"]["kernel"], np.float64)
  xn = np.asarray(x, np.float64)
  normalized = (xn - xn.mean(axis=(0, 1, 2))) / np.sqrt(xn.var(axis=(0, 1, 2)) + 1e-5)
  c64 = np.asarray(c, np.float64)
  expected = normalized * (1 + c64 @ w_gain)[:, None, None] + (c64 @ w_bias)[:, None, None]
  np.testing.assert_allclose(y, expected, atol=1e-4)


def test_the_hierarchical_latent_feeds_one_chunk_to_each_block():
  G = biggan.BigGANGenerator(image_size=32, width=8, latent_dim=32, num_classes=10, attention=0)
  z = jnp.asarray(RNG.normal(size=(4, 32)), jnp.float32)
  labels = jnp.arange(4)
  variables = G.init(jax.random.key(0), z, labels, train=False)
  params = variables["params"]
  assert params["Dense_0"]["kernel"].shape == (8, 4 * 4 * 32)  # z_0: the first chunk of 8
  gain = params["GeneratorBlock_2"]["ConditionalBatchNorm_0"]["gain"]["kernel"]
  assert gain.shape == (128 + 8, 32)  # [shared embedding, z_3]
  base = G.apply(variables, z, labels, train=False)
  for chunk in range(4):  # every chunk changes the image
    moved = z.at[:, chunk * 8 : (chunk + 1) * 8].add(1.0)
    assert not np.allclose(G.apply(variables, moved, labels, train=False), base, atol=1e-4)
  with pytest.raises(ValueError, match="divisible by 4, not 30"):
    biggan.BigGANGenerator(image_size=32, latent_dim=30, attention=0).init(
      jax.random.key(0), jnp.zeros((2, 30)), train=False
    )


def test_orthogonal_initialization():
  G = biggan.BigGANGenerator(image_size=16, channels=1, width=8, latent_dim=24, attention=0)
  params = G.init(jax.random.key(0), jnp.zeros((2, 24)), train=False)["params"]
  kernel = np.asarray(params["GeneratorBlock_0"]["Conv_0"]["kernel"]).reshape(-1, 32)
  np.testing.assert_allclose(kernel.T @ kernel, np.eye(32), atol=1e-5)


@pytest.mark.parametrize("preactivation", [False, True])
def test_discriminator_block_is_the_formula(preactivation):
  x = jnp.asarray(RNG.normal(size=(2, 8, 8, 4)), jnp.float32)
  block = biggan.DiscriminatorBlock(6, preactivation=preactivation, spectral_norm=False)
  params = block.init(jax.random.key(1), x, True)["params"]
  k = {name: np.asarray(p["kernel"], np.float64) for name, p in params.items()}
  b = {name: np.asarray(p["bias"], np.float64) for name, p in params.items()}

  def conv(a, name):
    return np_conv_same(a, k[name]) + b[name]

  def pool(a):
    return a.reshape(2, 4, 2, 4, 2, -1).mean(axis=(2, 4))

  relu = lambda a: np.maximum(a, 0)  # noqa: E731
  xn = np.asarray(x, np.float64)
  h = pool(conv(relu(conv(relu(xn) if preactivation else xn, "Conv_0")), "Conv_1"))
  shortcut = pool(conv(xn, "Conv_2")) if preactivation else conv(pool(xn), "Conv_2")
  np.testing.assert_allclose(block.apply({"params": params}, x, True), h + shortcut, atol=1e-4)


def test_attention_goes_where_the_network_has_that_resolution():
  D = biggan.BigGANDiscriminator(image_size=32, width=8, num_classes=10, attention=8)
  assert D.block_resolutions() == (16, 8, 8, 8)
  x = jnp.zeros((2, 32, 32, 3))
  params = D.init(jax.random.key(0), x, jnp.zeros(2, jnp.int32), train=False)["params"]
  assert [name for name in params if "Attention" in name] == ["SelfAttention_0"]
  with pytest.raises(ValueError, match="no block at 32×32"):
    biggan.BigGANDiscriminator(image_size=32, width=8, attention=32).init(
      jax.random.key(0), x, train=False
    )
