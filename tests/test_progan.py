"""Progressive GAN: its networks against numpy, the fade-in at α = 0 / ½ / 1, the schedule,
the data of each level, and training that grows, compiles once per level and resumes exactly."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import experiment_module, np_conv_same

from jaxgan import data, loop, runs
from jaxgan.errors import ConfigError
from jaxgan.kinds import progressive
from jaxgan.models import equalized, progan, resample

RNG = np.random.default_rng(0)
SQRT2 = math.sqrt(2.0)


def small_networks(image_size=16):
  G = progan.ProGANGenerator(image_size=image_size, channels=1, channel_base=128, channel_max=16)
  D = progan.ProGANDiscriminator(image_size=image_size, channel_base=128, channel_max=16)
  return G, D


def at_alpha(variables, alpha):
  return {**variables, progan.PROGRESS: {**variables[progan.PROGRESS], "alpha": jnp.float32(alpha)}}


# ---------------------------------------------------------------------------
# numpy references of the authors' networks.py (in NHWC)
# ---------------------------------------------------------------------------


def np_leaky(x):
  return np.where(x > 0, x, 0.2 * x)


def np_pixel_norm(x):
  return x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + 1e-8)


def np_conv(x, p, gain=SQRT2):
  """get_weight (He constant, use_wscale) + conv2d + apply_bias."""
  w = np.asarray(p["weight"], np.float64)
  k, c = w.shape[0], w.shape[2]
  return np_conv_same(x, w * gain / math.sqrt(k * k * c)) + np.asarray(p["bias"])


def np_upscale(x):
  return x.repeat(2, axis=1).repeat(2, axis=2)


def np_downscale(x):
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def np_generator(params, z, resolution, alpha):
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  x = np_pixel_norm(np.asarray(z, np.float64))
  c = p["b4_dense_bias"].shape[0]
  x = x @ (p["b4_dense"]["weight"] * (SQRT2 / 4) / math.sqrt(z.shape[1]))
  x = np_pixel_norm(np_leaky(x.reshape(-1, 4, 4, c) + p["b4_dense_bias"]))
  x = np_pixel_norm(np_leaky(np_conv(x, p["b4_conv"])))
  to_rgb = {4: np_conv(x, p["to_rgb_4"], gain=1.0)}
  r = 4
  while r < resolution:
    r *= 2
    x = np_pixel_norm(np_leaky(np_conv(np_upscale(x), p[f"b{r}_conv0"])))
    x = np_pixel_norm(np_leaky(np_conv(x, p[f"b{r}_conv1"])))
    to_rgb[r] = np_conv(x, p[f"to_rgb_{r}"], gain=1.0)
  if resolution == 4:
    return to_rgb[4]
  return (1 - alpha) * np_upscale(to_rgb[resolution // 2]) + alpha * to_rgb[resolution]


def np_minibatch_stddev(x, group=4):
  b = x.shape[0]
  y = x.reshape(group, b // group, *x.shape[1:])
  std = np.sqrt(((y - y.mean(0)) ** 2).mean(0) + 1e-8).mean(axis=(1, 2, 3))  # [b/group]
  stat = np.tile(std, group)[:, None, None, None] * np.ones((*x.shape[:3], 1))
  return np.concatenate([x, stat], axis=-1)


def np_discriminator(params, images, resolution, alpha):
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  x = np.asarray(images, np.float64)
  h = np_leaky(np_conv(x, p[f"from_rgb_{resolution}"]))
  r = resolution
  while r > 4:
    h = np_leaky(np_conv(h, p[f"b{r}_conv0"]))
    # conv2d_downscale2d: the convolution, the 2×2 box filter, then bias and activation
    conv = np_conv(h, {**p[f"b{r}_conv1"], "bias": 0.0})
    h = np_leaky(np_downscale(conv) + p[f"b{r}_conv1"]["bias"])
    if r == resolution:
      low = np_leaky(np_conv(np_downscale(x), p[f"from_rgb_{r // 2}"]))
      h = (1 - alpha) * low + alpha * h
    r //= 2
  h = np_leaky(np_conv(np_minibatch_stddev(h), p["b4_conv"]))
  h = h.reshape(h.shape[0], -1)
  d0, d1 = p["b4_dense0"], p["b4_dense1"]
  h = np_leaky(h @ (d0["weight"] * SQRT2 / math.sqrt(h.shape[1])) + d0["bias"])
  return (h @ (d1["weight"] / math.sqrt(h.shape[1])) + d1["bias"])[:, 0]


# ---------------------------------------------------------------------------
# Layers and networks
# ---------------------------------------------------------------------------


def test_nearest_upsampling_and_box_downsampling():
  x = RNG.normal(size=(2, 4, 4, 3)).astype(np.float32)
  np.testing.assert_array_equal(resample.nearest_upsample2d(jnp.asarray(x)), np_upscale(x))
  np.testing.assert_allclose(resample.average_pool2d(jnp.asarray(x)), np_downscale(x), rtol=1e-6)
  up4 = resample.nearest_upsample2d(jnp.asarray(x), 4)
  np.testing.assert_array_equal(up4, np_upscale(np_upscale(x)))


def test_equalized_layers_with_he_gain_and_without_bias():
  x = RNG.normal(size=(3, 6)).astype(np.float32)
  layer = equalized.EqualizedDense(4, weight_gain=SQRT2, activation="leaky", use_bias=False)
  params = layer.init(jax.random.key(0), x)["params"]
  assert set(params) == {"weight"}
  w = np.asarray(params["weight"], np.float64)
  np.testing.assert_allclose(
    layer.apply({"params": params}, x), np_leaky(x @ (w * SQRT2 / math.sqrt(6))), rtol=1e-5
  )
  images = RNG.normal(size=(2, 4, 4, 3)).astype(np.float32)
  conv = equalized.EqualizedConv(
    5, 3, activation="leaky", weight_gain=SQRT2, up=2, resample="nearest"
  )
  params = conv.init(jax.random.key(1), images)["params"]
  expected = np_leaky(np_conv(np_upscale(images), params))
  np.testing.assert_allclose(conv.apply({"params": params}, images), expected, atol=1e-5)


@pytest.mark.parametrize("resolution, alpha", [(4, 1.0), (8, 0.3), (16, 0.75), (16, 1.0)])
def test_generator_is_the_authors_network(resolution, alpha):
  G, _ = small_networks()
  z = RNG.normal(size=(4, 12)).astype(np.float32)
  variables = G.init(jax.random.key(0), z)
  ours = G.clone(resolution=resolution).apply(at_alpha(variables, alpha), z)
  assert ours.shape == (4, resolution, resolution, 1)
  expected = np_generator(variables["params"], z, resolution, alpha)
  np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("resolution, alpha", [(4, 1.0), (8, 0.3), (16, 0.75)])
def test_discriminator_is_the_authors_network(resolution, alpha):
  _, D = small_networks()
  variables = D.init(jax.random.key(1), jnp.zeros((8, 16, 16, 1)))
  images = RNG.normal(size=(8, resolution, resolution, 1)).astype(np.float32)
  ours = D.clone(resolution=resolution).apply(at_alpha(variables, alpha), images)
  expected = np_discriminator(variables["params"], images, resolution, alpha)
  np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_a_fade_in_at_alpha_0_and_1_is_the_lower_and_the_higher_network():
  G, D = small_networks()
  z = RNG.normal(size=(4, 12)).astype(np.float32)
  g_vars = G.init(jax.random.key(0), z)
  g16 = G.clone(resolution=16)
  lower = G.clone(resolution=8).apply(at_alpha(g_vars, 1.0), z)
  np.testing.assert_array_equal(
    g16.apply(at_alpha(g_vars, 0.0), z), resample.nearest_upsample2d(lower)
  )
  # at α = 1 the lower level's toRGB is out of the network
  params = g_vars["params"]
  changed = {
    **g_vars,
    "params": {**params, "to_rgb_8": jax.tree.map(lambda a: a + 1, params["to_rgb_8"])},
  }
  np.testing.assert_array_equal(
    g16.apply(at_alpha(g_vars, 1.0), z), g16.apply(at_alpha(changed, 1.0), z)
  )
  half = g16.apply(at_alpha(g_vars, 0.5), z)
  ends = (g16.apply(at_alpha(g_vars, 0.0), z) + g16.apply(at_alpha(g_vars, 1.0), z)) / 2
  np.testing.assert_allclose(half, ends, atol=1e-6)

  x = RNG.normal(size=(4, 16, 16, 1)).astype(np.float32)
  d_vars = D.init(jax.random.key(1), x)
  d16 = D.clone(resolution=16)
  lower = D.clone(resolution=8).apply(
    at_alpha(d_vars, 1.0), resample.average_pool2d(jnp.asarray(x))
  )
  np.testing.assert_allclose(d16.apply(at_alpha(d_vars, 0.0), x), lower, rtol=1e-6, atol=1e-6)
  params = d_vars["params"]
  changed = {
    **d_vars,
    "params": {**params, "from_rgb_8": jax.tree.map(lambda a: a + 1, params["from_rgb_8"])},
  }
  np.testing.assert_array_equal(
    d16.apply(at_alpha(d_vars, 1.0), x), d16.apply(at_alpha(changed, 1.0), x)
  )


def test_networks_refuse_levels_they_do_not_have():
  G, D = small_networks()
  with pytest.raises(ValueError, match="resolution 32 is not a level of a 16×16 network"):
    G.clone(resolution=32).init(jax.random.key(0), jnp.zeros((2, 12)))
  variables = D.init(jax.random.key(0), jnp.zeros((4, 16, 16, 1)))
  with pytest.raises(ValueError, match=r"at 8×8 takes \[B, 8, 8, C\]"):
    D.clone(resolution=8).apply(variables, jnp.zeros((4, 16, 16, 1)))


# ---------------------------------------------------------------------------
# The schedule and the data
# ---------------------------------------------------------------------------


def test_schedule_counts_phases_in_images_with_each_levels_batch():
  levels = progressive.make_schedule(16, (64, 32), fade_kimg=0.64, stable_kimg=1.28)
  assert levels == (
    progressive.Level(4, 64, 0, 0, 20),
    progressive.Level(8, 32, 20, 20, 40),
    progressive.Level(16, 32, 80, 20, None),
  )
  assert [progressive.level_at(levels, s).resolution for s in (0, 19, 20, 79, 80, 10**6)] == [
    4, 4, 8, 8, 16, 16,
  ]  # fmt: skip
  alphas = [float(progressive.fade_alpha(levels[1], jnp.int32(s))) for s in (20, 25, 39, 40, 70)]
  np.testing.assert_allclose(alphas, [0.0, 0.25, 0.95, 1.0, 1.0])
  assert float(progressive.fade_alpha(levels[0], jnp.int32(3))) == 1.0
  with pytest.raises(ConfigError, match="no level of the growth"):
    progressive.level_of(levels, 32)
  with pytest.raises(ConfigError, match="positive batch size"):
    progressive.make_schedule(16, (64, 0), 1, 1)


def test_reals_fade_like_the_generators_output():
  x = RNG.normal(size=(2, 3, 8, 8, 1)).astype(np.float32)
  low = np_upscale(np_downscale(x.reshape(6, 8, 8, 1))).reshape(x.shape)
  out = progressive.blend_reals(jnp.asarray(x), jnp.float32(0.25))
  np.testing.assert_allclose(out, 0.75 * low + 0.25 * x, rtol=1e-5, atol=1e-6)


def test_the_stream_serves_each_level_pooled_and_walks_the_data_in_order():
  dataset = data.get_dataset("digits", image_size=16)
  levels = progressive.make_schedule(16, (8, 4), fade_kimg=0.008, stable_kimg=0.008)
  stream = progressive.ProgressiveStream(dataset, levels, n_critic=1, seed=3)
  # 4×4: step 0 (batch 8); 8×8: steps 1–4 (batch 4: 2 fading, 2 stable); 16×16 from step 5
  shapes = [stream.local_batch_at(s)["x"].shape for s in (0, 1, 4, 5, 9)]
  assert shapes == [(1, 8, 4, 4, 1)] + [(1, 4, 8, 8, 1)] * 2 + [(1, 4, 16, 16, 1)] * 2
  # each step starts where the one before it ended, whatever the levels' batch sizes
  assert [stream.first_example(s) for s in (0, 1, 2, 5, 6)] == [0, 8, 12, 24, 28]
  positions = data.images.example_indices(3, len(dataset.source), 8, 4)
  images, _ = dataset.examples(positions)
  np.testing.assert_allclose(stream.local_batch_at(1)["x"][0], np_downscale(images), rtol=1e-6)
  assert [b["x"].shape[2] for b, _ in zip(stream.iterate(0), range(3), strict=False)] == [4, 8, 8]


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

progan_experiment = experiment_module("progan.py")


def tiny_config(workdir, num_steps, **kw):
  """8×8 digits: 4×4 for steps 0–1, 8×8 faded in over steps 2–3, stable from step 4."""
  settings = dict(
    workdir=str(workdir),
    image_size=8,
    num_steps=num_steps,
    batch_size=8,
    latent_dim=8,
    channel_base=32,
    channel_max=8,
    fade_kimg=0.016,
    stable_kimg=0.016,
    log_every=1,
    checkpoint_every=3,
    eval_every=num_steps,
    plot_every=num_steps,
    num_eval_samples=64,
    fid_features="none",
  )
  return progan_experiment.Config(**{**settings, **kw})


def train(config):
  dataset = data.get_dataset("digits", image_size=config.image_size)
  spec = progan_experiment.make_spec(config, dataset)
  run = progressive.make_trainer(spec, dataset, config, fid_features="none")
  return loop.run_training(run, config), run


def adam_counts(state):
  return [
    int(leaf)
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]
    if jax.tree_util.keystr(path).endswith("['count']")
  ]


def test_training_grows_compiles_once_per_level_and_resumes_mid_fade_exactly(tmp_path):
  results, run = train(tiny_config(tmp_path / "whole", 6))
  assert results["step"] == 6
  assert run.step._cache_size() == 2  # one program per level for 6 steps over 2 levels
  with open(tmp_path / "whole" / "metrics.jsonl") as f:
    records = [r for r in map(json.loads, f) if "d_loss" in r]
  assert [r["resolution"] for r in records] == [4, 4, 8, 8, 8, 8]
  np.testing.assert_allclose([r["alpha"] for r in records], [1, 1, 0, 0.5, 1, 1])
  state = runs.restore(str(tmp_path / "whole")).state
  progress = state["generator"]["model_state"]["progress"]
  assert int(progress["resolution"]) == 8 and float(progress["alpha"]) == 1.0
  # Adam's state was reset when the stabilization started (step 4): two updates since
  assert set(adam_counts(state["generator"]["opt_state"])) == {2}
  assert set(adam_counts(state["discriminator"]["opt_state"])) == {2}

  train(tiny_config(tmp_path / "resumed", 3))  # stopped mid-fade (α = 0.5 next)
  train(tiny_config(tmp_path / "resumed", 6))
  resumed = runs.restore(str(tmp_path / "resumed")).state
  jax.tree.map(np.testing.assert_array_equal, state, resumed)

  samples = runs.sample_run(str(tmp_path / "whole"), 16, seed=1)
  assert samples.shape == (16, 8, 8, 1) and np.all(np.isfinite(samples))


def test_a_run_stopped_at_4x4_samples_at_4x4_upsampled_to_the_data_size(tmp_path):
  train(tiny_config(tmp_path / "run", 2, checkpoint_every=2))
  config = runs.read_run_config(str(tmp_path / "run"))
  assert config["kind"] == "progressive" and len(config["schedule"]) == 2
  samples = runs.sample_run(str(tmp_path / "run"), 4, seed=0)
  assert samples.shape == (4, 8, 8, 1)
  np.testing.assert_array_equal(samples[:, ::2, ::2], samples[:, 1::2, 1::2])  # 2×2 blocks


def test_without_a_reset_adams_state_carries_across_levels(tmp_path):
  train(tiny_config(tmp_path / "run", 5, reset_optimizers=False))
  state = runs.restore(str(tmp_path / "run")).state
  assert set(adam_counts(state["generator"]["opt_state"])) == {5}


@pytest.mark.parametrize(
  "settings, message",
  [
    ({"image_size": 12}, "--image_size=12"),
    ({"batch_sizes": (8, 6)}, "batch size 6"),
    ({"batch_sizes": (8, 8, 8)}, "3 sizes for 2 levels"),
    ({"dataset": "ring8"}, "ring8 is a toy"),
    ({"fade_kimg": -1.0}, "--fade_kimg must be ≥ 0"),
  ],
)
def test_bad_settings_are_one_line_errors(tmp_path, settings, message):
  with pytest.raises(ConfigError, match=message):
    tiny_config(tmp_path, 2, **settings)
