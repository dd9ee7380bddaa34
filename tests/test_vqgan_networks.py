"""VQGAN's encoder/decoder pieces against numpy, and the autoencoder's shapes and codes."""

import jax
import jax.numpy as jnp
import numpy as np
from conftest import np_conv_same

from jaxgan.models import vqgan

RNG = np.random.default_rng(0)


def test_attention_block_is_the_formula():
  x = jnp.asarray(RNG.normal(size=(2, 4, 4, 8)), jnp.float32)
  block = vqgan.AttentionBlock()
  params = block.init(jax.random.key(0), x)["params"]
  xn = np.asarray(x, np.float64).reshape(2, 16, 8)
  groups = xn.reshape(2, 16, 8, 1)  # gcd(32, 8) = 8 groups of one channel
  mean = groups.mean(axis=(1, 3), keepdims=True)
  var = groups.var(axis=(1, 3), keepdims=True)
  normed = ((groups - mean) / np.sqrt(var + 1e-6)).reshape(2, 16, 8)
  normed = normed * np.asarray(params["GroupNorm_0"]["scale"]) + np.asarray(
    params["GroupNorm_0"]["bias"]
  )

  def proj(a, name):
    p = params[name]
    return a @ np.asarray(p["kernel"])[0, 0] + np.asarray(p["bias"])

  q, k, v = (proj(normed, n) for n in ("q", "k", "v"))
  logits = np.einsum("bic,bjc->bij", q, k) / np.sqrt(8)
  weights = np.exp(logits - logits.max(-1, keepdims=True))
  weights /= weights.sum(-1, keepdims=True)
  expected = xn + proj(np.einsum("bij,bjc->bic", weights, v), "proj_out")
  got = block.apply({"params": params}, x).reshape(2, 16, 8)
  np.testing.assert_allclose(got, expected, atol=1e-4)


def test_downsampling_pads_right_and_bottom_only():
  x = jnp.asarray(RNG.normal(size=(1, 6, 6, 2)), jnp.float32)
  conv = vqgan.nn.Conv(3, (3, 3), strides=2, padding="VALID")
  params = conv.init(jax.random.key(0), jnp.zeros((1, 7, 7, 2)))
  got = vqgan.downsample(x, lambda a: conv.apply(params, a))
  kernel = np.asarray(params["params"]["kernel"], np.float64)
  padded = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 1), (0, 1), (0, 0)))
  full = np_conv_same(padded, kernel)  # 'same' on the padded map, centred at (i+1, j+1)
  expected = full[:, 1::2, 1::2][:, :3, :3] + np.asarray(params["params"]["bias"])
  np.testing.assert_allclose(got, expected, atol=1e-4)


def test_the_autoencoder_codes_a_grid_and_decodes_it():
  model = vqgan.VQAutoencoder(
    channels=1,
    width=8,
    channel_multipliers=(1, 2, 2),
    num_res_blocks=1,
    attn_resolutions=(4,),
    z_channels=8,
    num_codes=16,
    code_dim=4,
  )
  x = jnp.asarray(RNG.uniform(-1, 1, size=(2, 16, 16, 1)), jnp.float32)
  variables = model.init(jax.random.key(0), x, False)
  reconstruction, quantized = model.apply(variables, x, False)
  assert reconstruction.shape == x.shape and quantized.codes.shape == (2, 4, 4)
  codes = model.apply(variables, x, method=model.encode)
  np.testing.assert_array_equal(codes, quantized.codes)
  decoded = model.apply(variables, codes, method=model.decode_codes)
  np.testing.assert_allclose(decoded, reconstruction, atol=1e-5)
