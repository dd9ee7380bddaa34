"""StyleGAN2's layers against numpy, its regularizers against float64 numpy, lazy
regularization inside the compiled step, and the generator's truncation and style mixing."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import np_conv_same
from scipy import signal

from jaxgan import optim, penalties
from jaxgan.kinds import gan
from jaxgan.loss_pairs import loss_pair
from jaxgan.models import equalized, resample
from jaxgan.models import stylegan2 as sg2
from jaxgan.models.gan_layers import MinibatchStdDev

RNG = np.random.default_rng(0)


def small_generator(**kw):
  fields = dict(
    image_size=8,
    channels=2,
    z_dim=8,
    w_dim=8,
    mapping_layers=2,
    channel_base=64,
    channel_max=8,
  )
  return sg2.StyleGAN2Generator(**{**fields, **kw})


# ---------------------------------------------------------------------------
# numpy references
# ---------------------------------------------------------------------------


def np_upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
  """The authors' reference: zero insertion, pad, 2-D convolution with f⊗f, decimation."""
  b, h, w, c = x.shape
  big = np.zeros((b, h * up, w * up, c))
  big[:, ::up, ::up] = x
  left, right, top, bottom = pad
  big = np.pad(big, ((0, 0), (max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0)), (0, 0)))
  big = big[
    :, max(-top, 0) : big.shape[1] - max(-bottom, 0), max(-left, 0) : big.shape[2] - max(-right, 0)
  ]
  f = np.asarray(f, np.float64)
  kernel = np.outer(f, f) / f.sum() ** 2 * gain
  out = np.stack(
    [
      np.stack([signal.convolve2d(big[i, :, :, k], kernel, mode="valid") for k in range(c)], -1)
      for i in range(b)
    ]
  )
  return out[:, ::down, ::down]


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
  "up,down,pad,gain",
  [
    (2, 1, (2, 1, 2, 1), 4.0),
    (1, 2, (1, 1, 1, 1), 1.0),
    (1, 1, (2, 2, 2, 2), 1.0),
    (2, 1, (3, 2, 3, 2), 4.0),
    (1, 1, (-1, 2, 0, -1), 1.0),
  ],
)
def test_upfirdn2d_matches_direct_filtering(up, down, pad, gain):
  x = RNG.normal(size=(2, 6, 6, 3))
  ours = resample.upfirdn2d(jnp.asarray(x, jnp.float32), resample.FIR_FILTER, up, down, pad, gain)
  np.testing.assert_allclose(
    ours, np_upfirdn2d(x, resample.FIR_FILTER, up, down, pad, gain), atol=1e-5
  )


def test_fir_resampling_keeps_constants_inside_and_halves_or_doubles_the_size():
  x = jnp.ones((1, 8, 8, 1))
  up, down = resample.upsample2d(x), resample.downsample2d(x)
  assert up.shape == (1, 16, 16, 1) and down.shape == (1, 4, 4, 1)
  np.testing.assert_allclose(up[0, 2:-2, 2:-2], 1.0, atol=1e-6)
  np.testing.assert_allclose(down[0, 1:-1, 1:-1], 1.0, atol=1e-6)


def test_bilinear_upsampling_is_pytorchs_half_pixel_formula():
  x = RNG.normal(size=(1, 4, 5, 2)).astype(np.float32)

  def along(a, axis):  # 0.75 / 0.25 of the nearest two source pixels, edges clamped
    n = a.shape[axis]
    idx = np.arange(2 * n)
    src = (idx + 0.5) / 2 - 0.5
    lo = np.clip(np.floor(src).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    t = np.clip(src - np.floor(src), 0, 1)
    t = np.where(src < 0, 0.0, t)
    shape = [1] * a.ndim
    shape[axis] = -1
    return np.take(a, lo, axis) * (1 - t).reshape(shape) + np.take(a, hi, axis) * t.reshape(shape)

  np.testing.assert_allclose(
    resample.bilinear_upsample2d(jnp.asarray(x)), along(along(x, 1), 2), atol=1e-6
  )


def test_equalized_dense_scales_weights_and_bias_at_run_time():
  layer = equalized.EqualizedDense(5, lr_multiplier=0.01, bias_init=0.5)
  x = RNG.normal(size=(3, 7)).astype(np.float32)
  params = layer.init(jax.random.key(0), x)["params"]
  w, b = np.asarray(params["weight"], np.float64), np.asarray(params["bias"], np.float64)
  np.testing.assert_allclose(b, 0.5)
  assert 60 < np.std(w) < 140  # stored N(0, 1/lr_mul²)
  expected = x @ (w * 0.01 / math.sqrt(7)) + b * 0.01
  np.testing.assert_allclose(layer.apply({"params": params}, x), expected, rtol=1e-4, atol=1e-5)
  lrelu = equalized.EqualizedDense(5, activation="lrelu").apply({"params": params}, x)
  linear = x @ (w / math.sqrt(7)) + b
  np.testing.assert_allclose(
    lrelu, np.where(linear > 0, linear, 0.2 * linear) * math.sqrt(2), rtol=1e-4, atol=1e-5
  )


def test_equalized_conv_and_its_down_sampling_form():
  x = RNG.normal(size=(2, 8, 8, 3)).astype(np.float32)
  layer = equalized.EqualizedConv(4, 3, activation=None)
  params = layer.init(jax.random.key(0), x)["params"]
  w = np.asarray(params["weight"], np.float64) / math.sqrt(27)
  np.testing.assert_allclose(layer.apply({"params": params}, x), np_conv_same(x, w), atol=1e-4)
  down = equalized.EqualizedConv(4, 3, activation=None, down=2).apply({"params": params}, x)
  # The authors' order: blur with [1,3,3,1] (padding 2 each side), then the stride-2 conv.
  blurred = np_upfirdn2d(x, resample.FIR_FILTER, pad=(2, 2, 2, 2))
  full = sum(
    np.einsum("bhwc,co->bhwo", blurred[:, i : i + 7, j : j + 7], w[i, j])
    for i in range(3)
    for j in range(3)
  )
  np.testing.assert_allclose(down, full[:, ::2, ::2], atol=1e-4)


def test_pixel_norm():
  x = RNG.normal(size=(4, 6)).astype(np.float32) * 3
  expected = x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)
  np.testing.assert_allclose(equalized.normalize_2nd_moment(jnp.asarray(x)), expected, rtol=1e-5)


def test_minibatch_stddev_with_feature_groups_is_the_authors_formula():
  x = RNG.normal(size=(8, 3, 3, 6)).astype(np.float32)
  out = np.asarray(MinibatchStdDev(group_size=4, num_features=2).apply({}, jnp.asarray(x)))
  # The authors' MinibatchStdLayer in NCHW: reshape(G, -1, F, c, H, W).
  t = x.transpose(0, 3, 1, 2).astype(np.float64).reshape(4, 2, 2, 3, 3, 3)
  y = np.sqrt(((t - t.mean(0)) ** 2).mean(0) + 1e-8).mean(axis=(2, 3, 4))  # [2 (n), 2 (F)]
  y = np.tile(y, (4, 1))  # example i has the statistic of group i mod 2
  assert out.shape == (8, 3, 3, 8)
  np.testing.assert_allclose(out[..., :6], x)
  np.testing.assert_allclose(out[:, 1, 2, 6:], y, rtol=1e-5)


@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_forms_agree_with_numpy(up):
  x = RNG.normal(size=(3, 4, 4, 5)).astype(np.float32)
  w = RNG.normal(size=(3, 3, 5, 6)).astype(np.float32)
  s = RNG.normal(size=(3, 5)).astype(np.float32) + 1
  fused = sg2.modulated_conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(s), up=up, grouped=True)
  split = sg2.modulated_conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(s), up=up)
  np.testing.assert_allclose(fused, split, rtol=1e-4, atol=1e-4)
  if up == 1:  # eq. 1–3 in float64, one example at a time
    for b in range(3):
      wb = w.astype(np.float64) * s[b][None, None, :, None]
      wb = wb / np.sqrt((wb**2).sum(axis=(0, 1, 2), keepdims=True) + 1e-8)
      np.testing.assert_allclose(split[b], np_conv_same(x[b : b + 1], wb)[0], atol=1e-4)


def test_demodulated_weights_have_unit_norm_per_output():
  w = jnp.asarray(RNG.normal(size=(3, 3, 4, 2)), jnp.float32)
  s = jnp.asarray(RNG.normal(size=(5, 4)), jnp.float32)
  d = sg2.demodulation(w, s)
  norms = jnp.sum((w[None] * s[:, None, None, :, None] * d[:, None, None, None, :]) ** 2, (1, 2, 3))
  np.testing.assert_allclose(norms, 1.0, rtol=1e-4)


def test_noise_strength_starts_at_zero_and_noise_changes_outputs_when_it_is_not():
  G = small_generator()
  z = jnp.asarray(RNG.normal(size=(2, 8)), jnp.float32)
  variables = G.init({"params": jax.random.key(0)}, z, train=False)
  rngs = lambda k: {"noise": jax.random.key(k)}  # noqa: E731
  a = G.apply(variables, z, train=False, rngs=rngs(1))
  b = G.apply(variables, z, train=False, rngs=rngs(2))
  np.testing.assert_allclose(a, b)  # strengths are 0 at init
  params = jax.tree_util.tree_map_with_path(
    lambda p, v: v + 1.0 if "noise_strength" in jax.tree_util.keystr(p) else v, variables["params"]
  )
  a = G.apply({**variables, "params": params}, z, train=False, rngs=rngs(1))
  b = G.apply({**variables, "params": params}, z, train=False, rngs=rngs(2))
  const = G.apply({**variables, "params": params}, z, train=False)
  assert np.abs(a - b).max() > 1e-3
  np.testing.assert_allclose(const, G.apply({**variables, "params": params}, z, train=False))


# ---------------------------------------------------------------------------
# Mapping, w̄, truncation, style mixing
# ---------------------------------------------------------------------------


def test_w_avg_is_an_ema_of_the_batch_mean_w():
  G = small_generator(w_avg_beta=0.9)
  z = jnp.asarray(RNG.normal(size=(4, 8)), jnp.float32)
  variables = G.init({"params": jax.random.key(0)}, z, train=False)
  ws, updates = G.apply(variables, z, train=True, method=G.mapping, mutable=["w_avg"])
  mean = np.asarray(ws[:, 0]).mean(0)
  np.testing.assert_allclose(updates["w_avg"]["mapping_network"]["w_avg"], 0.1 * mean, rtol=1e-5)


def test_psi_zero_gives_g_of_w_avg_and_the_cutoff_limits_truncation():
  G = small_generator()
  z = jnp.asarray(RNG.normal(size=(3, 8)), jnp.float32)
  variables = G.init({"params": jax.random.key(0)}, z, train=False)
  w_avg = jnp.asarray(RNG.normal(size=(8,)), jnp.float32)
  variables = {**variables, "w_avg": {"mapping_network": {"w_avg": w_avg}}}
  ws = G.apply(variables, z, truncation_psi=0.0, method=G.mapping)
  np.testing.assert_allclose(ws, jnp.broadcast_to(w_avg, ws.shape), atol=1e-6)
  images = G.apply(variables, ws, method=G.synthesis)
  at_average = G.apply(variables, jnp.broadcast_to(w_avg, ws.shape), method=G.synthesis)
  np.testing.assert_allclose(images, at_average, atol=1e-5)
  raw = G.apply(variables, z, method=G.mapping)
  cut = G.apply(variables, z, truncation_psi=0.5, truncation_cutoff=2, method=G.mapping)
  np.testing.assert_allclose(cut[:, :2], w_avg + 0.5 * (raw[:, :2] - w_avg), atol=1e-6)
  np.testing.assert_allclose(cut[:, 2:], raw[:, 2:])
  with pytest.raises(ValueError, match="beyond"):
    G.apply(variables, z, truncation_psi=0.5, truncation_cutoff=G.num_ws + 1, method=G.mapping)


def test_style_mixing_switches_at_the_cutoff_layer():
  a, b = jnp.zeros((2, 6, 3)), jnp.ones((2, 6, 3))
  mixed = sg2.mix_styles(a, b, jnp.int32(4))
  np.testing.assert_allclose(mixed[:, :4], 0.0)
  np.testing.assert_allclose(mixed[:, 4:], 1.0)
  G = small_generator(style_mixing_prob=1.0)
  z = jnp.asarray(RNG.normal(size=(2, 8)), jnp.float32)
  variables = G.init({"params": jax.random.key(0)}, z, train=False)
  ws = G.apply(variables, z, method=G.mapping)
  mixed = G.apply(variables, z, ws, method=G.mixed_styles, rngs={"mixing": jax.random.key(3)})
  same = np.all(np.isclose(mixed, ws), axis=(0, 2))  # per layer
  cutoff = int(np.argmin(same))
  assert 1 <= cutoff < G.num_ws and same[:cutoff].all() and not same[cutoff:].any()


def test_image_sizes_must_be_powers_of_two_of_at_least_4():
  assert sg2.num_ws(16) == 6 and sg2.resolutions(16) == [4, 8, 16]
  for size in (2, 12, 0):
    with pytest.raises(ValueError, match="power-of-two"):
      sg2.check_image_size(size)


# ---------------------------------------------------------------------------
# Regularizers
# ---------------------------------------------------------------------------


def test_path_lengths_and_penalty_against_float64_numpy():
  A = RNG.normal(size=(3, 4, 4, 2, 5))  # a linear "synthesis": images[b] = Σ_l A[l] · ws[b, l]
  ws = RNG.normal(size=(6, 3, 5))

  def synthesis(w):
    return jnp.einsum("lhwcf,blf->bhwc", jnp.asarray(A, jnp.float32), w)

  key = jax.random.key(7)
  lengths = penalties.path_lengths(synthesis, jnp.asarray(ws, jnp.float32), key)
  y = np.asarray(jax.random.normal(key, (6, 4, 4, 2)), np.float64) / 4.0  # / √(H·W)
  grads = np.einsum("lhwcf,bhwc->blf", A, y)  # J_wᵀ y
  expected = np.sqrt((grads**2).sum(2).mean(1))
  np.testing.assert_allclose(lengths, expected, rtol=1e-4)
  penalty, mean = penalties.path_length_penalty(lengths, jnp.float32(0.5), 0.01)
  new_mean = 0.5 + 0.01 * (expected.mean() - 0.5)
  np.testing.assert_allclose(mean, new_mean, rtol=1e-5)
  np.testing.assert_allclose(penalty, ((expected - new_mean) ** 2).mean(), rtol=1e-4)


def test_lazy_adam_and_ema_half_life():
  assert optim.lazy_ratio(16) == pytest.approx(16 / 17) and optim.lazy_ratio(1) == 1.0
  grads = {"w": jnp.ones(3)}
  params = {"w": jnp.zeros(3)}
  lazy = optim.lazy_adam(1e-2, 0.0, 0.99, every=4)
  reference = optax.adam(1e-2 * 0.8, 0.0, 0.99**0.8, eps=1e-8)
  a, _ = lazy.update(grads, lazy.init(params), params)
  b, _ = reference.update(grads, reference.init(params), params)
  np.testing.assert_allclose(a["w"], b["w"])
  beta = optim.ema_decay_for_half_life(10_000, 32)
  assert beta ** (10_000 / 32) == pytest.approx(0.5)


def lazy_spec(every: int, d_every=None):
  """A 2-D MLP GAN with a lazy R1 on D and a lazy stateful counter on G."""
  from jaxgan import models

  def counter(inputs):  # state counts the applications; value pulls G's params to 0
    value = sum(jnp.sum(p**2) for p in jax.tree.leaves(inputs.params))
    return value, inputs.state + 1

  return gan.GANSpec(
    generator=models.MLPGenerator(hidden_dims=(8,), output_shape=(2,)),
    discriminator=models.MLPDiscriminator(hidden_dims=(8,)),
    latent_dim=2,
    loss=loss_pair("non_saturating"),
    generator_optimizer=optax.sgd(0.1),
    discriminator_optimizer=optax.sgd(0.1),
    discriminator_regularizers=(
      gan.Regularizer(
        "r1", 0.5, lambda i: penalties.r1_penalty(i.d_fn, i.real), every=d_every or every
      ),
    ),
    generator_regularizers=(
      gan.Regularizer("count", 0.01, counter, every=every, init=lambda: jnp.zeros([])),
    ),
  )


def test_lazy_regularizers_run_every_k_steps_inside_one_compiled_step():
  spec = lazy_spec(every=3)
  batch = {"x": jnp.asarray(RNG.normal(size=(1, 16, 2)), jnp.float32)}
  key = jax.random.key(0)
  state = gan.init_state(spec, key, batch)
  step = gan.make_train_step(spec, max_traces=1)  # recompiling would raise
  applied, r1 = [], []
  for _ in range(7):
    state, metrics = step(state, batch, key)
    applied.append((float(metrics["r1_applied"]), float(metrics["count_applied"])))
    r1.append(float(metrics["r1"]))
    assert bool(metrics["finite"])
  assert applied == [(1.0, 1.0), (0, 0), (0, 0), (1.0, 1.0), (0, 0), (0, 0), (1.0, 1.0)]
  assert r1[0] > 0 and r1[1] == r1[2] == r1[0] and r1[4] == r1[3] != r1[0]  # the last value
  assert float(state.regularizer_state["count"]) == 3.0


def test_a_lazy_step_is_the_main_update_then_k_times_the_weighted_regularizer_update():
  spec = lazy_spec(every=4)
  plain = lazy_spec(every=4)
  plain = dataclasses.replace(plain, discriminator_regularizers=())
  batch = {"x": jnp.asarray(RNG.normal(size=(1, 16, 2)), jnp.float32)}
  key = jax.random.key(0)
  state = gan.init_state(spec, key, batch)
  lazy_state, _ = gan.make_train_step(spec, donate=False)(state, batch, key)
  plain_state, _ = gan.make_train_step(plain, donate=False)(state, batch, key)
  # D after its main update (as without the regularizer), then SGD on 4 · 0.5 · R1.
  d = plain_state.discriminator

  def r1(params):
    def d_fn(x):
      return spec.discriminator.apply({"params": params}, x, train=True)

    return penalties.r1_penalty(d_fn, batch["x"][0])

  grads = jax.grad(r1)(d.params)
  expected = jax.tree.map(lambda p, g: p - 0.1 * 4 * 0.5 * g, d.params, grads)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
    lazy_state.discriminator.params,
    expected,
  )


# ---------------------------------------------------------------------------
# StyleGAN2 training steps, with ADA
# ---------------------------------------------------------------------------


def small_stylegan2_spec(augment=None):
  G = small_generator(channels=1)
  D = sg2.StyleGAN2Discriminator(image_size=8, channel_base=64, channel_max=8)
  return gan.GANSpec(
    generator=G,
    discriminator=D,
    latent_dim=8,
    loss=loss_pair("non_saturating"),
    generator_optimizer=optim.lazy_adam(2.5e-3, 0.0, 0.99, 1),
    discriminator_optimizer=optim.lazy_adam(2.5e-3, 0.0, 0.99, 2),
    discriminator_regularizers=(
      gan.Regularizer("r1", 0.5, lambda i: penalties.r1_penalty(i.d_fn, i.real), every=2),
    ),
    augment=augment,
  )


def test_stylegan2_trains_with_ada_and_keeps_p_in_the_state():
  from jaxgan import ada

  spec = small_stylegan2_spec(ada.adaptive_augmentation(target=-2.0, interval=1, speed_kimg=0.08))
  batch = {"x": jnp.asarray(RNG.uniform(-1, 1, (1, 8, 8, 8, 1)), jnp.float32)}
  key = jax.random.key(0)
  state = gan.init_state(spec, key, batch)
  step = gan.make_train_step(spec)
  ps = []
  for _ in range(3):
    state, metrics = step(state, batch, key)
    assert bool(metrics["finite"]) and float(metrics["g_grad_norm"]) > 0
    ps.append(float(state.augment_state["p"]))
  # r_t ≥ −1 > the target −2: p rises by 8 images / 80 each step
  np.testing.assert_allclose(ps, [0.1, 0.2, 0.3], atol=1e-6)
  assert set(state.generator.model_state) == {"w_avg", "noise_const"}
  assert (
    np.abs(np.asarray(state.generator.model_state["w_avg"]["mapping_network"]["w_avg"])).sum() > 0
  )


def test_the_discriminator_sees_real_and_fake_batches_apart():
  """Minibatch stddev must not mix real and fake examples: D(real) is the same with any fakes."""
  from jaxgan.step import discriminate_batches

  D = sg2.StyleGAN2Discriminator(image_size=8, channel_base=64, channel_max=8)
  real = jnp.asarray(RNG.normal(size=(4, 8, 8, 1)), jnp.float32)
  params = D.init(jax.random.key(0), real)["params"]
  a, _, _ = discriminate_batches(D, params, {}, real, jnp.zeros_like(real))
  b, _, _ = discriminate_batches(D, params, {}, real, jnp.ones_like(real) * 3)
  np.testing.assert_allclose(a["adv"], b["adv"])


def test_a_run_describes_and_rebuilds_its_stylegan2_networks_by_module():
  from jaxgan import models

  G = small_generator(resample="bilinear")
  description = models.describe(G)
  assert description["module"] == "jaxgan.models.stylegan2"
  assert models.build(description) == G  # no entry in jaxgan.models needed
