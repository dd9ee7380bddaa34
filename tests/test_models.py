"""The image models' layers against direct computations, and the models' shapes and heads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses, models
from jaxgan.models import conv, gan_layers

TOL = dict(rtol=1e-4, atol=1e-5)


def lax_conv(x, kernel, stride, padding):
  return jax.lax.conv_general_dilated(
    x, kernel, (stride, stride), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
  )


# ---------------------------------------------------------------------------
# Convolutions.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("x_shape", [(6, 5), (2, 3, 4, 5)])
def test_weight_matmul_is_a_matmul_to_every_order(rng, x_shape):
  """weight_matmul only changes how XLA computes the weight gradient: its value, both
  gradients, a gradient of a gradient (as in a gradient penalty) and forward mode
  equal those of x @ W, computed in float64 by numpy where they have a closed form."""
  x = jnp.asarray(rng.normal(size=x_shape), jnp.float32)
  w = jnp.asarray(rng.normal(size=(x_shape[-1], 3)), jnp.float32)
  dy = jnp.asarray(rng.normal(size=(*x_shape[:-1], 3)), jnp.float32)
  xn, wn, dyn = (np.asarray(a, np.float64) for a in (x, w, dy))
  np.testing.assert_allclose(conv.weight_matmul(x, w), xn @ wn, **TOL)

  _, vjp = jax.vjp(jax.jit(conv.weight_matmul), x, w)
  dx, dw = vjp(dy)
  np.testing.assert_allclose(dx, dyn @ wn.T, **TOL)
  rows, grad_rows = xn.reshape(-1, xn.shape[-1]), dyn.reshape(-1, 3)
  np.testing.assert_allclose(dw, rows.T @ grad_rows, **TOL)

  def penalty(f):  # ‖∂/∂x Σ tanh(x W)‖², differentiated in W
    def norm(w):
      return jnp.sum(jax.grad(lambda x: jnp.sum(jnp.tanh(f(x, w))))(x) ** 2)

    return jax.grad(norm)(w)

  np.testing.assert_allclose(penalty(conv.weight_matmul), penalty(jnp.matmul), rtol=1e-4, atol=1e-5)
  tangents = (jnp.ones_like(x), jnp.full_like(w, 0.5))
  _, jvp = jax.jvp(conv.weight_matmul, (x, w), tangents)
  np.testing.assert_allclose(jvp, np.ones(x_shape) @ wn + xn @ np.full(wn.shape, 0.5), **TOL)


@pytest.mark.parametrize(
  "shape, k, stride, padding",
  [
    ((2, 8, 8, 3), 4, 2, ((1, 1), (1, 1))),
    ((2, 7, 9, 4), 3, 1, ((1, 1), (1, 1))),
    ((1, 6, 6, 5), 2, 1, ((1, 0), (0, 1))),
    ((3, 5, 5, 2), 1, 1, ((0, 0), (0, 0))),
    ((2, 9, 9, 3), 3, 2, ((1, 1), (1, 1))),
  ],
)
def test_patch_convolution_equals_lax(rng, shape, k, stride, padding):
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(k, k, shape[-1], 6)), jnp.float32)
  np.testing.assert_allclose(
    conv.conv2d(x, kernel, stride, padding), lax_conv(x, kernel, stride, padding), **TOL
  )

  # Gradients of first and second order (a gradient penalty differentiates twice).
  def penalty(impl):
    def input_grad_norm(kernel):
      g = jax.grad(lambda x: jnp.sum(jnp.tanh(impl(x, kernel, stride, padding))))(x)
      return jnp.sum(g**2)

    return jax.grad(input_grad_norm)(kernel)

  np.testing.assert_allclose(penalty(conv.conv2d), penalty(lax_conv), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
  "impl",
  [conv.conv_transpose_by_phases, conv.conv_transpose_by_contributions, conv.conv_transpose_4x4_s2],
)
@pytest.mark.parametrize("shape, out", [((2, 4, 4, 3), 5), ((1, 3, 6, 2), 4), ((2, 8, 8, 8), 3)])
def test_transposed_convolution_equals_lax_conv_transpose(rng, shape, out, impl):
  """Both exact forms (and the dispatch between them) against lax.conv_transpose and the
  scatter definition; gradients against lax's."""
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(4, 4, shape[-1], out)), jnp.float32)
  phases = impl(x, kernel)
  assert phases.shape == (shape[0], 2 * shape[1], 2 * shape[2], out)
  np.testing.assert_allclose(phases, conv.conv_transpose_reference(x, kernel), **TOL)

  def gradients(f):
    return jax.grad(lambda x, k: jnp.sum(jnp.sin(f(x, k))), argnums=(0, 1))(x, kernel)

  for ours, theirs in zip(gradients(impl), gradients(conv.conv_transpose_reference), strict=True):
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
  # ... and the scatter definition of PyTorch's ConvTranspose2d(4, stride 2, padding 1).
  xn, kn = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
  full = np.zeros((shape[0], 2 * shape[1] + 2, 2 * shape[2] + 2, out))
  for r in range(shape[1]):
    for c in range(shape[2]):
      for i in range(4):
        for j in range(4):
          full[:, 2 * r + i, 2 * c + j] += xn[:, r, c] @ kn[i, j]
  np.testing.assert_allclose(phases, full[:, 1:-1, 1:-1], **TOL)


def test_convolutions_by_xla_traces_xla_convolutions_with_the_same_values(rng):
  """convolutions_by("xla") swaps the matrix products for XLA's convolutions (what
  benchmarks/step.py --conv=xla compares on a GPU): same values and gradients."""
  x = jnp.asarray(rng.normal(size=(2, 8, 8, 3)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(4, 4, 3, 5)), jnp.float32)
  padding = ((1, 1), (1, 1))

  def both(x, kernel):
    return conv.conv2d(x, kernel, 2, padding), conv.conv_transpose_4x4_s2(x, kernel)

  def gradients(x, kernel):
    return jax.grad(lambda x, k: sum(jnp.sum(jnp.sin(y)) for y in both(x, k)), (0, 1))(x, kernel)

  with conv.convolutions_by("xla"):
    jaxpr = str(jax.make_jaxpr(both)(x, kernel))
    by_xla, grads_by_xla = both(x, kernel), gradients(x, kernel)
  assert "conv_general_dilated" in jaxpr and "dot_general" not in jaxpr
  # Reset on exit (a fresh function: JAX caches a function's trace, whose choice it keeps).
  assert "conv_general_dilated" not in str(jax.make_jaxpr(lambda x, k: both(x, k))(x, kernel))
  ours = (*both(x, kernel), *gradients(x, kernel))
  for mine, xla in zip(ours, (*by_xla, *grads_by_xla), strict=True):
    np.testing.assert_allclose(mine, xla, rtol=1e-3, atol=1e-4)
  with pytest.raises(ValueError, match="unknown convolution implementation 'cudnn': use one of"):
    with conv.convolutions_by("cudnn"):
      pass


def test_spectral_norm_divides_by_the_largest_singular_value(rng):
  kernel = jnp.asarray(rng.normal(size=(3, 3, 4, 8)), jnp.float32)
  sigma = np.linalg.svd(np.asarray(kernel).reshape(-1, 8), compute_uv=False)[0]
  sn = conv.SpectralNorm()
  variables = sn.init(jax.random.key(0), kernel, train=True)
  for _ in range(50):  # one power-iteration step per training call
    normalized, variables = sn.apply(variables, kernel, train=True, mutable=["spectral_norm"])
  np.testing.assert_allclose(np.asarray(kernel) / np.asarray(normalized), sigma, rtol=1e-4)
  largest = np.linalg.svd(np.asarray(normalized).reshape(-1, 8), compute_uv=False)[0]
  np.testing.assert_allclose(largest, 1.0, rtol=1e-4)
  # In evaluation u stays as it is.
  _, unchanged = sn.apply(variables, kernel, train=False, mutable=["spectral_norm"])
  np.testing.assert_array_equal(unchanged["spectral_norm"]["u"], variables["spectral_norm"]["u"])


# ---------------------------------------------------------------------------
# GAN layers.
# ---------------------------------------------------------------------------


def test_minibatch_discrimination_matches_formula(rng):
  f = rng.normal(size=(6, 5)).astype(np.float32)
  layer = gan_layers.MinibatchDiscrimination(num_kernels=4, kernel_dim=3)
  variables = layer.init(jax.random.key(0), f)
  out = layer.apply(variables, f)
  t = np.asarray(variables["params"]["T"], np.float64).reshape(5, 4, 3)
  m = np.einsum("ba,akc->bkc", f.astype(np.float64), t)
  o = np.zeros((6, 4))
  for i in range(6):
    for j in range(6):
      o[i] += np.exp(-np.abs(m[i] - m[j]).sum(-1))
  np.testing.assert_allclose(out, np.concatenate([f, o], axis=1), **TOL)


def test_minibatch_stddev_matches_formula(rng):
  x = rng.normal(size=(8, 3, 3, 2)).astype(np.float32)
  out = gan_layers.MinibatchStdDev(group_size=4).apply({}, x)
  assert out.shape == (8, 3, 3, 3)
  groups = x.reshape(4, 2, 3, 3, 2).astype(np.float64)  # example i in group i mod 2
  per_group = np.sqrt(groups.var(axis=0) + 1e-8).reshape(2, -1).mean(axis=1)
  np.testing.assert_allclose(out[..., :2], x)
  np.testing.assert_allclose(out[:, 0, 0, 2], np.tile(per_group, 4), rtol=1e-5)


def test_conditional_batchnorm_and_projection(rng):
  x = rng.normal(1.0, 2.0, size=(6, 4)).astype(np.float32)
  labels = np.array([0, 1, 2, 0, 1, 2])
  cbn = gan_layers.ConditionalBatchNorm(num_classes=3)
  variables = cbn.init(jax.random.key(0), x, labels, train=True)
  gamma = rng.normal(size=(3, 4)).astype(np.float32)
  beta = rng.normal(size=(3, 4)).astype(np.float32)
  params = {"Embed_0": {"embedding": gamma}, "Embed_1": {"embedding": beta}}
  y, _ = cbn.apply({**variables, "params": params}, x, labels, train=True, mutable=["batch_stats"])
  normalized = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
  np.testing.assert_allclose(y, normalized * gamma[labels] + beta[labels], **TOL)

  projection = gan_layers.Projection(num_classes=3)
  pv = projection.init(jax.random.key(1), x, labels)
  v = np.asarray(pv["params"]["Dense_0"]["kernel"])  # [classes, features]
  np.testing.assert_allclose(projection.apply(pv, x, labels), np.sum(v[labels] * x, axis=1), **TOL)


# ---------------------------------------------------------------------------
# Whole models.
# ---------------------------------------------------------------------------


def init_apply(module, *args):
  """module's variables, and its output on args in evaluation mode (compiled once)."""

  @jax.jit
  def run(*args):
    variables = module.init(jax.random.key(0), *args, train=False)
    return module.apply(variables, *args, train=False), variables

  return run(*args)


@pytest.mark.parametrize("size, channels", [(16, 1), (32, 3), (64, 3)])
def test_dcgan_shapes(size, channels):
  z = jnp.ones((2, 16))
  images, g_vars = init_apply(models.DCGANGenerator(size, channels, width=8), z)
  assert images.shape == (2, size, size, channels)
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  scores, _ = init_apply(models.DCGANDiscriminator(size, width=8, normalization="batch"), images)
  assert scores.shape == (2,)
  assert "batch_stats" in g_vars


def test_dcgan_conditional_and_heads():
  z, labels, x = jnp.ones((4, 8)), jnp.arange(4) % 3, jnp.zeros((4, 16, 16, 1))
  for conditioning in ("concat", "projection"):
    g = models.DCGANGenerator(16, 1, width=8, num_classes=3, conditioning=conditioning)
    images, _ = init_apply(g, z, labels)
    assert images.shape == (4, 16, 16, 1)
    d = models.DCGANDiscriminator(16, width=8, num_classes=3, conditioning=conditioning)
    assert init_apply(d, x, labels)[0].shape == (4,)
  heads = models.DCGANDiscriminator(
    16,
    width=8,
    aux_classes=3,
    info_categorical=(10, 4),
    info_continuous=2,
    return_features=True,
    minibatch_discrimination=5,
    minibatch_stddev=True,
  )
  out, _ = init_apply(heads, x)
  assert out["adv"].shape == (4,) and out["class_logits"].shape == (4, 3)
  assert [c.shape for c in out["code_logits"]] == [(4, 10), (4, 4)]
  assert out["code_mean"].shape == (4, 2) and out["features"].ndim == 2
  with pytest.raises(ValueError, match="pass labels"):
    init_apply(models.DCGANGenerator(16, 1, width=8, num_classes=3), z)
  with pytest.raises(ValueError, match="not 4·2"):
    init_apply(models.DCGANGenerator(24, 1, width=8), z)


def test_resnet_shapes_and_spectral_norm_state():
  z, labels, x = jnp.ones((2, 8)), jnp.array([0, 2]), jnp.zeros((2, 32, 32, 3))
  images, _ = init_apply(models.ResNetGenerator(width=8, num_classes=3), z, labels)
  assert images.shape == (2, 32, 32, 3)
  scores, variables = init_apply(models.ResNetDiscriminator(width=8, num_classes=3), x, labels)
  assert scores.shape == (2,) and "spectral_norm" in variables


def test_began_discriminator_scores_by_reconstruction(rng):
  x = jnp.asarray(rng.uniform(-1, 1, size=(3, 16, 16, 1)), jnp.float32)
  out, _ = init_apply(models.BEGANDiscriminator(16, filters=4, embedding=8), x)
  np.testing.assert_allclose(
    out["adv"], losses.began_reconstruction_loss(x, out["reconstruction"]), rtol=1e-6
  )
  images, _ = init_apply(models.BEGANGenerator(16, 1, filters=4), jnp.ones((3, 8)))
  assert images.shape == (3, 16, 16, 1)


def test_models_round_trip_through_their_description():
  g = models.DCGANDiscriminator(16, width=8, info_categorical=(10,), info_continuous=2)
  import json

  rebuilt = models.build(json.loads(json.dumps(models.describe(g))))
  assert rebuilt == g
