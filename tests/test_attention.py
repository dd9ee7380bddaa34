"""Self-attention (SAGAN, BigGAN's form) against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models.attention import SelfAttention

RNG = np.random.default_rng(0)


def np_attention(x, kernels, gamma, pool=True):
  """BigGAN-PyTorch's layers.Attention in NHWC, float64."""
  b, h, w, c = x.shape

  def conv1x1(a, k):
    return np.einsum("bhwc,co->bhwo", a, np.asarray(k, np.float64)[0, 0])

  def pool2(a):
    return a.reshape(b, h // 2, 2, w // 2, 2, a.shape[-1]).max(axis=(2, 4))

  theta = conv1x1(x, kernels["theta"]).reshape(b, h * w, -1)
  phi, g = conv1x1(x, kernels["phi"]), conv1x1(x, kernels["g"])
  if pool:
    phi, g = pool2(phi), pool2(g)
  phi, g = phi.reshape(b, -1, phi.shape[-1]), g.reshape(b, -1, g.shape[-1])
  logits = theta @ phi.transpose(0, 2, 1)
  beta = np.exp(logits - logits.max(-1, keepdims=True))
  beta /= beta.sum(-1, keepdims=True)
  o = conv1x1((beta @ g).reshape(b, h, w, -1), kernels["o"])
  return x + gamma * o, beta


@pytest.mark.parametrize("pool", [True, False])
def test_attention_is_the_formula_and_starts_as_the_identity(pool):
  x = RNG.normal(size=(2, 4, 6, 16)).astype(np.float32)
  layer = SelfAttention(spectral_norm=False, pool=pool)
  variables = layer.init(jax.random.key(0), x)
  params = variables["params"]
  assert float(params["gamma"]) == 0.0
  np.testing.assert_array_equal(layer.apply(variables, x), x)  # γ = 0 at initialization
  shapes = {name: params[name]["kernel"].shape for name in ("theta", "phi", "g", "o")}
  assert shapes == {
    "theta": (1, 1, 16, 2), "phi": (1, 1, 16, 2), "g": (1, 1, 16, 8), "o": (1, 1, 8, 16)
  }  # fmt: skip
  params = {**params, "gamma": jnp.float32(0.7)}
  y, beta = layer.apply({"params": params}, x, return_attention=True)
  kernels = {name: params[name]["kernel"] for name in shapes}
  expected_y, expected_beta = np_attention(x.astype(np.float64), kernels, 0.7, pool)
  assert beta.shape == (2, 24, 6 if pool else 24)
  np.testing.assert_allclose(beta, expected_beta, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(y, expected_y, rtol=1e-4, atol=1e-5)


def test_every_1x1_conv_is_spectrally_normalized():
  x = RNG.normal(size=(2, 4, 4, 16)).astype(np.float32)
  variables = SelfAttention().init(jax.random.key(0), x)
  assert sorted(variables["spectral_norm"]) == ["g", "o", "phi", "theta"]


def test_bad_maps_are_refused():
  with pytest.raises(ValueError, match="divisible by 8"):
    SelfAttention().init(jax.random.key(0), jnp.zeros((1, 4, 4, 12)))
  with pytest.raises(ValueError, match="even size"):
    SelfAttention().init(jax.random.key(0), jnp.zeros((1, 5, 4, 16)))


@pytest.mark.parametrize("g_attention, d_attention", [(16, 16), (32, 8)])
def test_the_resnet_networks_place_attention_after_the_block_of_its_resolution(
  g_attention, d_attention
):
  from jaxgan.models import ResNetDiscriminator, ResNetGenerator

  G = ResNetGenerator(width=16, attention=g_attention)
  g_vars = G.init(jax.random.key(0), jnp.zeros((2, 8)), train=False)
  assert g_vars["params"]["SelfAttention_0"]["theta"]["kernel"].shape == (1, 1, 16, 2)
  captured = G.apply(g_vars, jnp.ones((2, 8)), train=False, capture_intermediates=True,
                     mutable=["intermediates"])[1]["intermediates"]  # fmt: skip
  assert captured["SelfAttention_0"]["__call__"][0].shape == (2, g_attention, g_attention, 16)
  D = ResNetDiscriminator(width=16, attention=d_attention)
  x = jnp.zeros((2, 32, 32, 3))
  d_vars = D.init(jax.random.key(1), x, train=False)
  captured = D.apply(d_vars, x, train=False, capture_intermediates=True,
                     mutable=["intermediates", "spectral_norm"])[1]["intermediates"]  # fmt: skip
  assert captured["SelfAttention_0"]["__call__"][0].shape == (2, d_attention, d_attention, 16)
  # γ = 0 at initialization: the networks compute what they did without the block
  plain = ResNetDiscriminator(width=16).apply(
    {k: {n: v for n, v in tree.items() if n != "SelfAttention_0"} for k, tree in d_vars.items()},
    x + 0.5, train=False,
  )  # fmt: skip
  np.testing.assert_allclose(D.apply(d_vars, x + 0.5, train=False), plain, rtol=1e-6)


def test_attention_at_a_resolution_the_network_does_not_have_is_refused():
  from jaxgan.models import ResNetDiscriminator, ResNetGenerator

  with pytest.raises(ValueError, match="no block at 4×4.*8, 16, 32"):
    ResNetGenerator(width=16, attention=4).init(jax.random.key(0), jnp.zeros((2, 8)), train=False)
  with pytest.raises(ValueError, match="no block at 32×32.*16, 8"):
    ResNetDiscriminator(width=16, attention=32).init(
      jax.random.key(0), jnp.zeros((2, 32, 32, 3)), train=False
    )
